import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { ATTEMPT_ATTRIBUTE } from '../../shared/ports';
import { ApiError } from './aws/protocol';
import { queueArnOf, queueUrlOf, type MessageAttribute, type QueueModel, type ReceivedMessage } from './aws/sqs-api';
import type { Scheduler } from './cloud/scheduler';

export interface FifoQueueOptions {
  /** SQS FIFO deduplicates for five minutes */
  deduplicationWindowMs?: number;
  /** a received message not deleted becomes visible again after this long (serverless.yml's VisibilityTimeout) */
  visibilityTimeoutMs: number;
  /** receives before the dead-letter queue (serverless.yml's redrive policy) */
  maxReceiveCount: number;
  /** the message group of what the queue's own HealQueue methods send: the cluster */
  groupId: string;
  arn?: string;
  /** the queue's URL; by default the one SQS gives its ARN */
  url?: string;
}

export interface QueuedMessage {
  messageId: string;
  body: string;
  receiveCount: number;
  enqueuedAt: number;
  /** message attributes, each with its data type (warren's retry marks are Numbers) */
  attributes: Record<string, MessageAttribute>;
  groupId?: string;
  deduplicationId?: string;
  sequenceNumber?: string;
  /** after a receive: hidden until then, and the group waits behind it */
  visibleAt?: number;
  receiptHandle?: string;
  /** how the last invocation that received it failed, when it threw */
  lastFailure?: string;
}

/** A message in a dead-letter queue, as tests and the sandbox's status read it. */
export interface DeadLetter extends QueuedMessage {
  /**
   * why it is there: the warren.error attribute of a message the heal function sent there, else the
   * last failure of the invocations that received it before the redrive
   */
  error: string;
}

/** What SendMessage did: the message's id (the one it duplicates, when deduplication dropped it). */
export interface SendResult {
  messageId: string;
  sequenceNumber?: string;
  duplicate: boolean;
}

/** Lambda's SQS event source: a batch of records in; `batchItemFailures` (or a throw, for all of them) out. */
export type BatchConsumer = (event: SQSEvent) => Promise<unknown>;

/** A queue with a redrive policy: its dead-letter queue registers itself as the target. */
export interface RedriveSource {
  readonly scheduler: Scheduler;
  readonly fifo: boolean;
  readonly arn: string;
  redriveTo(deadLetterQueue: DeadLetterQueue): void;
}

const QUEUE_ARN = 'arn:aws:sqs:us-east-1:123456789012:warren-sandbox-heal.fifo';
const DEDUPLICATION_WINDOW_MS = 5 * 60_000;
const MAX_MESSAGE_BYTES = 262_144;
const DEAD_LETTER_RETENTION_SECONDS = 1_209_600;
const DEFAULT_VISIBILITY_MS = 30_000;
const ERROR_ATTRIBUTE = 'warren.error';

/** FIFO deduplication: an id seen within the window is accepted and dropped, answered with the first message's id. */
class Deduplication {
  private readonly seen = new Map<string, { at: number; messageId: string; sequenceNumber?: string }>();
  constructor(private readonly windowMs: number) {}

  duplicateOf(deduplicationId: string, now: number): { messageId: string; sequenceNumber?: string } | undefined {
    const seen = this.seen.get(deduplicationId);
    return seen && now - seen.at < this.windowMs ? seen : undefined;
  }

  remember(deduplicationId: string, now: number, message: { messageId: string; sequenceNumber?: string }): void {
    this.seen.set(deduplicationId, { at: now, ...message });
    // forget what left the window, so a long sandbox run does not keep every id
    for (const [id, { at }] of this.seen) {
      if (now - at < this.windowMs) break;
      this.seen.delete(id);
    }
  }
}

/** FIFO sequence numbers: 20 digits, growing with every message of the queue. */
class SequenceNumbers {
  private next = BigInt(Date.UTC(2024, 0, 1)) * 10_000_000n;
  take(): string {
    this.next += 1n;
    return this.next.toString().padStart(20, '0');
  }
}

function contentDeduplicationId(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest('hex');
}

/**
 * The sandbox's SQS FIFO queue with one message group, as serverless.yml configures it, delivering to
 * the heal function as Lambda's event source mapping does (batch size 1): content-based deduplication,
 * one message in flight at a time in order, records built as Lambda builds them, `batchItemFailures`
 * honoured, a record not deleted visible again after the visibility timeout or ChangeMessageVisibility,
 * and the redrive to the dead-letter queue after maxReceiveCount receives.
 *
 * It is the heal queue of the local SQS API (QueueModel: SendMessage, ChangeMessageVisibility,
 * GetQueueAttributes; Lambda receives from it, nobody else).
 */
export class LocalFifoQueue implements QueueModel {
  readonly url: string;
  readonly arn: string;
  readonly name: string;
  readonly fifo = true;
  readonly delivered: Array<{ messageId: string; at: number; ok: boolean }> = [];
  private readonly pending: QueuedMessage[] = [];
  private readonly deduplication: Deduplication;
  private readonly sequence = new SequenceNumbers();
  private readonly options: FifoQueueOptions;
  private consume?: BatchConsumer;
  /** the redrive policy's target */
  deadLetterQueue!: DeadLetterQueue;
  private readonly createdAt: number;
  private busy = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  /** `consume` may come later, through `consumer`, when it needs the queue (the sandbox's heal function) */
  constructor(scheduler: Scheduler, options: FifoQueueOptions);
  constructor(scheduler: Scheduler, consume: BatchConsumer, options: FifoQueueOptions);
  constructor(readonly scheduler: Scheduler, consumeOrOptions: BatchConsumer | FifoQueueOptions, maybeOptions?: FifoQueueOptions) {
    if (typeof consumeOrOptions === 'function') this.consume = consumeOrOptions;
    this.options = typeof consumeOrOptions === 'function' ? maybeOptions! : consumeOrOptions;
    this.arn = this.options.arn ?? (this.options.url ? queueArnOf(this.options.url) : QUEUE_ARN);
    this.url = this.options.url ?? queueUrlOf(this.arn);
    this.name = this.arn.split(':')[5]!;
    this.deduplication = new Deduplication(this.options.deduplicationWindowMs ?? DEDUPLICATION_WINDOW_MS);
    this.createdAt = scheduler.now();
    // its own dead-letter queue until one is attached (new DeadLetterQueue(url, queue))
    new DeadLetterQueue(queueUrlOf(this.arn.replace(/(\.fifo)?$/, '-dlq.fifo')), this);
  }

  /** the message group EventBridge's target sends to: the cluster */
  get groupId(): string {
    return this.options.groupId;
  }

  /** The function Lambda invokes with each record. */
  get consumer(): BatchConsumer | undefined {
    return this.consume;
  }

  set consumer(consume: BatchConsumer | undefined) {
    this.consume = consume;
    this.scheduler.after(0, () => void this.pump());
  }

  /** Every message that entered the dead-letter queue, in order (an operator deleting one there does not remove it here). */
  get deadLetters(): DeadLetter[] {
    return this.deadLetterQueue.arrived;
  }

  /** The redrive policy's target. */
  redriveTo(deadLetterQueue: DeadLetterQueue): void {
    this.deadLetterQueue = deadLetterQueue;
  }

  /**
   * SendMessage: as the SQS API hands it over (its group and deduplication id checked), or as
   * EventBridge's target sends a body (ContentBasedDeduplication, the queue's group). The same
   * deduplication id within the window is accepted and dropped.
   */
  send(message: { body: string; deduplicationId?: string; groupId?: string; attributes?: Record<string, MessageAttribute> }): SendResult;
  send(body: string, deduplicationId?: string, attributes?: Record<string, MessageAttribute>): SendResult;
  send(
    bodyOrMessage: string | { body: string; deduplicationId?: string; groupId?: string; attributes?: Record<string, MessageAttribute> },
    deduplicationId?: string,
    attributes: Record<string, MessageAttribute> = {},
  ): SendResult {
    const message = typeof bodyOrMessage === 'string' ? { body: bodyOrMessage, deduplicationId, attributes } : bodyOrMessage;
    const now = this.scheduler.now();
    const dedupId = message.deduplicationId ?? contentDeduplicationId(message.body);
    const original = this.deduplication.duplicateOf(dedupId, now);
    if (original) return { ...original, duplicate: true };
    const queued: QueuedMessage = {
      messageId: randomUUID(),
      body: message.body,
      receiveCount: 0,
      enqueuedAt: now,
      attributes: { ...(message.attributes ?? {}) },
      groupId: message.groupId ?? this.options.groupId,
      deduplicationId: dedupId,
      sequenceNumber: this.sequence.take(),
    };
    this.deduplication.remember(dedupId, now, queued);
    this.pending.push(queued);
    this.scheduler.after(0, () => void this.pump());
    return { messageId: queued.messageId, sequenceNumber: queued.sequenceNumber, duplicate: false };
  }

  /** ChangeMessageVisibility of the message in flight whose receipt handle this is. */
  changeVisibility(receiptHandle: string, seconds: number): void {
    const message = this.pending.find((m) => m.receiptHandle === receiptHandle);
    if (!message) throw new ApiError('ReceiptHandleIsInvalid', `The input receipt handle "${receiptHandle}" is not a valid receipt handle.`, 404);
    const now = this.scheduler.now();
    if ((message.visibleAt ?? 0) <= now) throw new ApiError('MessageNotInflight', 'The message referred to is not in flight.');
    message.visibleAt = now + seconds * 1000;
  }

  /** GetQueueAttributes, as serverless.yml creates the queue. */
  attributes(): Record<string, string> {
    const now = this.scheduler.now();
    const hidden = this.pending.filter((m) => (m.visibleAt ?? 0) > now).length;
    return {
      QueueArn: this.arn,
      ApproximateNumberOfMessages: String(this.pending.length - hidden),
      ApproximateNumberOfMessagesNotVisible: String(hidden),
      ApproximateNumberOfMessagesDelayed: '0',
      FifoQueue: 'true',
      ContentBasedDeduplication: 'true',
      DeduplicationScope: 'queue',
      FifoThroughputLimit: 'perQueue',
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
    if (this.busy || this.stopped || !this.consume) return;
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
      this.deadLetterQueue.redrive(message, this.arn, message.lastFailure ?? `received ${message.receiveCount} times without being deleted`);
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
      message.lastFailure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
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
        MessageGroupId: message.groupId ?? this.options.groupId,
        MessageDeduplicationId: message.deduplicationId ?? message.messageId,
        SequenceNumber: message.sequenceNumber ?? String(message.enqueuedAt),
      },
      messageAttributes: lambdaAttributes(message.attributes),
      md5OfBody: createHash('md5').update(message.body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: this.arn,
      awsRegion: this.arn.split(':')[3]!,
    };
  }
}

/** Message attributes as Lambda puts them in a record: camel-cased, with empty lists. */
export function lambdaAttributes(attributes: Record<string, MessageAttribute>): SQSRecord['messageAttributes'] {
  return Object.fromEntries(
    Object.entries(attributes).map(([name, attribute]) => [name, { stringValue: attribute.StringValue, dataType: attribute.DataType, stringListValues: [], binaryListValues: [] }]),
  );
}

interface HeldMessage extends QueuedMessage {
  /** the queue it was redriven from */
  sourceArn?: string;
  firstReceivedAt?: number;
}

/**
 * A dead-letter queue (FIFO like the heal queue's, or standard like the triage queue's): it holds what
 * the redrive policy moves there and what is sent to it (the heal function's dead letters, with their
 * warren.error attribute) for 14 days, and an operator reads it with ReceiveMessage and DeleteMessage.
 * `arrived` keeps every message that came in, whatever was deleted since.
 */
export class DeadLetterQueue implements QueueModel {
  readonly arn: string;
  readonly name: string;
  readonly fifo: boolean;
  readonly arrived: DeadLetter[] = [];
  private readonly messages: HeldMessage[] = [];
  private readonly issuedHandles = new Set<string>();
  private readonly deduplication = new Deduplication(DEDUPLICATION_WINDOW_MS);
  private readonly sequence = new SequenceNumbers();
  private readonly scheduler: Scheduler;
  private readonly visibilityTimeoutMs: number;
  private readonly createdAt: number;

  /** With a source, it is the target of the source's redrive policy, of its kind (FIFO or standard) and on its clock. */
  constructor(readonly url: string, source?: RedriveSource, options: { scheduler?: Scheduler; fifo?: boolean; visibilityTimeoutMs?: number } = {}) {
    const scheduler = options.scheduler ?? source?.scheduler;
    if (!scheduler) throw new Error('a dead-letter queue without a source needs a scheduler');
    this.scheduler = scheduler;
    this.arn = queueArnOf(url);
    this.name = this.arn.split(':')[5]!;
    this.fifo = options.fifo ?? source?.fifo ?? this.name.endsWith('.fifo');
    this.visibilityTimeoutMs = options.visibilityTimeoutMs ?? DEFAULT_VISIBILITY_MS;
    this.createdAt = scheduler.now();
    source?.redriveTo(this);
  }

  /** SendMessage (checked by the API, or by the queue's own deadLetter): deduplicated on a FIFO queue. */
  send(message: { body: string; deduplicationId?: string; groupId?: string; attributes: Record<string, MessageAttribute> }): SendResult {
    const now = this.scheduler.now();
    if (this.fifo && message.deduplicationId) {
      const original = this.deduplication.duplicateOf(message.deduplicationId, now);
      if (original) return { ...original, duplicate: true };
    }
    const held = this.hold({ messageId: randomUUID(), body: message.body, enqueuedAt: now, attributes: { ...message.attributes }, groupId: message.groupId, deduplicationId: message.deduplicationId });
    if (this.fifo && message.deduplicationId) this.deduplication.remember(message.deduplicationId, now, held);
    const attempt = Number(message.attributes[ATTEMPT_ATTRIBUTE]?.StringValue);
    this.arrived.push({ ...held, receiveCount: Number.isFinite(attempt) ? attempt : 0, error: message.attributes[ERROR_ATTRIBUTE]?.StringValue ?? 'sent to the dead-letter queue without a warren.error attribute' });
    return { messageId: held.messageId, sequenceNumber: held.sequenceNumber, duplicate: false };
  }

  /** The redrive policy moves a message here: same id, body and attributes. */
  redrive(message: QueuedMessage, sourceArn: string, error: string): void {
    const { messageId, body, enqueuedAt, attributes, groupId, deduplicationId } = message;
    this.hold({ messageId, body, enqueuedAt, attributes: { ...attributes }, groupId, deduplicationId, sourceArn });
    this.arrived.push({ messageId, body, enqueuedAt, attributes: { ...attributes }, groupId, deduplicationId, receiveCount: message.receiveCount, error });
  }

  /**
   * ReceiveMessage: visible messages in order, hidden for the visibility timeout; on a FIFO queue none
   * of a group that has a message in flight.
   */
  receive(max: number, options: { visibilityTimeoutSeconds?: number } = {}): ReceivedMessage[] {
    const now = this.scheduler.now();
    this.expire(now);
    const inFlight = (message: HeldMessage) => (message.visibleAt ?? 0) > now;
    const blocked = new Set(this.fifo ? this.messages.filter(inFlight).map((message) => message.groupId) : []);
    const hideMs = options.visibilityTimeoutSeconds === undefined ? this.visibilityTimeoutMs : options.visibilityTimeoutSeconds * 1000;
    const received: ReceivedMessage[] = [];
    for (const message of this.messages) {
      if (received.length >= max) break;
      if (inFlight(message) || blocked.has(message.groupId)) continue;
      message.receiveCount += 1;
      message.firstReceivedAt ??= now;
      message.visibleAt = now + hideMs;
      message.receiptHandle = randomBytes(48).toString('base64');
      this.issuedHandles.add(message.receiptHandle);
      received.push({
        MessageId: message.messageId,
        ReceiptHandle: message.receiptHandle,
        Body: message.body,
        ...(Object.keys(message.attributes).length > 0 ? { MessageAttributes: { ...message.attributes } } : {}),
        Attributes: {
          ApproximateReceiveCount: String(message.receiveCount),
          SentTimestamp: String(message.enqueuedAt),
          ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt),
          SenderId: 'AIDAEXAMPLE',
          ...(message.groupId !== undefined ? { MessageGroupId: message.groupId } : {}),
          ...(message.deduplicationId !== undefined ? { MessageDeduplicationId: message.deduplicationId } : {}),
          ...(message.sequenceNumber !== undefined ? { SequenceNumber: message.sequenceNumber } : {}),
          ...(message.sourceArn ? { DeadLetterQueueSourceArn: message.sourceArn } : {}),
        },
      });
    }
    return received;
  }

  /** DeleteMessage: a handle of an earlier receive, or of a message already deleted, is accepted and changes nothing. */
  delete(receiptHandle: string): void {
    if (!this.issuedHandles.has(receiptHandle)) throw new ApiError('ReceiptHandleIsInvalid', `The input receipt handle "${receiptHandle}" is not a valid receipt handle.`, 404);
    const at = this.messages.findIndex((message) => message.receiptHandle === receiptHandle);
    if (at >= 0) this.messages.splice(at, 1);
    this.issuedHandles.delete(receiptHandle);
  }

  changeVisibility(receiptHandle: string, seconds: number): void {
    const message = this.messages.find((candidate) => candidate.receiptHandle === receiptHandle);
    if (!message || !this.issuedHandles.has(receiptHandle)) throw new ApiError('ReceiptHandleIsInvalid', `The input receipt handle "${receiptHandle}" is not a valid receipt handle.`, 404);
    const now = this.scheduler.now();
    if ((message.visibleAt ?? 0) <= now) throw new ApiError('MessageNotInflight', 'The message referred to is not in flight.');
    message.visibleAt = now + seconds * 1000;
  }

  attributes(): Record<string, string> {
    const now = this.scheduler.now();
    this.expire(now);
    const hidden = this.messages.filter((message) => (message.visibleAt ?? 0) > now).length;
    return {
      QueueArn: this.arn,
      ApproximateNumberOfMessages: String(this.messages.length - hidden),
      ApproximateNumberOfMessagesNotVisible: String(hidden),
      ApproximateNumberOfMessagesDelayed: '0',
      ...(this.fifo ? { FifoQueue: 'true', ContentBasedDeduplication: 'false', DeduplicationScope: 'queue', FifoThroughputLimit: 'perQueue' } : {}),
      VisibilityTimeout: String(Math.round(this.visibilityTimeoutMs / 1000)),
      MaximumMessageSize: String(MAX_MESSAGE_BYTES),
      MessageRetentionPeriod: String(DEAD_LETTER_RETENTION_SECONDS),
      ReceiveMessageWaitTimeSeconds: '0',
      DelaySeconds: '0',
      SqsManagedSseEnabled: 'true',
      CreatedTimestamp: String(Math.floor(this.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(this.createdAt / 1000)),
    };
  }

  /** Messages held (visible or in flight). */
  depth(): number {
    this.expire(this.scheduler.now());
    return this.messages.length;
  }

  private hold(message: Omit<HeldMessage, 'receiveCount' | 'sequenceNumber'>): HeldMessage {
    const held: HeldMessage = { ...message, receiveCount: 0, ...(this.fifo ? { sequenceNumber: this.sequence.take() } : {}) };
    this.messages.push(held);
    return held;
  }

  /** MessageRetentionPeriod: SQS deletes a message this long after it was sent. */
  private expire(now: number): void {
    const oldest = now - DEAD_LETTER_RETENTION_SECONDS * 1000;
    for (let at = this.messages.length - 1; at >= 0; at -= 1) {
      if (this.messages[at]!.enqueuedAt < oldest) this.messages.splice(at, 1);
    }
  }
}
