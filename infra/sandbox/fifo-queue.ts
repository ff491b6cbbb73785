import { createHash, randomUUID } from 'node:crypto';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { reconcileRequest } from '../../shared/events';
import type { HealQueue, QueuedRecord, RetryMark } from '../../shared/ports';
import { ATTEMPT_ATTRIBUTE, NOT_BEFORE_ATTRIBUTE } from '../../shared/ports';
import type { Scheduler } from './cloud/scheduler';
import type { ForwardedEvent, ForwardFailure } from '../../shared/ports';

export interface FifoQueueOptions {
  /** SQS FIFO deduplicates for five minutes */
  deduplicationWindowMs?: number;
  /** a received message not deleted becomes visible again after this long (serverless.yml's VisibilityTimeout) */
  visibilityTimeoutMs: number;
  /** receives before the dead-letter queue (serverless.yml's redrive policy) */
  maxReceiveCount: number;
  /** the one message group: the cluster */
  groupId: string;
}

export interface QueuedMessage {
  messageId: string;
  body: string;
  receiveCount: number;
  enqueuedAt: number;
  /** message attributes, as strings (warren's retry marks) */
  attributes: Record<string, string>;
  /** after a receive: hidden until then, and the group waits behind it */
  visibleAt?: number;
  receiptHandle?: string;
}

export interface DeadLetter extends QueuedMessage {
  error: string;
}

/** Lambda's SQS event source: a batch of records in; `batchItemFailures` (or a throw, for all of them) out. */
export type BatchConsumer = (event: SQSEvent) => Promise<unknown>;

const QUEUE_ARN = 'arn:aws:sqs:us-east-1:123456789012:warren-sandbox-heal.fifo';

/**
 * The sandbox's SQS FIFO queue with one message group, as serverless.yml configures it, delivering to
 * the heal function as Lambda's event source mapping does (batch size 1): content-based deduplication,
 * one message in flight at a time in order, records built as Lambda builds them, `batchItemFailures`
 * honoured, a record not deleted visible again after the visibility timeout or ChangeMessageVisibility,
 * and the redrive to the dead-letter queue after maxReceiveCount receives.
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

  constructor(private readonly scheduler: Scheduler, private readonly consume: BatchConsumer, private readonly options: FifoQueueOptions) {
    this.dedupMs = options.deduplicationWindowMs ?? 5 * 60_000;
  }

  /** SendMessage with ContentBasedDeduplication (EventBridge's target): the same body within the window is accepted and dropped. */
  send(body: string, deduplicationId = createHash('sha256').update(body).digest('hex'), attributes: Record<string, string> = {}): { messageId: string; duplicate: boolean } {
    const now = this.scheduler.now();
    const seenAt = this.seen.get(deduplicationId);
    if (seenAt !== undefined && now - seenAt < this.dedupMs) return { messageId: '', duplicate: true };
    this.seen.set(deduplicationId, now);
    const message: QueuedMessage = { messageId: randomUUID(), body, receiveCount: 0, enqueuedAt: now, attributes };
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

  async retryLater(record: QueuedRecord, mark: RetryMark): Promise<void> {
    this.send(record.body, `retry-${record.messageId}`, { [ATTEMPT_ATTRIBUTE]: String(mark.attempt), [NOT_BEFORE_ATTRIBUTE]: String(mark.notBefore) });
  }

  async deadLetter(record: QueuedRecord, attempt: number, error: string): Promise<void> {
    this.deadLetters.push({ messageId: record.messageId, body: record.body, receiveCount: attempt, enqueuedAt: this.scheduler.now(), attributes: {}, error });
  }

  /** ChangeMessageVisibility on the message in flight whose receipt handle this is. */
  async hideFor(record: QueuedRecord, seconds: number): Promise<void> {
    const message = this.pending.find((m) => m.receiptHandle === record.receiptHandle);
    if (!message) throw Object.assign(new Error('The receipt handle has expired.'), { name: 'ReceiptHandleIsInvalid' });
    message.visibleAt = this.scheduler.now() + seconds * 1000;
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
    if (message.receiveCount >= this.options.maxReceiveCount) {
      // the redrive policy: a message received maxReceiveCount times and still not deleted
      this.pending.shift();
      this.deadLetters.push({ ...message, error: message.attributes['warren.lastFailure'] ?? `received ${message.receiveCount} times without being deleted` });
      this.scheduler.after(0, () => void this.pump());
      return;
    }
    this.busy = true;
    message.receiveCount += 1;
    message.receiptHandle = `${message.messageId}#${message.receiveCount}`;
    message.visibleAt = this.scheduler.now() + this.options.visibilityTimeoutMs;
    let ok = false;
    try {
      const answer = (await this.consume({ Records: [this.recordOf(message)] })) as { batchItemFailures?: Array<{ itemIdentifier: string }> } | undefined;
      ok = !(answer?.batchItemFailures ?? []).some((f) => f.itemIdentifier === message.messageId);
    } catch (error) {
      message.attributes['warren.lastFailure'] = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    this.delivered.push({ messageId: message.messageId, at: this.scheduler.now(), ok });
    this.busy = false;
    if (ok) this.pending.splice(this.pending.indexOf(message), 1);
    this.scheduler.after(Math.max(0, ok ? 0 : (message.visibleAt ?? 0) - this.scheduler.now()), () => void this.pump());
  }

  /** The record as Lambda hands it to the function. */
  private recordOf(message: QueuedMessage): SQSRecord {
    const now = this.scheduler.now();
    return {
      messageId: message.messageId,
      receiptHandle: message.receiptHandle!,
      body: message.body,
      attributes: {
        ApproximateReceiveCount: String(message.receiveCount),
        SentTimestamp: String(message.enqueuedAt),
        SenderId: 'AIDAEXAMPLE',
        ApproximateFirstReceiveTimestamp: String(now),
        MessageGroupId: this.options.groupId,
        MessageDeduplicationId: message.messageId,
        SequenceNumber: String(message.enqueuedAt),
      },
      messageAttributes: Object.fromEntries(
        Object.entries(message.attributes)
          .filter(([name]) => name !== 'warren.lastFailure')
          .map(([name, value]) => [name, { stringValue: value, dataType: 'Number', stringListValues: [], binaryListValues: [] }]),
      ),
      md5OfBody: createHash('md5').update(message.body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: QUEUE_ARN,
      awsRegion: 'us-east-1',
    };
  }
}
