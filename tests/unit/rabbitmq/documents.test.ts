import { readdirSync } from 'node:fs';
import {
  InvalidDocumentParameters,
  SSM_DOCUMENT_DIR,
  loadDocument,
  parameterEnvironment,
  truncateLikeSsm,
} from '../../../infra/sandbox/nodes/documents';
import { NODE_OPERATIONS } from '../../../shared/rabbitmq/operations';

const documents = Object.values(NODE_OPERATIONS).map((op) => op.document);

describe('SSM documents', () => {
  it('exist exactly once per node operation', () => {
    const files = readdirSync(SSM_DOCUMENT_DIR).filter((f) => f.endsWith('.yml')).map((f) => f.replace(/\.yml$/, ''));

    expect(files.sort()).toEqual([...documents].sort());
  });

  it.each(documents)('%s reads parameters only from SSM_ variables', (name) => {
    const document = loadDocument(name);

    expect(document.script).not.toMatch(/\{\{/);
    expect(document.script).toMatch(/^#!\/bin\/bash\n/);
    expect(document.script).toContain('set -euo pipefail');
    for (const parameter of Object.keys(document.parameters)) expect(document.script).toContain(`$SSM_${parameter}`);
  });
});

describe('parameterEnvironment', () => {
  it('exports every parameter as SSM_<Name>, with defaults applied', () => {
    const env = parameterEnvironment(loadDocument('NodeJoin'), { Peers: 'rabbit@ip-10-0-1-5,rabbit@ip-10-0-1-6' });

    expect(env).toMatchObject({
      SSM_Peers: 'rabbit@ip-10-0-1-5,rabbit@ip-10-0-1-6',
      SSM_PolicyName: '',
      SSM_GrowQuorum: 'true',
      SSM_TimeoutSeconds: '300',
    });
  });

  it.each([
    ['NodeForget', { NodeName: 'rabbit@x; touch /tmp/pwned' }],
    ['NodeForget', { NodeName: 'rabbit@x\nid' }],
    ['NodeJoin', { Peers: 'rabbit@a,$(id)@b' }],
    ['NodeJoin', { Peers: 'rabbit@a', PolicyDefinition: '{"ha-mode":"`id`"}' }],
    ['NodeJoin', { Peers: 'rabbit@a', PolicyDefinition: '{"a":"b"};id' }],
    ['NodeLeave', { Drain: 'yes' }],
    ['NodeJoin', { Peers: 'rabbit@a', PolicyPriority: '007' }],
    ['NodeRestart', { Survivors: 'rabbit@a;reboot' }],
    ['NodeRestart', { Survivors: 'rabbit@a', Step: 'reset' }],
    ['NodeRestart', { Survivors: 'rabbit@a', TimeoutSeconds: '0' }],
    ['NodeRestart', {}],
  ])('%s refuses %j', (name, values) => {
    expect(() => parameterEnvironment(loadDocument(name), values)).toThrow(InvalidDocumentParameters);
  });

  it('exports NodeRestart\'s survivors with a restart of both halves by default', () => {
    const env = parameterEnvironment(loadDocument('NodeRestart'), { Survivors: 'rabbit@ip-10-0-1-5,rabbit@ip-10-0-1-6' });

    expect(env).toMatchObject({ SSM_Survivors: 'rabbit@ip-10-0-1-5,rabbit@ip-10-0-1-6', SSM_Step: 'restart', SSM_TimeoutSeconds: '300' });
  });

  it('refuses a missing required parameter and an unknown one', () => {
    const attempt = () => parameterEnvironment(loadDocument('NodeForget'), { Node: 'rabbit@a' });

    expect(attempt).toThrow(/Node is not a parameter.*NodeName is required/);
  });
});

describe('truncateLikeSsm', () => {
  it('keeps 24,000 characters of stdout and 8,000 of stderr', () => {
    const kept = truncateLikeSsm({ stdout: 'o'.repeat(30_000), stderr: 'e'.repeat(9_000) });

    expect([kept.stdout.length, kept.stderr.length]).toEqual([24_000, 8_000]);
  });
});
