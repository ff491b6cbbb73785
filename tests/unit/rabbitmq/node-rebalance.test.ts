import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDocument, parameterEnvironment } from '../../../infra/sandbox/nodes/documents';
import { parseNodeOutput } from '../../../shared/rabbitmq/operations';

/*
 * NodeRebalance's own part, around the one `rabbitmqctl eval` (which real nodes run in
 * tests/integration/node-rebalance.test.ts): what it makes of the eval's answer. The CLI is a stand-in
 * that prints a given answer, then the "ok" eval prints after it.
 */
describe('NodeRebalance reads the rebalance answer', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'warren-rebalance-'));
    mkdirSync(join(dir, 'bin'));
    const tool = (name: string, body: string) => {
      writeFileSync(join(dir, 'bin', name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(dir, 'bin', name), 0o755);
    };
    tool('rabbitmq-diagnostics', 'exit "${FAKE_APP_STATUS:-0}"');
    tool('rabbitmqctl', 'printf \'%s\\nok\\n\' "$FAKE_ANSWER"; exit "${FAKE_CLI_STATUS:-0}"');
    writeFileSync(join(dir, 'NodeRebalance.sh'), loadDocument('NodeRebalance').script);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function run(answer: string, env: Record<string, string> = {}) {
    return spawnSync('bash', [join(dir, 'NodeRebalance.sh')], {
      encoding: 'utf8',
      timeout: 10_000,
      env: {
        PATH: `${join(dir, 'bin')}:/usr/bin:/bin`,
        RABBITMQ_NODENAME: 'rabbit@ip-10-0-1-5',
        FAKE_ANSWER: answer,
        ...parameterEnvironment(loadDocument('NodeRebalance'), { TimeoutSeconds: '30' }),
        ...env,
      },
    });
  }

  it('reports the leaders per node before and after, and how many left their node', () => {
    const a = 'rabbit@ip-10-0-1-5';
    const b = 'rabbit@ip-10-0-1-6';
    const c = 'rabbit@ip-10-0-1-7';
    const done = run(JSON.stringify({ b: { [a]: 7, [b]: 2 }, a: { [a]: 3, [b]: 3, [c]: 3 } }));

    expect(done.status).toBe(0);
    expect(parseNodeOutput('rebalance', done.stdout)).toEqual({
      node: a,
      rebalanced: true,
      moved: 4,
      before: { [a]: 7, [b]: 2 },
      after: { [a]: 3, [b]: 3, [c]: 3 },
    });
  });

  it('reports a cluster without quorum queues as rebalanced, nothing moved', () => {
    const done = run('{"b":{},"a":{}}');

    expect(parseNodeOutput('rebalance', done.stdout)).toMatchObject({ rebalanced: true, moved: 0, before: {}, after: {} });
  });

  it("answers in-progress, exit 0, while another rebalance holds RabbitMQ's lock", () => {
    const done = run('{"error":"{error,rebalance_in_progress}"}');

    expect(done.status).toBe(0);
    expect(parseNodeOutput('rebalance', done.stdout)).toMatchObject({ rebalanced: false, reason: 'in-progress' });
  });

  it.each([
    ['an error of the rebalance', '{"error":"{badrpc,nodedown}"}', {}, /rebalance failed: .*badrpc/],
    ['a CLI that fails', 'Error: unable to perform an operation on node', { FAKE_CLI_STATUS: '69' }, /rebalance failed \(status 69\)/],
    ['no JSON at all', 'Error: something else', {}, /printed no answer/],
    ['a node whose app is stopped', '{}', { FAKE_APP_STATUS: '1' }, /the app does not run on rabbit@ip-10-0-1-5/],
  ])('fails on %s, naming it on stderr', (_, answer, env, reason) => {
    const failed = run(answer, env);

    expect(failed.status).not.toBe(0);
    expect(failed.stdout).toBe('');
    expect(failed.stderr).toMatch(reason);
  });
});
