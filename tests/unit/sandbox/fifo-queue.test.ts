import { healQueueOnModel } from '../../support/model-heal-queue';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { schedulerOn } from '../../../infra/sandbox/cloud/scheduler';
import { healQueueOptions, LocalQueue } from '../../../infra/sandbox/queue';
import { parseQueueMessage } from '../../../shared/events';
import { deployed } from '../../support/deployed';
import { FakeClock } from '../../support/fake-clock';

const VISIBILITY_MS = deployed.queue.visibilityTimeoutSeconds * 1000;

/** A consumer of one record at a time: a throw fails the batch, as a Lambda error does. */
function queueWith(consume: (record: SQSRecord) => Promise<unknown>, clock = new FakeClock()) {
  const queue = new LocalQueue(schedulerOn(clock), healQueueOptions('cluster'), (event: SQSEvent) => consume(event.Records[0]!));
  return { clock, queue };
}

describe('the sandbox FIFO queue, at the deployed settings', () => {
  it('receives a failed message again even when the timer of its visibility fires a millisecond early', async () => {
    const clock = new FakeClock();
    const base = schedulerOn(clock);
    // like setTimeout, which may fire just before Date.now() reaches the due time
    const early = { now: base.now, after: (ms: number, task: () => void) => base.after(ms > 1 ? ms - 1 : ms, task) };
    let receives = 0;
    const queue = new LocalQueue(early, healQueueOptions('cluster'), async () => {
      receives += 1;
      if (receives === 1) throw new Error('transient');
    });

    queue.send('{"id":"a"}');
    await queue.idle();

    expect(receives).toBe(2);
    expect(queue.depth()).toBe(0);
  });

  it('drops a body sent again within five minutes and takes it after', async () => {
    const seen: string[] = [];
    const { clock, queue } = queueWith(async (r) => void seen.push(r.body));

    expect(queue.send('{"id":"a"}').duplicate).toBe(false);
    expect(queue.send('{"id":"a"}').duplicate).toBe(true);
    await queue.idle();
    clock.advance(deployed.queue.deduplicationWindowSeconds * 1000);
    expect(queue.send('{"id":"a"}').duplicate).toBe(false);
    await queue.idle();

    expect(seen).toEqual(['{"id":"a"}', '{"id":"a"}']);
  });

  it('handles one message at a time, in order, with records shaped as Lambda builds them', async () => {
    const events: string[] = [];
    const records: SQSRecord[] = [];
    const { clock, queue } = queueWith(async (r) => {
      records.push(r);
      events.push(`start ${r.body}`);
      await clock.sleep(1_000);
      events.push(`end ${r.body}`);
    });

    queue.send('1');
    queue.send('2');
    await queue.idle();

    expect(events).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
    expect(records[0]).toMatchObject({ eventSource: 'aws:sqs', attributes: { ApproximateReceiveCount: '1', MessageGroupId: 'cluster' } });
    expect(records[0]!.receiptHandle).not.toBe(records[1]!.receiptHandle);
  });

  it('holds the group behind a message its invocation failed, for the visibility timeout, and redrives it after maxReceiveCount receives', async () => {
    const attempts: Array<{ body: string; at: number }> = [];
    const { clock, queue } = queueWith(async (r) => {
      attempts.push({ body: r.body, at: clock.now() });
      if (r.body === 'bad') throw new Error('killed');
    });
    const start = clock.now();

    queue.send('bad');
    queue.send('good');
    await queue.idle();

    expect(attempts.map((a) => a.body)).toEqual([...Array(deployed.queue.maxReceiveCount).fill('bad'), 'good']);
    expect(attempts[1]!.at - start).toBe(VISIBILITY_MS);
    expect(queue.deadLetters).toEqual([expect.objectContaining({ body: 'bad', receiveCount: deployed.queue.maxReceiveCount, error: 'Error: killed' })]);
  });

  it('honours batchItemFailures and ChangeMessageVisibility on the record in flight', async () => {
    const attempts: number[] = [];
    let queueRef: LocalQueue | undefined;
    const { clock, queue } = queueWith(async (r) => {
      attempts.push(clock.now());
      if (attempts.length > 1) return { batchItemFailures: [] };
      queueRef!.changeVisibility(r.receiptHandle, 7);
      return { batchItemFailures: [{ itemIdentifier: r.messageId }] };
    });
    queueRef = queue;

    queue.send('x');
    await queue.idle();

    expect(attempts.map((at) => at - attempts[0]!)).toEqual([0, 7_000]);
  });

  it('takes a reconcile as the heal queue adapter sends it, and the heal function reads it as one', async () => {
    const bodies: string[] = [];
    const { queue } = queueWith(async (r) => void bodies.push(r.body));

    await healQueueOnModel(queue).enqueueReconcile('alarm warren-sandbox-cluster-x');
    await queue.idle();

    expect(parseQueueMessage(bodies[0]!)).toMatchObject({ kind: 'reconcile', dryRun: false });
  });
});
