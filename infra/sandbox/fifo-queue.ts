import { createHash, randomUUID } from 'node:crypto';
import { reconcileRequest } from '../../shared/events';
import type { HealQueue } from '../../shared/ports';
import type { Scheduler } from './cloud/scheduler';
import type { ForwardedEvent, ForwardFailure } from '../../shared/ports';

export interface FifoQueueOptions {
  /** SQS FIFO deduplicates for five minutes */
  deduplicationWindowMs?: number;
  /** a failed message becomes visible again after this long */
  visibilityTimeoutMs?: number;
  /** receives before the dead-letter queue, like the redrive policy in serverless.yml */
  maxReceiveCount?: number;
}

export interface QueuedMessage {
  messageId: string;
  body: string;
  receiveCount: number;
  enqueuedAt: number;
  /** after a failed receive: hidden until then, and the group waits behind it */
  visibleAt?: number;
}

export interface DeadLetter extends QueuedMessage {
  error: string;
}

/** Handles one message; a rejection means "not done": it is received again later, or dead-lettered. */
export type MessageConsumer = (message: QueuedMessage) => Promise<unknown>;

/**
 * The sandbox's stand-in for the heal function's SQS FIFO queue with one message group: content-based
 * deduplication, one message in flight at a time in order, redelivery after the visibility timeout
 * (the group waits behind a failed message, as a FIFO group does), and a dead-letter queue.
 */
export class LocalFifoQueue implements HealQueue {
  readonly deadLetters: DeadLetter[] = [];
  readonly delivered: Array<{ messageId: string; at: number; ok: boolean }> = [];
  private readonly pending: QueuedMessage[] = [];
  private readonly seen = new Map<string, number>();
  private busy = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  private readonly dedupMs: number;
  private readonly visibilityMs: number;
  private readonly maxReceives: number;

  constructor(private readonly scheduler: Scheduler, private readonly consume: MessageConsumer, options: FifoQueueOptions = {}) {
    this.dedupMs = options.deduplicationWindowMs ?? 5 * 60_000;
    this.visibilityMs = options.visibilityTimeoutMs ?? 5_000;
    this.maxReceives = options.maxReceiveCount ?? 5;
  }

  /** SendMessage with ContentBasedDeduplication: the same body within the window is accepted and dropped. */
  send(body: string): { messageId: string; duplicate: boolean } {
    const now = this.scheduler.now();
    const digest = createHash('sha256').update(body).digest('hex');
    const seenAt = this.seen.get(digest);
    if (seenAt !== undefined && now - seenAt < this.dedupMs) return { messageId: '', duplicate: true };
    this.seen.set(digest, now);
    const message = { messageId: randomUUID(), body, receiveCount: 0, enqueuedAt: now };
    this.pending.push(message);
    this.scheduler.after(0, () => void this.pump());
    return { messageId: message.messageId, duplicate: false };
  }

  async enqueueReconcile(reason: string): Promise<void> {
    this.send(JSON.stringify(reconcileRequest(reason, { now: () => this.scheduler.now(), newId: () => randomUUID() })));
  }

  /** SendMessageBatch from the triage step: the events enter the group in order; a repeated event is dropped as SQS drops it. */
  async forward(events: ForwardedEvent[]): Promise<ForwardFailure[]> {
    // an event's body is the same bytes at every delivery, so deduplicating on content is deduplicating on its id
    for (const event of events) this.send(event.body);
    return [];
  }

  /** Messages waiting or in flight. */
  depth(): number {
    return this.pending.length;
  }

  /** Resolves once nothing is waiting or in flight. */
  idle(): Promise<void> {
    if (this.pending.length === 0 && !this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
  }

  private async pump(): Promise<void> {
    if (this.busy || this.stopped) return;
    const message = this.pending[0];
    if (!message) {
      this.idleWaiters.splice(0).forEach((wake) => wake());
      return;
    }
    const hiddenFor = (message.visibleAt ?? 0) - this.scheduler.now();
    if (hiddenFor > 0) {
      // a timer may fire a millisecond early: look again when the message is visible, or it waits for the next send
      this.scheduler.after(hiddenFor, () => void this.pump());
      return;
    }
    this.busy = true;
    message.receiveCount += 1;
    let ok = false;
    let failure = '';
    try {
      await this.consume(message);
      ok = true;
    } catch (error) {
      failure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    this.delivered.push({ messageId: message.messageId, at: this.scheduler.now(), ok });
    this.busy = false;
    if (ok) {
      this.pending.shift();
      this.scheduler.after(0, () => void this.pump());
    } else if (message.receiveCount >= this.maxReceives) {
      this.pending.shift();
      this.deadLetters.push({ ...message, error: failure });
      this.scheduler.after(0, () => void this.pump());
    } else {
      message.visibleAt = this.scheduler.now() + this.visibilityMs;
      this.scheduler.after(this.visibilityMs, () => void this.pump());
    }
  }
}
