import type { SQSEvent } from 'aws-lambda';
import { LocalQueue, triageQueueOptions } from '../../../infra/sandbox/queue';
import { schedulerOn } from '../../../infra/sandbox/cloud/scheduler';
import { deployed } from '../../support/deployed';
import { FakeClock } from '../../support/fake-clock';

const { batchSize, batchingWindowSeconds, visibilityTimeoutSeconds, maxReceiveCount } = deployed.triage;
const WINDOW_MS = batchingWindowSeconds * 1000;

/** The triage queue as deployed, in front of a function that takes `workMs` per batch and answers with `answer`. */
function queueWith(answer: (event: SQSEvent) => unknown = () => ({ batchItemFailures: [] }), workMs = 30) {
  const clock = new FakeClock();
  const start = clock.now();
  const batches: Array<{ at: number; bodies: string[] }> = [];
  const queue = new LocalQueue(schedulerOn(clock), triageQueueOptions(), async (event) => {
    batches.push({ at: clock.now() - start, bodies: event.Records.map((record) => record.body) });
    await clock.sleep(workMs);
    return answer(event);
  });
  return { clock, queue, batches };
}

describe('the sandbox standard queue in front of the triage function, at the deployed settings', () => {
  it('is a standard queue whose batches need the batching window Lambda asks for above 10 records', () => {
    expect(deployed.triage.fifo).toBe(false);
    expect(batchSize).toBeGreaterThan(10);
    expect(batchingWindowSeconds).toBeGreaterThanOrEqual(1);
    expect(deployed.triage.reportsBatchItemFailures).toBe(true);
    expect(visibilityTimeoutSeconds).toBeGreaterThanOrEqual(deployed.functionTimeoutSeconds.triage!);
  });

  it('gathers what arrives within the batching window into one invocation', async () => {
    const { clock, queue, batches } = queueWith();

    queue.send('a');
    await clock.sleep(WINDOW_MS / 2);
    queue.send('b');
    await queue.idle();

    expect(batches).toEqual([{ at: WINDOW_MS, bodies: ['a', 'b'] }]);
  });

  it('invokes at once with a full batch, and runs batches side by side', async () => {
    const { queue, batches } = queueWith(undefined, 5_000);

    for (let n = 0; n < 2 * batchSize + 1; n += 1) queue.send(`e${n}`);
    await queue.idle();

    expect(batches.map((batch) => [batch.at, batch.bodies.length])).toEqual([
      [0, batchSize],
      [0, batchSize],
      [WINDOW_MS, 1],
    ]);
    expect(queue.deliveries.map((delivery) => delivery.durationMs)).toEqual([5_000, 5_000, 5_000]);
  });

  it('receives the reported records again after the visibility timeout, and dead-letters them after the last receive', async () => {
    const { queue, batches } = queueWith((event) => ({
      batchItemFailures: event.Records.filter((record) => record.body === 'poison').map((record) => ({ itemIdentifier: record.messageId })),
    }));

    queue.send('poison');
    queue.send('fine');
    await queue.idle();

    expect(batches.map((batch) => batch.bodies)).toEqual([['poison', 'fine'], ...Array(maxReceiveCount - 1).fill(['poison'])]);
    // visible again after the timeout, then gathered for a window like any record
    expect(batches[1]!.at - batches[0]!.at).toBe(visibilityTimeoutSeconds * 1000 + WINDOW_MS);
    expect(queue.deadLetters.map((letter) => letter.body)).toEqual(['poison']);
  });

  it('receives every record of a batch again when the function fails', async () => {
    let calls = 0;
    const { queue, batches } = queueWith(() => {
      calls += 1;
      if (calls === 1) throw new Error('DescribeInstances failed');
      return { batchItemFailures: [] };
    });

    queue.send('a');
    queue.send('b');
    await queue.idle();

    expect(batches.map((batch) => batch.bodies)).toEqual([
      ['a', 'b'],
      ['a', 'b'],
    ]);
    expect(queue.deadLetters).toEqual([]);
  });
});
