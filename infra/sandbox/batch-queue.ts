import { deployed } from '../deploy/settings';
import { createHash, randomUUID } from 'node:crypto';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { ApiError } from './aws/protocol';
import { queueUrlOf, type MessageAttribute, type QueueModel } from './aws/sqs-api';
import type { Scheduler } from './cloud/scheduler';
import { DeadLetterQueue, lambdaAttributes, type DeadLetter } from './fifo-queue';

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
  /** the queue's URL; by default the one SQS gives its ARN */
  url?: string;
}

interface Message {
  messageId: string;
  body: string;
  sentAt: number;
  receiveCount: number;
  attributes: Record<string, MessageAttribute>;
  /** the handle of its last receive */
  receiptHandle?: string;
  /** waiting: visible; invoked: in the function's batch; hidden: in flight after a failure, until visibleAt */
  state: 'waiting' | 'invoked' | 'hidden';
  visibleAt?: number;
  /** cancels the timer that makes a hidden message visible */
  unhide?: () => void;
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

const TRIAGE_ARN = 'arn:aws:sqs:us-east-1:123456789012:warren-sandbox-triage';
const MAX_MESSAGE_BYTES = 262_144;

/**
 * The sandbox's standard SQS queue with Lambda's event source mapping in front of a function, as
 * serverless.yml configures the triage queue: no order and no message group, so batches run side by
 * side; a batch goes out when batchSize records wait or the batching window since the first of them
 * has passed; records reported in `batchItemFailures` (every record, when the function throws) come
 * back after the visibility timeout (or what ChangeMessageVisibility set), and go to the dead-letter
 * queue after maxReceiveCount receives.
 *
 * It is the triage queue of the local SQS API (QueueModel: SendMessage, ChangeMessageVisibility,
 * GetQueueAttributes; Lambda receives from it, nobody else).
 */
export class LocalBatchQueue implements QueueModel {
  readonly url: string;
  readonly arn: string;
  readonly name: string;
  readonly fifo = false;
  readonly deliveries: BatchDelivery[] = [];
  private readonly waiting: Message[] = [];
  /** every message held (waiting, invoked or hidden) by its last receipt handle */
  private readonly byHandle = new Map<string, Message>();
  private deadLetterQueue!: DeadLetterQueue;
  private hidden = 0;
  private inFlight = 0;
  private windowTimer?: () => void;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  private readonly createdAt: number;

  constructor(readonly scheduler: Scheduler, private readonly invoke: BatchFunction, private readonly options: BatchQueueOptions) {
    this.arn = options.arn ?? TRIAGE_ARN;
    this.url = options.url ?? queueUrlOf(this.arn);
    this.name = this.arn.split(':')[5]!;
    this.createdAt = scheduler.now();
    // its own dead-letter queue until one is attached (new DeadLetterQueue(url, queue))
    new DeadLetterQueue(queueUrlOf(`${this.arn}-dlq`), this);
  }

  /** Every message the redrive moved to the dead-letter queue, in order. */
  get deadLetters(): DeadLetter[] {
    return this.deadLetterQueue.arrived;
  }

  redriveTo(deadLetterQueue: DeadLetterQueue): void {
    this.deadLetterQueue = deadLetterQueue;
  }

  /** SendMessage (EventBridge's target, or the SQS API): no deduplication on a standard queue. */
  send(body: string): string;
  send(message: { body: string; attributes?: Record<string, MessageAttribute> }): { messageId: string };
  send(bodyOrMessage: string | { body: string; attributes?: Record<string, MessageAttribute> }): string | { messageId: string } {
    const { body, attributes = {} } = typeof bodyOrMessage === 'string' ? { body: bodyOrMessage } : bodyOrMessage;
    const message: Message = { messageId: randomUUID(), body, sentAt: this.scheduler.now(), receiveCount: 0, attributes: { ...attributes }, state: 'waiting' };
    this.waiting.push(message);
    this.poll();
    return typeof bodyOrMessage === 'string' ? message.messageId : { messageId: message.messageId };
  }

  /**
   * ChangeMessageVisibility of a record received and not yet deleted: of a batch still in the function
   * (it is hidden that long after the function reports it failed), or of one hidden for its next receive.
   */
  changeVisibility(receiptHandle: string, seconds: number): void {
    const message = this.byHandle.get(receiptHandle);
    if (!message) throw new ApiError('ReceiptHandleIsInvalid', `The input receipt handle "${receiptHandle}" is not a valid receipt handle.`, 404);
    if (message.state === 'waiting') throw new ApiError('MessageNotInflight', 'The message referred to is not in flight.');
    message.visibleAt = this.scheduler.now() + seconds * 1000;
    if (message.state === 'hidden') {
      message.unhide?.();
      this.hideUntilVisible(message);
    }
  }

  /** GetQueueAttributes, as serverless.yml creates the queue. */
  attributes(): Record<string, string> {
    return {
      QueueArn: this.arn,
      ApproximateNumberOfMessages: String(this.waiting.length),
      ApproximateNumberOfMessagesNotVisible: String(this.inFlight + this.hidden),
      ApproximateNumberOfMessagesDelayed: '0',
      VisibilityTimeout: String(Math.round(this.options.visibilityTimeoutMs / 1000)),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: this.deadLetterQueue.arn, maxReceiveCount: this.options.maxReceiveCount }),
      MaximumMessageSize: String(MAX_MESSAGE_BYTES),
      MessageRetentionPeriod: '345600',
      ReceiveMessageWaitTimeSeconds: '0',
      DelaySeconds: '0',
      SqsManagedSseEnabled: 'true',
      CreatedTimestamp: String(Math.floor(this.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(this.createdAt / 1000)),
    };
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
    const started = this.scheduler.now();
    for (const message of batch) this.received(message, started);
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
    // Lambda deletes what the function handled
    for (const message of batch) if (!failedIds.has(message.messageId)) this.forget(message);
    for (const message of failed) this.receiveAgainLater(message);
    this.wakeIfIdle();
  }

  private received(message: Message, at: number): void {
    if (message.receiptHandle) this.byHandle.delete(message.receiptHandle);
    message.receiveCount += 1;
    message.receiptHandle = `${message.messageId}#${message.receiveCount}`;
    message.state = 'invoked';
    message.visibleAt = at + this.options.visibilityTimeoutMs;
    this.byHandle.set(message.receiptHandle, message);
  }

  private forget(message: Message): void {
    if (message.receiptHandle) this.byHandle.delete(message.receiptHandle);
  }

  /** Hidden until the visibility timeout of its receive runs out; then received again, or dead-lettered. */
  private receiveAgainLater(message: Message): void {
    if (message.receiveCount >= this.options.maxReceiveCount) {
      this.forget(message);
      this.deadLetterQueue.redrive(
        { messageId: message.messageId, body: message.body, receiveCount: message.receiveCount, enqueuedAt: message.sentAt, attributes: message.attributes },
        this.arn,
        `received ${message.receiveCount} times without being deleted`,
      );
      return;
    }
    this.hidden += 1;
    message.state = 'hidden';
    this.hideUntilVisible(message);
  }

  private hideUntilVisible(message: Message): void {
    message.unhide = this.scheduler.after(Math.max(0, (message.visibleAt ?? 0) - this.scheduler.now()), () => {
      this.hidden -= 1;
      message.state = 'waiting';
      message.unhide = undefined;
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
      receiptHandle: message.receiptHandle!,
      body: message.body,
      attributes: {
        ApproximateReceiveCount: String(message.receiveCount),
        SentTimestamp: String(message.sentAt),
        SenderId: 'AIDAEXAMPLE',
        ApproximateFirstReceiveTimestamp: String(receivedAt),
      },
      messageAttributes: lambdaAttributes(message.attributes),
      md5OfBody: createHash('md5').update(message.body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: this.arn,
      awsRegion: this.arn.split(':')[3]!,
    };
  }
}

/** The triage queue and its event source mapping as serverless.yml deploys them. */
export function triageQueueOptions(url?: string): BatchQueueOptions {
  const { batchSize, batchingWindowSeconds, visibilityTimeoutSeconds, maxReceiveCount } = deployed.triage;
  return { batchSize, batchingWindowMs: batchingWindowSeconds * 1000, visibilityTimeoutMs: visibilityTimeoutSeconds * 1000, maxReceiveCount, ...(url ? { url } : {}) };
}
