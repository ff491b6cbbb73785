import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidDocumentParameters, SSM_DOCUMENT_DIR, loadDocument, parameterEnvironment, truncateLikeSsm } from '../../../infra/sandbox/nodes/documents';
import { OPENING_MARKER } from '../../../infra/deploy/ssm-documents';
import { NODE_OPERATIONS } from '../../../shared/rabbitmq/operations';

const documents = Object.values(NODE_OPERATIONS).map((op) => op.document);
/** A document's script as written: infra/ssm/<Document>.sh, the file its YAML names. */
const scriptSource = (name: string) => {
  const { parse } = jest.requireActual<typeof import('yaml')>('yaml');
  const yaml = parse(readFileSync(join(SSM_DOCUMENT_DIR, `${name}.yml`), 'utf8')) as { mainSteps: Array<{ inputs: { runCommand: string[] } }> };
  expect(yaml.mainSteps.map((step) => step.inputs.runCommand)).toEqual([[`${name}.sh`]]);
  return readFileSync(join(SSM_DOCUMENT_DIR, `${name}.sh`), 'utf8');
};

describe('SSM documents', () => {
  it('exist exactly once per node operation', () => {
    const files = readdirSync(SSM_DOCUMENT_DIR)
      .filter((f) => f.endsWith('.yml'))
      .map((f) => f.replace(/\.yml$/, ''));

    expect(files.sort()).toEqual([...documents].sort());
  });

  it.each(documents)(
    '%s has no here-document, no line continuation glued to the next line and no code line starting with #: the template strips indentation and comment lines',
    (name) => {
      const source = scriptSource(name);

      expect(source).not.toMatch(/<<-?\s*['"]?[A-Za-z_]/);
      // a line starting with # is dropped as a comment: only "# ..." is one (Erlang's #{...} at a line start would vanish)
      expect(source.split('\n').filter((line) => /^\s*#[^\s!]/.test(line))).toEqual([]);
      expect(source).not.toMatch(/[^\s\\]\\\n/);
    },
  );

  it('the shared opening keeps the same rules, and every script has its marker once, right after the shebang', () => {
    const opening = readFileSync(join(SSM_DOCUMENT_DIR, 'opening.sh'), 'utf8');
    expect(opening).not.toMatch(/<<-?\s*['"]?[A-Za-z_]/);
    expect(opening.split('\n').filter((line) => /^\s*#[^\s!]/.test(line))).toEqual([]);
    expect(opening).not.toMatch(/[^\s\\]\\\n/);
    for (const name of documents) {
      const source = scriptSource(name);
      expect(source.split('\n').slice(0, 2)).toEqual(['#!/bin/bash', OPENING_MARKER]);
      expect(source.split(OPENING_MARKER)).toHaveLength(2);
    }
  });

  it.each(documents)('%s reads parameters only from SSM_ variables', (name) => {
    const document = loadDocument(name);

    expect(document.script).not.toMatch(/\{\{/);
    expect(document.script).toMatch(/^#!\/bin\/bash\n/);
    expect(document.script).toContain('set -euo pipefail');
    for (const parameter of Object.keys(document.parameters)) expect(document.script).toContain(`$SSM_${parameter}`);
  });
});

/*
 * An SSM agent before 3.3.2746.0 has no ENV_VAR interpolation and exports no SSM_ variable at all; under
 * `set -u` the script then died on "unbound variable" somewhere in the middle. Each script first checks
 * that every parameter of its document is set and otherwise says what is missing and why. No default is
 * filled in: on an old agent every value the caller sent is missing, and a default in its place would
 * silently do something else (NodeApplyPolicy would apply no policy and report success).
 */
describe('SSM documents on an agent without ENV_VAR interpolation', () => {
  const withParameters = documents.filter((name) => Object.keys(loadDocument(name).parameters).length > 0);
  const REQUIRED = 'rabbit@ip-10-0-1-5';
  const RABBITMQ_TOOLS = [
    'rabbitmqctl',
    'rabbitmq-diagnostics',
    'rabbitmq-queues',
    'rabbitmq-upgrade',
    'rabbitmq-server',
    'rabbitmq-plugins',
    'systemctl',
    'service',
  ];
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'warren-documents-'));
    // stand-ins that record any call: the scripts must stop before they touch a node (or this host's RabbitMQ)
    mkdirSync(join(dir, 'bin'));
    for (const tool of RABBITMQ_TOOLS) {
      writeFileSync(join(dir, 'bin', tool), `#!/bin/sh\necho "${tool} $*" >> "${join(dir, 'calls')}"\nexit 1\n`);
      chmodSync(join(dir, 'bin', tool), 0o755);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the document's script like the agent (bash, SSM_ variables exported), with some of them missing. */
  function runWithout(name: string, missing: (variable: string) => boolean) {
    const document = loadDocument(name);
    const required = Object.fromEntries(
      Object.entries(document.parameters)
        .filter(([, p]) => p.default === undefined)
        .map(([n]) => [n, REQUIRED]),
    );
    const ssm = Object.entries(parameterEnvironment(document, required)).filter(([variable]) => !missing(variable));
    const script = join(dir, `${name}.sh`);
    writeFileSync(script, document.script);
    writeFileSync(join(dir, 'calls'), '');
    const run = spawnSync('bash', [script], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 10_000,
      env: {
        PATH: `${join(dir, 'bin')}:/usr/bin:/bin`,
        HOME: dir,
        RABBITMQ_NODENAME: 'rabbit@nowhere',
        RABBITMQ_CONFIG_FILES: join(dir, 'conf.d'),
        RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
        ...Object.fromEntries(ssm),
      },
    });
    return { ...run, calls: readFileSync(join(dir, 'calls'), 'utf8') };
  }

  it('covers every document that has parameters', () => {
    expect(withParameters.sort()).toEqual(['NodeApplyPolicy', 'NodeForget', 'NodeJoin', 'NodeLeave', 'NodeRebalance', 'NodeRecover', 'NodeRestart']);
  });

  it.each(withParameters.flatMap((name) => Object.keys(loadDocument(name).parameters).map((parameter) => [name, parameter])))(
    '%s with SSM_%s unset fails at once, naming it and the agent version it needs',
    (name, parameter) => {
      const run = runWithout(name, (variable) => variable === `SSM_${parameter}`);

      expect(run.stderr).toBe(`${name}: SSM_${parameter} is not set: ENV_VAR parameters need SSM agent 3.3.2746.0 or later\n`);
      expect(run.status).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.calls).toBe('');
    },
  );

  it.each(withParameters)('%s with no SSM_ variable at all (an old agent) names the first parameter, not "unbound variable"', (name) => {
    const run = runWithout(name, () => true);
    const [first] = Object.keys(loadDocument(name).parameters);

    expect(run.stderr).not.toMatch(/unbound variable/);
    expect(run.stderr).toMatch(new RegExp(`^${name}: SSM_${first} is not set: `));
    expect(run.status).toBe(1);
    expect(run.calls).toBe('');
  });

  it.each(withParameters)('%s checks its parameters, all of them, before it reads any', (name) => {
    const document = loadDocument(name);
    const lines = document.script.split('\n');
    const guard = lines.findIndex((line) => /^for p in .*; do \[ -v "SSM_\$p" \]/.test(line));
    const firstRead = lines.findIndex((line, index) => index !== guard && /\$\{?SSM_/.test(line));

    // the build writes the list from the document's own parameters, ahead of the shared opening's guard
    const listed = lines.findIndex((line) => line.startsWith(`doc=${name} params=`));
    expect(listed).toBe(1);
    expect(
      lines[listed]!.match(/params="([^"]*)"$/)![1]!
        .split(' ')
        .sort(),
    ).toEqual(Object.keys(document.parameters).sort());
    expect(lines[guard]).toMatch(/^for p in \$params; /);
    expect(guard).toBeGreaterThan(listed);
    expect(firstRead).toBeGreaterThan(guard);
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

  it("exports NodeRestart's survivors with a restart of both halves by default", () => {
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
