import { schedulerOn } from '../../../infra/sandbox/cloud/scheduler';
import { LocalFifoQueue, type QueuedMessage } from '../../../infra/sandbox/fifo-queue';
import { parseQueueMessage } from '../../../shared/events';
import { FakeClock } from '../workflows/fake-clock';

function queueWith(consume: (message: QueuedMessage) => Promise<unknown>) {
  const clock = new FakeClock();
  const queue = new LocalFifoQueue(schedulerOn(clock), consume, { visibilityTimeoutMs: 5_000, maxReceiveCount: 3 });
  return { clock, queue };
}

describe('the sandbox FIFO queue', () => {
  it('receives a failed message again even when the timer of its visibility fires a millisecond early', async () => {
    const clock = new FakeClock();
    const base = schedulerOn(clock);
    // like setTimeout, which may fire just before Date.now() reaches the due time
    const early = { now: base.now, after: (ms: number, task: () => void) => base.after(ms > 1 ? ms - 1 : ms, task) };
    let receives = 0;
    const queue = new LocalFifoQueue(early, async () => {
      receives += 1;
      if (receives === 1) throw new Error('transient');
    }, { visibilityTimeoutMs: 5_000 });

    queue.send('{"id":"a"}');
    await queue.idle();

    expect(receives).toBe(2);
    expect(queue.depth()).toBe(0);
  });

  it('drops a body sent again within five minutes and takes it after', async () => {
    const seen: string[] = [];
    const { clock, queue } = queueWith(async (m) => void seen.push(m.body));

    expect(queue.send('{"id":"a"}').duplicate).toBe(false);
    expect(queue.send('{"id":"a"}').duplicate).toBe(true);
    await queue.idle();
    clock.advance(5 * 60_000);
    expect(queue.send('{"id":"a"}').duplicate).toBe(false);
    await queue.idle();

    expect(seen).toEqual(['{"id":"a"}', '{"id":"a"}']);
  });

  it('handles one message at a time, in order', async () => {
    const events: string[] = [];
    const { clock, queue } = queueWith(async (m) => {
      events.push(`start ${m.body}`);
      await clock.sleep(1_000);
      events.push(`end ${m.body}`);
    });

    queue.send('1');
    queue.send('2');
    await queue.idle();

    expect(events).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('holds the group behind a failing message, redelivers it after the visibility timeout, then dead-letters it', async () => {
    const attempts: Array<{ body: string; at: number }> = [];
    const { clock, queue } = queueWith(async (m) => {
      attempts.push({ body: m.body, at: clock.now() });
      if (m.body === 'bad') throw new Error('transient');
    });
    const start = clock.now();

    queue.send('bad');
    queue.send('good');
    await queue.idle();

    expect(attempts.map((a) => a.body)).toEqual(['bad', 'bad', 'bad', 'good']);
    expect(attempts[1]!.at - start).toBe(5_000);
    expect(queue.deadLetters).toEqual([expect.objectContaining({ body: 'bad', receiveCount: 3, error: 'Error: transient' })]);
  });

  it('enqueues a reconcile the heal function reads as one', async () => {
    const bodies: string[] = [];
    const { queue } = queueWith(async (m) => void bodies.push(m.body));

    await queue.enqueueReconcile('alarm warren-sandbox-cluster-x');
    await queue.idle();

    expect(parseQueueMessage(bodies[0]!)).toMatchObject({ kind: 'reconcile', dryRun: false });
  });
});
