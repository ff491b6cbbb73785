import { createHash, randomUUID } from 'node:crypto';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { Scheduler } from './cloud/scheduler';

export interface BatchQueueOptions {
  /** the event source mapping's batchSize */
  batchSize: number;
  /** its maximumBatchingWindow: how long Lambda gathers records before it invokes with fewer than batchSize */
  batchingWindowMs: number;
  /** a received record not deleted is visible again after this long (the queue's VisibilityTimeout) */
  visibilityTimeoutMs: number;
  /** receives before the dead-letter queue (the queue's redrive policy) */
  maxReceiveCount: number;
  arn?: string;
}

interface Message {
  messageId: string;
  body: string;
  sentAt: number;
  receiveCount: number;
}

/** One invocation of the function, as the queue saw it. */
export interface BatchDelivery {
  at: number;
  records: number;
  durationMs: number;
  /** records reported in batchItemFailures, or all of them when the function threw */
  failed: number;
}

/** Lambda's SQS event source: a batch of records in; `batchItemFailures` (or a throw, for all of them) out. */
export type BatchFunction = (event: SQSEvent) => Promise<unknown>;

/**
 * The sandbox's standard SQS queue with Lambda's event source mapping in front of a function, as
 * serverless.yml configures the triage queue: no order and no message group, so batches run side by
 * side; a batch goes out when batchSize records wait or the batching window since the first of them
 * has passed; records reported in `batchItemFailures` (every record, when the function throws) come
 * back after the visibility timeout, and go to the dead-letter queue after maxReceiveCount receives.
 */
export class LocalBatchQueue {
  readonly deliveries: BatchDelivery[] = [];
  readonly deadLetters: Array<{ messageId: string; body: string }> = [];
  private readonly waiting: Message[] = [];
  private hidden = 0;
  private inFlight = 0;
  private windowTimer?: () => void;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly scheduler: Scheduler, private readonly invoke: BatchFunction, private readonly options: BatchQueueOptions) {}

  /** SendMessage (EventBridge's target): no deduplication on a standard queue. */
  send(body: string): string {
    const message = { messageId: randomUUID(), body, sentAt: this.scheduler.now(), receiveCount: 0 };
    this.waiting.push(message);
    this.poll();
    return message.messageId;
  }

  /** Records waiting, in flight or hidden for their next receive. */
  depth(): number {
    return this.waiting.length + this.inFlight + this.hidden;
  }

  /** Resolves once no record waits, runs or is hidden for a retry. */
  idle(): Promise<void> {
    if (this.depth() === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    this.windowTimer?.();
  }

  private poll(): void {
    if (this.stopped || this.waiting.length === 0) return;
    if (this.waiting.length >= this.options.batchSize) {
      this.windowTimer?.();
      this.windowTimer = undefined;
      void this.deliver();
      // a burst may fill more than one batch at once
      this.poll();
    } else if (!this.windowTimer) {
      this.windowTimer = this.scheduler.after(this.options.batchingWindowMs, () => {
        this.windowTimer = undefined;
        void this.deliver();
        this.poll();
      });
    }
  }

  private async deliver(): Promise<void> {
    const batch = this.waiting.splice(0, this.options.batchSize);
    if (batch.length === 0) return;
    this.inFlight += batch.length;
    batch.forEach((message) => (message.receiveCount += 1));
    const started = this.scheduler.now();
    let failedIds: Set<string>;
    try {
      const answer = (await this.invoke({ Records: batch.map((message) => this.recordOf(message, started)) })) as
        | { batchItemFailures?: Array<{ itemIdentifier: string }> }
        | undefined;
      failedIds = new Set((answer?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
    } catch {
      failedIds = new Set(batch.map((message) => message.messageId));
    }
    this.inFlight -= batch.length;
    const failed = batch.filter((message) => failedIds.has(message.messageId));
    this.deliveries.push({ at: started, records: batch.length, durationMs: this.scheduler.now() - started, failed: failed.length });
    for (const message of failed) this.receiveAgainLater(message, started);
    this.wakeIfIdle();
  }

  /** Hidden until the visibility timeout of its receive runs out; then received again, or dead-lettered. */
  private receiveAgainLater(message: Message, receivedAt: number): void {
    if (message.receiveCount >= this.options.maxReceiveCount) {
      this.deadLetters.push({ messageId: message.messageId, body: message.body });
      return;
    }
    this.hidden += 1;
    this.scheduler.after(Math.max(0, receivedAt + this.options.visibilityTimeoutMs - this.scheduler.now()), () => {
      this.hidden -= 1;
      this.waiting.push(message);
      this.poll();
    });
  }

  private wakeIfIdle(): void {
    if (this.depth() === 0) this.idleWaiters.splice(0).forEach((wake) => wake());
  }

  /** The record as Lambda hands it to the function (standard queue: no group, no sequence number). */
  private recordOf(message: Message, receivedAt: number): SQSRecord {
    return {
      messageId: message.messageId,
      receiptHandle: `${message.messageId}#${message.receiveCount}`,
      body: message.body,
      attributes: {
        ApproximateReceiveCount: String(message.receiveCount),
        SentTimestamp: String(message.sentAt),
        SenderId: 'AIDAEXAMPLE',
        ApproximateFirstReceiveTimestamp: String(receivedAt),
      },
      messageAttributes: {},
      md5OfBody: createHash('md5').update(message.body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: this.options.arn ?? 'arn:aws:sqs:us-east-1:123456789012:warren-sandbox-triage',
      awsRegion: 'us-east-1',
    };
  }
}
