import { createObservability } from '../../shared/observability';
import { answerLambda, type Wiring } from '../../shared/workflows/invocation';
import type { EventKind } from '../../shared/events/types';
import { loadFixture } from '../events/load';
import { GROUP } from '../support/config';
import { FakeCloud } from '../support/fake-cloud';

const HEAL: EventKind[] = ['launch', 'terminate', 'gone', 'interruption', 'reconcile'];
const NEW_ID = 'i-0aaaaaaaaaaaaaaa1';

/** Built inside the capture: the Powertools logger takes hold of stdout when it is created. */
const wire =
  (cloud: FakeCloud, accepts: EventKind[] = HEAL) =>
  (): Wiring => {
    const { log: _log, deadline: _deadline, ...ports } = cloud.deps();
    return { ...ports, telemetry: createObservability('rabbit', {}), accepts };
  };

const sqsBatch = (...bodies: string[]) => ({
  Records: bodies.map((body, i) => ({ messageId: `m-${i}`, eventSource: 'aws:sqs', body })),
});

function launchFor(instanceId: string, group = GROUP, at = Date.UTC(2024, 0, 1)) {
  const event = loadFixture('asg-launch-lifecycle-action');
  event.time = new Date(at).toISOString();
  event.detail.EC2InstanceId = instanceId;
  event.detail.AutoScalingGroupName = group;
  event.detail.LifecycleHookName = 'warren-launch';
  return event;
}

/** Runs `act` with stdout and stderr captured (Powertools writes warnings and errors to stderr). */
async function captured<T>(
  act: (wiring: Wiring) => Promise<T>,
  wiring: () => Wiring,
): Promise<{ result?: T; error?: unknown; lines: Array<Record<string, any>> }> {
  const chunks: string[] = [];
  const keep = (chunk: string | Uint8Array) => {
    chunks.push(chunk.toString());
    return true;
  };
  const spies = [jest.spyOn(process.stdout, 'write').mockImplementation(keep), jest.spyOn(process.stderr, 'write').mockImplementation(keep)];
  try {
    return { result: await act(wiring()), lines: parse(chunks) };
  } catch (error) {
    return { error, lines: parse(chunks) };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}
const parse = (chunks: string[]) =>
  chunks
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));

/*
 * Malformed and foreign events (acknowledged, logged, nothing touched) are catalogued in
 * tests/unit/bad-input/; this file covers the invocation shell itself.
 */
describe('one invocation of a warren function', () => {
  const savedDevMode = process.env.POWERTOOLS_DEV;
  beforeAll(() => delete process.env.POWERTOOLS_DEV);
  afterAll(() => {
    if (savedDevMode !== undefined) process.env.POWERTOOLS_DEV = savedDevMode;
  });

  it('reports a failed record it cannot send on for retry, with an error log line carrying the event id', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.addLaunching(NEW_ID, 0);
    cloud.failCommand('i-a', 'status');

    const { result, lines } = await captured((w) => answerLambda(sqsBatch(JSON.stringify(launchFor(NEW_ID))), w, () => 600_000), wire(cloud));

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-0' }] });
    expect(cloud.actions.get(NEW_ID)!.state).toBe('open');
    expect(lines.find((l) => l.level === 'ERROR')).toMatchObject({
      message: 'event failed; it will be retried',
      correlation_id: '12345678-1234-1234-1234-123456789012',
    });
    expect(cloud.metric('HealFailures')).toBe(1);
  });

  it('runs a launch from the queue through to CONTINUE', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.addLaunching(NEW_ID, 0);

    const { result, error } = await captured((w) => answerLambda(sqsBatch(JSON.stringify(launchFor(NEW_ID))), w, () => 600_000), wire(cloud));

    expect(error).toBeUndefined();
    expect(result).toEqual({ batchItemFailures: [] });
    expect(cloud.actions.get(NEW_ID)!.state).toBe('CONTINUE');
    expect(cloud.runningMembers()).toContain(cloud.get(NEW_ID).node.name);
  });

  it('answers a direct {"dryRun": true} with the plan and acts on nothing', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.addMember('i-b');
    cloud.targets.delete('i-b');

    const { result } = await captured((w) => answerLambda({ dryRun: true }, w, () => 60_000), wire(cloud));

    expect(result).toMatchObject({ result: 'planned' });
    expect(cloud.calls.filter((c) => c.port === 'elb' && c.op === 'register')).toEqual([]);
    expect(cloud.targets.has('i-b')).toBe(false);
  });

  it('keeps membership events away from the alarm function', async () => {
    const cloud = new FakeCloud();
    cloud.addLaunching(NEW_ID, 0);

    const { result } = await captured((w) => answerLambda(launchFor(NEW_ID), w, () => 60_000), wire(cloud, ['alarm']));

    expect(result).toMatchObject({ reason: expect.stringMatching(/does not handle launch events/) });
    expect(cloud.calls).toEqual([]);
  });

  describe('what Lambda gets back for an SQS batch (ReportBatchItemFailures)', () => {
    const OTHER_ID = 'i-0aaaaaaaaaaaaaaa2';

    it('acknowledges a batch whose records were all handled', async () => {
      const cloud = new FakeCloud();
      cloud.addMember('i-a');
      cloud.addLaunching(NEW_ID, 0);

      const { result, error } = await captured((w) => answerLambda(sqsBatch(JSON.stringify(launchFor(NEW_ID))), w, () => 600_000), wire(cloud));

      expect(error).toBeUndefined();
      expect(result).toEqual({ batchItemFailures: [] });
      expect(cloud.actions.get(NEW_ID)!.state).toBe('CONTINUE');
    });

    it('reports the failed record and the ones after it, keeps the ones before it done, and runs nothing after the failure', async () => {
      const cloud = new FakeCloud();
      cloud.addMember('i-a');
      cloud.addLaunching(NEW_ID, 0);
      cloud.addLaunching(OTHER_ID, 0);
      const first = JSON.stringify(launchFor(NEW_ID));
      const failing = JSON.stringify({ ...launchFor(OTHER_ID), id: 'aaaaaaaa-1111-2222-3333-444444444444' });
      const later = JSON.stringify({ 'detail-type': 'Scheduled Event', source: 'aws.events', id: 'bbbbbbbb-1111-2222-3333-444444444444' });
      const agentOnline = cloud.nodes.isAgentOnline.bind(cloud.nodes);
      cloud.nodes.isAgentOnline = async (id) => {
        if (id === OTHER_ID) throw new Error('DescribeInstanceInformation failed: ThrottlingException');
        return agentOnline(id);
      };

      const { result, error, lines } = await captured((w) => answerLambda(sqsBatch(first, failing, later), w, () => 600_000), wire(cloud));

      expect(error).toBeUndefined();
      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-1' }, { itemIdentifier: 'm-2' }] });
      expect(cloud.actions.get(NEW_ID)!.state).toBe('CONTINUE');
      expect(cloud.actions.get(OTHER_ID)!.state).toBe('open');
      // the reconcile after the failure never ran: the group was read only by the launches (each its pause switch, the first its batch)
      expect(cloud.calls.filter((c) => c.op === 'describeGroup')).toHaveLength(3);
      expect(lines.find((l) => l.level === 'ERROR')).toMatchObject({ message: 'event failed; it will be retried', messageId: 'm-1' });
      expect(lines.find((l) => l.message.startsWith('records after the failed one'))).toMatchObject({ messageIds: ['m-2'] });
      expect(cloud.metric('HealFailures')).toBe(1);
    });

    /** Records as Lambda builds them: with receipt handles, in the cluster's message group. */
    const received = (...bodies: string[]) => ({
      Records: bodies.map((body, i) => ({
        messageId: `m-${i}`,
        receiptHandle: `handle-${i}`,
        eventSource: 'aws:sqs',
        body,
        attributes: { MessageGroupId: 'test', ApproximateReceiveCount: '1' },
      })),
    });
    const queueCalls = (cloud: FakeCloud) => cloud.calls.filter((c) => c.port === 'queue').map((c) => ({ op: c.op, ...(c.args as object) }));

    it('sends a failed record again for a later attempt, acknowledges it, and goes on with the records after it', async () => {
      const cloud = new FakeCloud();
      cloud.addMember('i-a');
      cloud.addLaunching(NEW_ID, 0);
      cloud.failCommand('i-a', 'status');
      const later = JSON.stringify({
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        id: 'bbbbbbbb-1111-2222-3333-444444444444',
        time: '2024-01-01T00:00:00Z',
      });

      const { result } = await captured((w) => answerLambda(received(JSON.stringify(launchFor(NEW_ID)), later), w, () => 600_000), wire(cloud));

      expect(result).toEqual({ batchItemFailures: [] });
      expect(queueCalls(cloud)).toEqual([
        { op: 'retryLater', messageId: 'm-0', attempt: 2, notBefore: cloud.clock.now() + cloud.config.retry.firstDelaySeconds * 1000 },
      ]);
      expect(cloud.calls.some((c) => c.op === 'runOnMany:status')).toBe(true);
      expect(cloud.metric('HealRetries')).toBe(1);
    });

    it('defers a retry that is not due yet without running it', async () => {
      const cloud = new FakeCloud();
      const batch = received(JSON.stringify(launchFor(NEW_ID)));
      Object.assign(batch.Records[0]!, {
        messageAttributes: { 'warren.attempt': { stringValue: '2' }, 'warren.notBefore': { stringValue: String(cloud.clock.now() + 7_500) } },
      });

      const { result } = await captured((w) => answerLambda(batch, w, () => 600_000), wire(cloud));

      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-0' }] });
      expect(queueCalls(cloud)).toEqual([{ op: 'hideFor', messageId: 'm-0', seconds: 8 }]);
      expect(cloud.calls.filter((c) => c.port !== 'queue')).toEqual([]);
    });

    it('reports a failed record it could not send again, and brings it back within its retry delay', async () => {
      const cloud = new FakeCloud();
      cloud.addMember('i-a');
      cloud.addLaunching(NEW_ID, 0);
      cloud.failCommand('i-a', 'status');
      cloud.queue.retryLater = async () => Promise.reject(new Error('SendMessage failed: ThrottlingException'));

      const { result } = await captured((w) => answerLambda(received(JSON.stringify(launchFor(NEW_ID))), w, () => 600_000), wire(cloud));

      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-0' }] });
      expect(queueCalls(cloud)).toEqual([{ op: 'hideFor', messageId: 'm-0', seconds: cloud.config.retry.firstDelaySeconds }]);
    });

    it('rethrows a failed direct event, for the caller to retry', async () => {
      const cloud = new FakeCloud();
      cloud.addMember('i-a');
      cloud.addLaunching(NEW_ID, 0);
      cloud.failCommand('i-a', 'status');

      const { error } = await captured((w) => answerLambda(launchFor(NEW_ID), w, () => 600_000), wire(cloud));

      expect(error).toBeInstanceOf(Error);
    });
  });
});
