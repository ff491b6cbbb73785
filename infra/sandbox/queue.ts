import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { ATTEMPT_ATTRIBUTE } from '../../shared/ports';
import { deployed } from '../deploy/settings';
import { ApiError } from './aws/protocol';
import { md5OfBody, queueArnOf, queueUrlOf, type MessageAttribute, type ReceivedMessage } from './aws/sqs-api';
import type { Scheduler } from './cloud/scheduler';

export interface QueueOptions {
  /** the queue's URL; a FIFO queue when its name ends in .fifo */
  url: string;
  /** a received message not deleted is visible again after this long (VisibilityTimeout; SQS's default 30 s) */
  visibilityTimeoutMs?: number;
  /** FIFO: a message sent without a deduplication id is deduplicated by its body's SHA-256 */
  contentBasedDeduplication?: boolean;
  /** the message group of a message sent without one (EventBridge's target: the cluster) */
  groupId?: string;
  /** the redrive policy: receives before the dead-letter queue, <name>-dlq[.fifo], which the queue creates */
  maxReceiveCount?: number;
  /** MessageRetentionPeriod (SQS's default four days; a dead-letter queue keeps 14) */
  retentionSeconds?: number;
  /**
   * Lambda's event source mapping: it alone receives, batchSize records at most, and fewer once the
   * batching window since the first of them has passed; batches run side by side, on a FIFO queue one
   * per message group at a time. Without it an operator receives (a dead-letter queue).
   */
  eventSource?: { batchSize: number; batchingWindowMs: number };
}

/** Lambda's SQS event source: a batch of records in; `batchItemFailures` (or a throw, for all of them) out. */
export type BatchFunction = (event: SQSEvent) => Promise<unknown>;

interface Message {
  messageId: string;
  body: string;
  /** message attributes, each with its data type (warren's retry marks are Numbers) */
  attributes: Record<string, MessageAttribute>;
  sentAt: number;
  receiveCount: number;
  groupId?: string;
  deduplicationId?: string;
  sequenceNumber?: string;
  /** the queue it was redriven from */
  sourceArn?: string;
  /** after a receive: hidden until then (and on a FIFO queue its group with it) */
  visibleAt: number;
  receiptHandle?: string;
  firstReceivedAt?: number;
  /** in the function's batch: in flight until the invocation ends */
  invoked?: boolean;
  /** how the last invocation that received it failed, when it threw */
  lastFailure?: string;
}

/**
 * A message in a dead-letter queue, as tests and the sandbox's status read it; `error` says why: the
 * warren.error attribute of a message the heal function sent there, else how its receives failed.
 */
export type DeadLetter = Message & { error: string };

/** What SendMessage did: the message's id (the one it duplicates, when FIFO deduplication dropped it). */
export interface SendResult {
  messageId: string;
  sequenceNumber?: string;
  duplicate: boolean;
}

/** What a message move task carries to the destination: body, attributes and FIFO ids; sourceArn names the queue the redrive policy took it from. */
export interface MovableMessage {
  messageId: string;
  body: string;
  attributes: Record<string, MessageAttribute>;
  groupId?: string;
  deduplicationId?: string;
  sourceArn?: string;
}

/** One invocation of the function, as the queue saw it. */
export interface Delivery {
  at: number;
  records: number;
  durationMs: number;
  /** records reported in batchItemFailures, or all of them when the function threw */
  failed: number;
}

const DEDUPLICATION_WINDOW_MS = 5 * 60_000;
const SANDBOX_ARN = 'arn:aws:sqs:us-east-1:123456789012:warren-sandbox-';

/**
 * The sandbox's SQS queue: FIFO (deduplication for five minutes, sequence numbers, a message group held
 * while one of its messages is in flight) or standard; visibility timeouts and ChangeMessageVisibility;
 * the redrive to its dead-letter queue after maxReceiveCount receives; and either Lambda's event source
 * mapping in front of a function (records built as Lambda builds them, `batchItemFailures` honoured) or
 * ReceiveMessage and DeleteMessage for an operator. The SQS API (aws/sqs-api.ts) checks what SQS checks
 * before a message gets here.
 */
export class LocalQueue {
  readonly arn: string;
  readonly name: string;
  readonly fifo: boolean;
  /** the redrive policy's target */
  readonly deadLetterQueue?: LocalQueue;
  /** without an event source: every message that came in (a dead-letter queue's), whatever was deleted since */
  readonly arrived: DeadLetter[] = [];
  readonly deliveries: Delivery[] = [];
  private readonly messages: Message[] = [];
  private readonly seen = new Map<string, { at: number; messageId: string; sequenceNumber?: string }>();
  private readonly issuedHandles = new Set<string>();
  private sequence = BigInt(Date.UTC(2024, 0, 1)) * 10_000_000n;
  private readonly createdAt: number;
  private readonly visibilityTimeoutMs: number;
  private windowTimer?: () => void;
  private wake?: { at: number; cancel: () => void };
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  /** `consumer` may come later, when it needs the queue (the sandbox's heal function) */
  constructor(
    readonly scheduler: Scheduler,
    readonly options: QueueOptions,
    private consume?: BatchFunction,
  ) {
    this.arn = queueArnOf(options.url);
    this.name = this.arn.split(':')[5]!;
    this.fifo = this.name.endsWith('.fifo');
    this.visibilityTimeoutMs = options.visibilityTimeoutMs ?? 30_000;
    this.createdAt = scheduler.now();
    if (options.maxReceiveCount !== undefined)
      this.deadLetterQueue = new LocalQueue(scheduler, { url: options.url.replace(/(\.fifo)?$/, '-dlq$1'), retentionSeconds: 1_209_600 });
  }

  get url(): string {
    return this.options.url;
  }

  /** The function Lambda invokes with each batch. */
  set consumer(consume: BatchFunction | undefined) {
    this.consume = consume;
    this.pump();
  }

  /** Every message that entered the dead-letter queue, in order (an operator deleting one there does not remove it here). */
  get deadLetters(): DeadLetter[] {
    return this.deadLetterQueue?.arrived ?? [];
  }

  /**
   * SendMessage: as the SQS API hands it over (checked), or as EventBridge's target sends a body (on
   * the FIFO queue: the queue's group, content-based deduplication). A FIFO message whose deduplication
   * id was seen within five minutes is accepted and dropped.
   */
  send(input: string | { body: string; deduplicationId?: string; groupId?: string; attributes?: Record<string, MessageAttribute> }): SendResult {
    const {
      body,
      attributes = {},
      groupId = this.fifo ? this.options.groupId : undefined,
      deduplicationId: given,
    } = typeof input === 'string' ? { body: input, deduplicationId: undefined } : input;
    const now = this.scheduler.now();
    const deduplicationId = !this.fifo
      ? undefined
      : (given ?? (this.options.contentBasedDeduplication ? createHash('sha256').update(body, 'utf8').digest('hex') : undefined));
    const original = deduplicationId === undefined ? undefined : this.seen.get(deduplicationId);
    if (original && now - original.at < DEDUPLICATION_WINDOW_MS)
      return { messageId: original.messageId, sequenceNumber: original.sequenceNumber, duplicate: true };
    const message = this.hold({ messageId: randomUUID(), body, attributes: { ...attributes }, sentAt: now, groupId, deduplicationId });
    if (deduplicationId !== undefined) {
      this.seen.delete(deduplicationId);
      this.seen.set(deduplicationId, { at: now, messageId: message.messageId, sequenceNumber: message.sequenceNumber });
      // forget what left the window, so a long sandbox run does not keep every id
      for (const [id, { at }] of this.seen) {
        if (now - at < DEDUPLICATION_WINDOW_MS) break;
        this.seen.delete(id);
      }
    }
    if (!this.options.eventSource) {
      const attempt = Number(attributes[ATTEMPT_ATTRIBUTE]?.StringValue);
      const error = attributes['warren.error']?.StringValue ?? 'sent to the dead-letter queue without a warren.error attribute';
      this.arrived.push({ ...message, receiveCount: Number.isFinite(attempt) ? attempt : 0, error });
    }
    this.pump();
    return { messageId: message.messageId, sequenceNumber: message.sequenceNumber, duplicate: false };
  }

  /** ReceiveMessage for an operator: visible messages in order, hidden for the visibility timeout; on a FIFO queue none of a group in flight. */
  receive(max: number, options: { visibilityTimeoutSeconds?: number } = {}): ReceivedMessage[] {
    const taken = this.take(max, options.visibilityTimeoutSeconds === undefined ? this.visibilityTimeoutMs : options.visibilityTimeoutSeconds * 1000);
    for (const message of taken) this.issuedHandles.add(message.receiptHandle!);
    return taken.map((message) => this.view(message));
  }

  /** DeleteMessage: a handle of an earlier receive, or of a message already deleted, is accepted and changes nothing. */
  delete(receiptHandle: string): void {
    if (!this.issuedHandles.delete(receiptHandle)) throw invalidHandle(receiptHandle);
    const message = this.messages.find((candidate) => candidate.receiptHandle === receiptHandle);
    if (message) this.remove(message);
  }

  /** A message move task's next message (aws/sqs-move-tasks.ts): the first one a receive would get, left in place. */
  nextToMove(): MovableMessage | undefined {
    this.expire(this.scheduler.now());
    const message = this.receivable()[0];
    if (!message) return undefined;
    const { messageId, body, attributes, groupId, deduplicationId, sourceArn } = message;
    return { messageId, body, attributes: { ...attributes }, groupId, deduplicationId, sourceArn };
  }

  /** The move task sent it on: it leaves this queue. */
  moved(messageId: string): void {
    const message = this.messages.find((candidate) => candidate.messageId === messageId);
    if (message) this.remove(message);
  }

  /** ChangeMessageVisibility of a message in flight by its last receipt handle (in the function's batch, or hidden after it). */
  changeVisibility(receiptHandle: string, seconds: number): void {
    const message = this.messages.find((candidate) => candidate.receiptHandle === receiptHandle);
    if (!message) throw invalidHandle(receiptHandle);
    const now = this.scheduler.now();
    if (!inFlight(message, now)) throw new ApiError('MessageNotInflight', 'The message referred to is not in flight.');
    message.visibleAt = now + seconds * 1000;
    this.pump();
  }

  /** GetQueueAttributes, as serverless.yml (or a test) creates the queue. */
  attributes(): Record<string, string> {
    const now = this.scheduler.now();
    this.expire(now);
    const hidden = this.messages.filter((message) => inFlight(message, now)).length;
    const created = String(Math.floor(this.createdAt / 1000));
    const { contentBasedDeduplication = false, maxReceiveCount } = this.options;
    return {
      QueueArn: this.arn,
      ApproximateNumberOfMessages: String(this.messages.length - hidden),
      ApproximateNumberOfMessagesNotVisible: String(hidden),
      ApproximateNumberOfMessagesDelayed: '0',
      ...(this.fifo
        ? { FifoQueue: 'true', ContentBasedDeduplication: String(contentBasedDeduplication), DeduplicationScope: 'queue', FifoThroughputLimit: 'perQueue' }
        : {}),
      VisibilityTimeout: String(Math.round(this.visibilityTimeoutMs / 1000)),
      ...(this.deadLetterQueue ? { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: this.deadLetterQueue.arn, maxReceiveCount }) } : {}),
      MaximumMessageSize: '262144',
      MessageRetentionPeriod: String(this.options.retentionSeconds ?? 345_600),
      ReceiveMessageWaitTimeSeconds: '0',
      DelaySeconds: '0',
      SqsManagedSseEnabled: 'true',
      CreatedTimestamp: created,
      LastModifiedTimestamp: created,
    };
  }

  /** Messages waiting, in flight or hidden for their next receive. */
  depth(): number {
    this.expire(this.scheduler.now());
    return this.messages.length;
  }

  /** Resolves once nothing waits, runs or is hidden for a retry. */
  idle(): Promise<void> {
    if (this.messages.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    this.windowTimer?.();
    this.wake?.cancel();
  }

  private hold(message: Omit<Message, 'receiveCount' | 'visibleAt'>): Message {
    if (this.fifo) this.sequence += 1n;
    const held: Message = {
      ...message,
      receiveCount: 0,
      visibleAt: 0,
      ...(this.fifo ? { sequenceNumber: String(this.sequence).padStart(20, '0') } : {}),
    };
    this.messages.push(held);
    return held;
  }

  private remove(message: Message): void {
    const at = this.messages.indexOf(message);
    if (at >= 0) this.messages.splice(at, 1);
    if (this.messages.length === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Receives up to `max` visible messages in order, redriving those received maxReceiveCount times already. */
  private take(max: number, hideMs: number): Message[] {
    const now = this.scheduler.now();
    this.expire(now);
    const taken: Message[] = [];
    for (const message of this.receivable(now)) {
      if (taken.length >= max) break;
      if (this.deadLetterQueue && message.receiveCount >= this.options.maxReceiveCount!) {
        // the redrive policy: same id, body and attributes in the dead-letter queue
        this.remove(message);
        const { messageId, body, attributes, sentAt, groupId, deduplicationId, receiveCount } = message;
        const moved = this.deadLetterQueue.hold({ messageId, body, attributes, sentAt, groupId, deduplicationId, sourceArn: this.arn });
        this.deadLetterQueue.arrived.push({ ...moved, receiveCount, error: message.lastFailure ?? `received ${receiveCount} times without being deleted` });
        continue;
      }
      message.receiveCount += 1;
      message.firstReceivedAt ??= now;
      message.visibleAt = now + hideMs;
      message.receiptHandle = randomBytes(48).toString('base64');
      taken.push(message);
    }
    return taken;
  }

  /** Lambda's poller: full batches at once, what is left after the batching window, hidden messages when they are visible again. */
  private pump(): void {
    const source = this.options.eventSource;
    if (!source || !this.consume || this.stopped) return;
    while (this.receivable().length >= source.batchSize) void this.invoke(this.take(source.batchSize, this.visibilityTimeoutMs));
    if (this.receivable().length > 0 && !this.windowTimer) {
      this.windowTimer = this.scheduler.after(source.batchingWindowMs, () => {
        this.windowTimer = undefined;
        void this.invoke(this.take(source.batchSize, this.visibilityTimeoutMs));
        this.pump();
      });
    }
    // a timer may fire a millisecond early: the next look is then rescheduled
    const now = this.scheduler.now();
    const next = this.messages.reduce(
      (soonest, message) => (!message.invoked && message.visibleAt > now ? Math.min(soonest, message.visibleAt) : soonest),
      Infinity,
    );
    if (this.wake?.at === next) return;
    this.wake?.cancel();
    this.wake =
      next === Infinity
        ? undefined
        : {
            at: next,
            cancel: this.scheduler.after(next - now, () => {
              this.wake = undefined;
              this.pump();
            }),
          };
  }

  /** Visible messages in order, none of a FIFO group in flight. */
  private receivable(now = this.scheduler.now()): Message[] {
    const blocked = new Set(this.fifo ? this.messages.filter((message) => inFlight(message, now)).map((message) => message.groupId) : []);
    return this.messages.filter((message) => !inFlight(message, now) && !blocked.has(message.groupId));
  }

  private async invoke(batch: Message[]): Promise<void> {
    if (batch.length === 0) return;
    const at = this.scheduler.now();
    for (const message of batch) message.invoked = true;
    let failed: Set<string>;
    try {
      const answer = (await this.consume!({ Records: batch.map((message) => this.recordOf(message)) })) as
        | { batchItemFailures?: Array<{ itemIdentifier: string }> }
        | undefined;
      failed = new Set((answer?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
    } catch (error) {
      failed = new Set(batch.map((message) => message.messageId));
      for (const message of batch) message.lastFailure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    this.deliveries.push({
      at,
      records: batch.length,
      durationMs: this.scheduler.now() - at,
      failed: batch.filter((message) => failed.has(message.messageId)).length,
    });
    for (const message of batch) {
      message.invoked = false;
      // Lambda deletes what the function handled
      if (!failed.has(message.messageId)) this.remove(message);
    }
    this.pump();
  }

  /** A received message as ReceiveMessage answers it. */
  private view(message: Message): ReceivedMessage {
    return {
      MessageId: message.messageId,
      ReceiptHandle: message.receiptHandle!,
      Body: message.body,
      ...(Object.keys(message.attributes).length > 0 ? { MessageAttributes: { ...message.attributes } } : {}),
      Attributes: {
        ApproximateReceiveCount: String(message.receiveCount),
        SentTimestamp: String(message.sentAt),
        ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt),
        SenderId: 'AIDAEXAMPLE',
        ...(message.groupId !== undefined ? { MessageGroupId: message.groupId } : {}),
        ...(message.deduplicationId !== undefined ? { MessageDeduplicationId: message.deduplicationId } : {}),
        ...(message.sequenceNumber !== undefined ? { SequenceNumber: message.sequenceNumber } : {}),
        ...(message.sourceArn ? { DeadLetterQueueSourceArn: message.sourceArn } : {}),
      },
    };
  }

  /** The record as Lambda hands it to the function: its attributes camel-cased, with empty lists. */
  private recordOf(message: Message): SQSRecord {
    const { MessageId, ReceiptHandle, Body, Attributes, MessageAttributes = {} } = this.view(message);
    return {
      messageId: MessageId,
      receiptHandle: ReceiptHandle,
      body: Body,
      attributes: Attributes as unknown as SQSRecord['attributes'],
      messageAttributes: Object.fromEntries(
        Object.entries(MessageAttributes).map(([name, attribute]) => [
          name,
          { stringValue: attribute.StringValue, dataType: attribute.DataType, stringListValues: [], binaryListValues: [] },
        ]),
      ),
      md5OfBody: md5OfBody(Body),
      eventSource: 'aws:sqs',
      eventSourceARN: this.arn,
      awsRegion: this.arn.split(':')[3]!,
    };
  }

  /** MessageRetentionPeriod: SQS deletes a message this long after it was sent. */
  private expire(now: number): void {
    const oldest = now - (this.options.retentionSeconds ?? 345_600) * 1000;
    for (const message of this.messages.filter((candidate) => candidate.sentAt < oldest && !candidate.invoked)) this.remove(message);
  }
}

function inFlight(message: Message, now: number): boolean {
  return message.invoked === true || message.visibleAt > now;
}

function invalidHandle(receiptHandle: string): ApiError {
  return new ApiError('ReceiptHandleIsInvalid', `The input receipt handle "${receiptHandle}" is not a valid receipt handle.`, 404);
}

/** The heal FIFO queue as serverless.yml deploys it, and the heal function's event source mapping (batch size 1). */
export function healQueueOptions(groupId: string, url = queueUrlOf(`${SANDBOX_ARN}heal.fifo`)): QueueOptions {
  const { visibilityTimeoutSeconds, maxReceiveCount } = deployed.queue;
  return {
    url,
    groupId,
    contentBasedDeduplication: true,
    visibilityTimeoutMs: visibilityTimeoutSeconds * 1000,
    maxReceiveCount,
    eventSource: { batchSize: 1, batchingWindowMs: 0 },
  };
}

/** The triage queue and its event source mapping as serverless.yml deploys them. */
export function triageQueueOptions(url = queueUrlOf(`${SANDBOX_ARN}triage`)): QueueOptions {
  const { batchSize, batchingWindowSeconds, visibilityTimeoutSeconds, maxReceiveCount } = deployed.triage;
  return {
    url,
    visibilityTimeoutMs: visibilityTimeoutSeconds * 1000,
    maxReceiveCount,
    eventSource: { batchSize, batchingWindowMs: batchingWindowSeconds * 1000 },
  };
}
