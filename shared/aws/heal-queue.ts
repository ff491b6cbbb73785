import { randomUUID } from 'node:crypto';
import { reconcileRequest } from '../events/reconcile';
import { ChangeMessageVisibilityCommand, GetQueueAttributesCommand, SendMessageCommand, type SQSClient, type MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { Config } from '../config';
import { ConfigError } from '../errors';
import { ATTEMPT_ATTRIBUTE, NOT_BEFORE_ATTRIBUTE, type HealQueue, type QueuedRecord, type RetryMark } from '../ports';
import { createSqsClient } from './clients';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { ForwardedEvent, ForwardFailure } from '../ports';
import { AwsRequestFailed, request } from './errors';

const DEDUPLICATION_WINDOW_MS = 60_000;
const DEPTH_ATTRIBUTES = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] as const;

/** SendMessageBatch takes 10 entries a call, of at most 256 KiB together (1 MiB in regions that raised it: the lower bound holds everywhere). */
const ENTRIES_PER_CALL = 10;
const BYTES_PER_CALL = 256 * 1024;

/** Consecutive runs of events that fit one SendMessageBatch each. */
function sendBatches(events: ForwardedEvent[]): ForwardedEvent[][] {
  const batches: ForwardedEvent[][] = [];
  let current: ForwardedEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = Buffer.byteLength(event.body, 'utf8');
    if (current.length === ENTRIES_PER_CALL || (current.length > 0 && bytes + size > BYTES_PER_CALL)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export interface SqsHealQueueOptions {
  /** epoch ms; injected so tests can place enqueues inside or across a deduplication minute */
  now?: () => number;
}

/**
 * The heal function's FIFO queue. A reconcile request is an EventBridge-shaped event of warren's
 * own source (see shared/events/reconcile.ts), so it is never mistaken for the scheduled tick.
 */
export class SqsHealQueue implements HealQueue {
  private readonly sqs: SQSClient;
  private readonly queueUrl: string;
  private readonly now: () => number;

  constructor(
    private readonly config: Pick<Config, 'clusterName' | 'healQueueUrl' | 'healDeadLetterQueueUrl'>,
    clients: { sqs?: SQSClient } = {},
    options: SqsHealQueueOptions = {},
  ) {
    if (!config.healQueueUrl) throw new ConfigError('invalid configuration: HEAL_QUEUE_URL is required to enqueue a reconcile');
    this.queueUrl = config.healQueueUrl;
    this.sqs = clients.sqs ?? createSqsClient();
    this.now = options.now ?? Date.now;
  }

  /*
   * Every membership change of a cluster shares one message group, so reconciles queue behind
   * them. The deduplication id is the minute: a burst of alarms asking for a reconcile
   * collapses into one, whatever reason each one gives.
   */
  async enqueueReconcile(reason: string): Promise<void> {
    const now = this.now();
    const event = reconcileRequest(reason, { now: () => now, newId: () => randomUUID() });
    const minute = Math.floor(now / DEDUPLICATION_WINDOW_MS);
    await request('SendMessage', () =>
      this.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.queueUrl,
          MessageBody: JSON.stringify(event),
          MessageGroupId: this.config.clusterName,
          MessageDeduplicationId: `${this.config.clusterName}-reconcile-${minute}`,
        }),
      ),
    );
  }

  /*
   * The deduplication id is the EventBridge event id: an event EventBridge delivered twice into the
   * triage queue, or one sent again after a partial failure, enters the group once. A call that fails
   * as a whole (after the SDK's retries) refuses its entries only: the other calls' entries are in.
   */
  async forward(events: ForwardedEvent[]): Promise<ForwardFailure[]> {
    const refused: ForwardFailure[] = [];
    for (const batch of sendBatches(events)) {
      try {
        const answer = await request('SendMessageBatch', () =>
          this.sqs.send(
            new SendMessageBatchCommand({
              QueueUrl: this.queueUrl,
              Entries: batch.map((event, n) => ({
                Id: String(n),
                MessageBody: event.body,
                MessageGroupId: this.config.clusterName,
                MessageDeduplicationId: event.id,
              })),
            }),
          ),
        );
        for (const failed of answer.Failed ?? []) {
          const event = batch[Number(failed.Id)];
          if (event) refused.push({ id: event.id, reason: `${failed.Code ?? 'unknown'}: ${failed.Message ?? ''}`.trim() });
        }
      } catch (error) {
        if (!(error instanceof AwsRequestFailed)) throw error;
        refused.push(...batch.map((event) => ({ id: event.id, reason: error.message })));
      }
    }
    return refused;
  }

  /*
   * The deduplication id is the failed message's own id: an SDK retry of this send after a lost
   * answer is dropped by SQS instead of queuing the event twice.
   */
  async retryLater(record: QueuedRecord, mark: RetryMark): Promise<void> {
    await request('SendMessage', () =>
      this.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.queueUrl,
          MessageBody: record.body,
          MessageGroupId: record.groupId,
          MessageDeduplicationId: `retry-${record.messageId}`,
          MessageAttributes: {
            [ATTEMPT_ATTRIBUTE]: numberAttribute(mark.attempt),
            [NOT_BEFORE_ATTRIBUTE]: numberAttribute(mark.notBefore),
          },
        }),
      ),
    );
  }

  async deadLetter(record: QueuedRecord, attempt: number, error: string): Promise<void> {
    const queueUrl = this.config.healDeadLetterQueueUrl;
    if (!queueUrl) throw new ConfigError('invalid configuration: HEAL_DEAD_LETTER_QUEUE_URL is required to dead-letter an event');
    await request('SendMessage', () =>
      this.sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: record.body,
          MessageGroupId: record.groupId,
          MessageDeduplicationId: `dead-${record.messageId}`,
          MessageAttributes: {
            [ATTEMPT_ATTRIBUTE]: numberAttribute(attempt),
            // an attribute value holds up to 256 KiB; the error is cut far below that
            'warren.error': { DataType: 'String', StringValue: error.slice(0, 4_000) || 'unknown' },
          },
        }),
      ),
    );
  }

  /**
   * GetQueueAttributes of the heal queue and its dead-letter queue, for `warren status`: events waiting
   * or in flight (visible, in flight, delayed), and dead letters; null when no dead-letter queue is configured.
   */
  async depths(): Promise<{ depth: number; inFlight: number; deadLetters: number | null }> {
    const count = async (queueUrl: string) => {
      const answer = await request('GetQueueAttributes', () =>
        this.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: [...DEPTH_ATTRIBUTES] })),
      );
      const of = (name: (typeof DEPTH_ATTRIBUTES)[number]) => Number(answer.Attributes?.[name] ?? 0);
      return {
        visible: of('ApproximateNumberOfMessages'),
        inFlight: of('ApproximateNumberOfMessagesNotVisible'),
        delayed: of('ApproximateNumberOfMessagesDelayed'),
      };
    };
    const heal = await count(this.queueUrl);
    const dead = this.config.healDeadLetterQueueUrl ? await count(this.config.healDeadLetterQueueUrl) : undefined;
    return {
      depth: heal.visible + heal.inFlight + heal.delayed,
      inFlight: heal.inFlight,
      deadLetters: dead ? dead.visible + dead.inFlight + dead.delayed : null,
    };
  }

  async hideFor(record: QueuedRecord, seconds: number): Promise<void> {
    await request('ChangeMessageVisibility', () =>
      this.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.queueUrl,
          ReceiptHandle: record.receiptHandle,
          VisibilityTimeout: Math.max(0, Math.min(43_200, seconds)),
        }),
      ),
    );
  }
}

const numberAttribute = (value: number): MessageAttributeValue => ({ DataType: 'Number', StringValue: String(value) });
