import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { majorVersion, membersDigest, parseNodeOutput, parseNodeStatusSummary, withMembers } from '../../../shared/rabbitmq/operations';

// Each fixture is the stdout of a document run against a real RabbitMQ 3.10.8 node of the harness (4.0.5 where named).
const captured = (name: string) => readFileSync(join(__dirname, 'fixtures', name), 'utf8');

describe('parseNodeOutput on captured document outputs', () => {
  it('parses both lines of the status of a running member', () => {
    const status = parseNodeOutput('status', captured('NodeStatus.running.stdout'));

    expect(status.running).toBe(true);
    expect(status.members).toEqual({
      all: ['rabbit@ip-10-213-200-11', 'rabbit@ip-10-213-200-12'],
      running: ['rabbit@ip-10-213-200-11', 'rabbit@ip-10-213-200-12'],
    });
    expect(majorVersion(status.version)).toBe(3);
    expect(status).not.toHaveProperty('membersDigest');
  });

  it('parses the status of a 4.x member and of a stopped node', () => {
    const four = parseNodeOutput('status', captured('NodeStatus.running-4.0.5.stdout'));
    const stopped = parseNodeOutput('status', captured('NodeStatus.stopped.stdout'));

    expect(four).toMatchObject({ version: '4.0.5', defaultQueueType: 'classic', members: { running: ['rabbit@ip-10-213-77-11', 'rabbit@ip-10-213-77-12'] } });
    expect(stopped).toMatchObject({ running: false, members: { all: [], running: [] } });
  });

  it('reads line 1 alone as a summary: the membership as a digest and counts, however the rest was cut', () => {
    const stdout = captured('NodeStatus.running.stdout');
    const firstLine = stdout.split('\n')[0]!;

    const summary = parseNodeStatusSummary(`${firstLine}\n{"members":{"all":["rabbit@ip-10-2`);

    expect(summary).toMatchObject({ node: 'rabbit@ip-10-213-200-11', running: true, memberCounts: { all: 2, running: 2 } });
    expect(summary).not.toHaveProperty('members');
    expect(summary.membersDigest).toBe(membersDigest(parseNodeOutput('status', stdout).members));
    expect(() => parseNodeStatusSummary(firstLine.slice(0, 120))).toThrow();
  });

  it('digests a membership the way NodeStatus does, whatever the order', () => {
    const view = { all: ['rabbit@ip-10-213-200-12', 'rabbit@ip-10-213-200-11'], running: ['rabbit@ip-10-213-200-11', 'rabbit@ip-10-213-200-12'] };

    expect(membersDigest(view)).toBe(parseNodeStatusSummary(captured('NodeStatus.running.stdout')).membersDigest);
    // the empty view, as sha256sum prints it for {"all":[],"running":[]}
    expect(membersDigest({ all: [], running: [] })).toBe(parseNodeStatusSummary(captured('NodeStatus.stopped.stdout')).membersDigest);
  });

  it('completes a summary only with the membership it digested', () => {
    const summary = parseNodeStatusSummary(captured('NodeStatus.running.stdout'));
    const view = { all: ['rabbit@ip-10-213-200-11', 'rabbit@ip-10-213-200-12'], running: ['rabbit@ip-10-213-200-11', 'rabbit@ip-10-213-200-12'] };

    expect(withMembers(summary, view)).toMatchObject({ node: summary.node, members: view });
    expect(() => withMembers(summary, { all: view.all, running: view.running.slice(0, 1) })).toThrow(/digest/);
  });

  it('rejects a status whose line 2 is not the membership line 1 digested, or is missing', () => {
    const [first] = captured('NodeStatus.running.stdout').split('\n');

    expect(() => parseNodeOutput('status', `${first}\n{"members":{"all":["rabbit@ip-10-213-200-11"],"running":[]}}\n`)).toThrow(/digest/);
    expect(() => parseNodeOutput('status', `${first}\n`)).toThrow();
  });

  it('tells a refused leave from a completed one', () => {
    const refused = parseNodeOutput('leave', captured('NodeLeave.refused.stdout'));
    const left = parseNodeOutput('leave', captured('NodeLeave.left.stdout'));

    expect(refused.left === false && refused.reason).toBe('quorum-critical');
    expect(left.left === true && left.quorumShrunk).toBe(1);
  });

  it('takes the last line when agent noise precedes the JSON', () => {
    const stdout = `Setting policy...\n${captured('NodeApplyPolicy.unchanged.stdout')}`;

    expect(parseNodeOutput('applyPolicy', stdout).policy).toBe('unchanged');
  });

  it('parses forget and drain outputs', () => {
    expect(parseNodeOutput('forget', captured('NodeForget.forgotten.stdout')).result).toBe('forgotten');
    expect(parseNodeOutput('drain', captured('NodeDrain.stdout')).drained).toBe(true);
  });

  it('reads a node that pause_minority paused, and a status from a document older than the paused field', () => {
    const paused = parseNodeOutput('status', captured('NodeStatus.paused.stdout'));
    // captured before NodeStatus reported the field
    const stopped = parseNodeOutput('status', captured('NodeStatus.stopped.stdout'));

    expect(paused).toMatchObject({ running: false, paused: true, members: { all: [], running: [] } });
    expect(stopped.paused).toBe(false);
  });

  it('parses a restart into the winning side and a refused one', () => {
    const restarted = parseNodeOutput('restart', captured('NodeRestart.restarted.stdout'));
    const refused = parseNodeOutput('restart', captured('NodeRestart.refused.stdout'));

    expect(restarted).toMatchObject({ step: 'restart', done: true, running: true, partitions: {} });
    expect(restarted.done && restarted.members.running).toHaveLength(3);
    expect(refused).toMatchObject({ done: false, reason: 'no-survivor-running' });
  });

  it('rejects output cut off by the SSM limit', () => {
    const stdout = captured('NodeStatus.running.stdout');

    expect(() => parseNodeOutput('status', stdout.slice(0, 80))).toThrow();
    expect(() => parseNodeOutput('status', stdout.slice(0, stdout.length - 30))).toThrow();
  });
});
