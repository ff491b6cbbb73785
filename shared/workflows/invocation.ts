import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { SQSRecord } from 'aws-lambda';
import { EventSkipped } from '../errors';
import { parseEvent, parseQueueMessage } from '../events';
import type { EventKind, WarrenEvent } from '../events/types';
import { withCorrelation, type Observability } from '../observability';
import type { Clock, HealQueue, QueuedRecord } from '../ports';
import { invocationDeps, type Deps, type Outcome } from './deps';
import { runWorkflow } from './index';
import { redeliveryAfter, retryMarkOf } from './redelivery';

/** What a handler wires once per cold start; everything in Deps but the per-invocation log and deadline. */
export type Wiring = Omit<Deps, 'log' | 'deadline'> & {
  telemetry: Observability;
  /** the event kinds this function handles; anything else is skipped */
  accepts: readonly EventKind[];
  /** told how each queue record ended (the sandbox's timeline of heals); nothing in Lambda */
  onRecordAnswered?: (answer: { messageId: string; outcome?: Outcome; error?: unknown; deferred?: boolean }) => void;
};

/** Time kept back from the Lambda timeout to log, flush metrics and return. */
export const DEADLINE_MARGIN_MS = 15_000;

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** The answer to an SQS batch under `functionResponseType: ReportBatchItemFailures` (serverless.yml). */
export interface QueueBatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>;
}

const SQS_EVENT_SOURCE = 'aws:sqs';

export function queueRecords(payload: unknown): unknown[] | undefined {
  const records = (payload as { Records?: unknown } | null | undefined)?.Records;
  return Array.isArray(records) ? records : undefined;
}

export function messageIdOf(record: unknown): string | undefined {
  const messageId = (record as { messageId?: unknown } | null)?.messageId;
  return typeof messageId === 'string' ? messageId : undefined;
}

/** An SQS record's body, or EventSkipped: a record of another source has nothing warren can act on. */
export function bodyOf(record: unknown): string {
  const { eventSource, body } = (typeof record === 'object' && record !== null ? record : {}) as { eventSource?: unknown; body?: unknown };
  if (eventSource !== SQS_EVENT_SOURCE || typeof body !== 'string') {
    throw new EventSkipped('batch record is not an SQS message with a text body', {
      eventSource: typeof eventSource === 'string' ? eventSource.slice(0, 100) : typeof eventSource,
      body: typeof body,
    });
  }
  return body;
}

/**
 * A raw EventBridge event or a direct call (such as {"dryRun": true}): a skipped event is logged with
 * its reason and acknowledged; any other failure is logged and rethrown, for the caller (Lambda's
 * asynchronous retries, or whoever invoked it) to see.
 */
async function answerDirect(payload: unknown, wiring: Wiring, remainingMs: () => number): Promise<Outcome> {
  const deadline = wiring.clock.now() + remainingMs() - DEADLINE_MARGIN_MS;
  try {
    return await handleOne(() => parseEvent(payload), undefined, wiring, deadline);
  } finally {
    wiring.telemetry.flush();
  }
}

/**
 * What the Lambda runtime gets. For an SQS batch, each record is answered on its own: a record that
 * failed is sent again at the tail of its group for a later attempt, or to the dead-letter queue after
 * its last (shared/workflows/redelivery.ts), and acknowledged. Only a record that could not be handed on
 * so is reported as a batch item failure, with every record after it (a FIFO group keeps its order:
 * Powertools' FIFO batch processor), and made visible again within seconds where SQS lets it. Without a
 * heal queue to hand records on to, a failed record itself is the batch item failure. A direct event
 * is answered by answerDirect.
 */
export async function answerLambda(payload: unknown, wiring: Wiring, remainingMs: () => number): Promise<Outcome | QueueBatchResponse> {
  const records = queueRecords(payload);
  if (records === undefined) return answerDirect(payload, wiring, remainingMs);
  const deadline = wiring.clock.now() + remainingMs() - DEADLINE_MARGIN_MS;
  const queue = wiring.queue;
  try {
    if (records.length === 0)
      await handleOne(
        () => {
          throw new EventSkipped('SQS batch without records');
        },
        undefined,
        wiring,
        deadline,
      );
    // a record SQS would not name cannot be reported: skipped with its reason, or, failing, the whole batch fails
    for (const record of records) if (!messageIdOf(record)) await handleOne(() => parseQueueMessage(bodyOf(record)), undefined, wiring, deadline);
    const named = records.filter((record) => messageIdOf(record) !== undefined) as SQSRecord[];
    const answer = async (record: SQSRecord) => {
      if (!queue) {
        await handleOne(() => parseQueueMessage(bodyOf(record)), record.messageId, wiring, deadline);
        return;
      }
      const handedOn = await answerRecord(record, record.messageId, queue, wiring, deadline);
      if (handedOn === 'not-handed-on') throw new Error(`record ${record.messageId} goes back to the queue`);
    };
    const response = await processPartialResponse({ Records: named }, answer, new SqsFifoPartialProcessorAsync(), { throwOnFullBatchFailure: false });
    const failed = response.batchItemFailures.map((failure) => failure.itemIdentifier);
    if (failed.length > 1) {
      withCorrelation(wiring.telemetry.logger, failed[0]!).warn('records after the failed one go back to the queue unprocessed, in order', {
        messageIds: failed.slice(1),
      });
    }
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  } finally {
    wiring.telemetry.flush();
  }
}

/** One record: deferred while its retry is not due, else run; a failure is handed on for a later attempt. */
async function answerRecord(record: unknown, messageId: string, queue: HealQueue, wiring: Wiring, deadline: number): Promise<'done' | 'not-handed-on'> {
  const log = withCorrelation(wiring.telemetry.logger, messageId);
  const queued = queuedRecordOf(record, messageId, wiring.config.clusterName);
  const mark = retryMarkOf(record);
  const early = mark.notBefore - wiring.clock.now();
  if (early > 0 && queued) {
    try {
      await queue.hideFor(queued, Math.ceil(early / 1000));
      log.info('retry not due yet: back in the queue until then', { messageId, attempt: mark.attempt, inSeconds: Math.ceil(early / 1000) });
      wiring.onRecordAnswered?.({ messageId, deferred: true });
      return 'not-handed-on';
    } catch (error) {
      log.warn('could not defer a retry that is not due; running it now', { messageId, error: describe(error) });
    }
  }
  try {
    const outcome = await handleOne(() => parseQueueMessage(bodyOf(record)), messageId, wiring, deadline);
    wiring.onRecordAnswered?.({ messageId, outcome });
    return 'done';
  } catch (error) {
    wiring.onRecordAnswered?.({ messageId, error });
    if (!queued) return 'not-handed-on';
    const next = redeliveryAfter(error, mark.attempt, wiring.config.retry, wiring.clock.now());
    try {
      if (next.kind === 'dead-letter') {
        await queue.deadLetter(queued, next.attempt, errorText(error));
        wiring.metrics.count('HealDeadLettered');
        log.error('event failed its last attempt: sent to the dead-letter queue', { messageId, attempts: next.attempt, error: describe(error) });
      } else {
        await queue.retryLater(queued, next.mark);
        wiring.metrics.count('HealRetries');
        log.warn('event sent again for a later attempt', { messageId, attempt: next.mark.attempt, inSeconds: next.delaySeconds });
      }
      return 'done';
    } catch (sendError) {
      // SQS redelivers it then; shortening its invisibility keeps that to seconds rather than the visibility timeout
      const delaySeconds = next.kind === 'retry' ? next.delaySeconds : 0;
      log.error('could not hand the failed event on; it goes back to the queue', { messageId, error: describe(sendError) });
      await queue
        .hideFor(queued, delaySeconds)
        .catch((hideError: unknown) => log.warn('could not shorten its invisibility', { messageId, error: describe(hideError) }));
      return 'not-handed-on';
    }
  }
}

function queuedRecordOf(record: unknown, messageId: string, clusterName: string): QueuedRecord | undefined {
  const { receiptHandle, body, attributes } = (record ?? {}) as { receiptHandle?: unknown; body?: unknown; attributes?: { MessageGroupId?: unknown } };
  if (typeof receiptHandle !== 'string' || typeof body !== 'string') return undefined;
  const groupId = typeof attributes?.MessageGroupId === 'string' ? attributes.MessageGroupId : clusterName;
  return { messageId, receiptHandle, body, groupId };
}

async function handleOne(parse: () => WarrenEvent, messageId: string | undefined, wiring: Wiring, deadline: number): Promise<Outcome> {
  const { telemetry, accepts, onRecordAnswered: _observer, ...ports } = wiring;
  let event: WarrenEvent | undefined;
  let log = withCorrelation(telemetry.logger, messageId ?? 'direct-invocation');
  const started = wiring.clock.now();
  try {
    event = convert(parse);
    log = withCorrelation(telemetry.logger, event.id);
    log.info('event received', { kind: event.kind, messageId });
    if (!accepts.includes(event.kind)) throw new EventSkipped(`this function does not handle ${event.kind} events`);
    const outcome = await runWorkflow(event, invocationDeps(ports, log, deadline));
    ports.metrics.durationMs(`${event.kind}Duration`, wiring.clock.now() - started);
    log.info('event handled', { kind: event.kind, ...outcome });
    return outcome;
  } catch (error) {
    if (error instanceof EventSkipped) {
      ports.metrics.count('EventsSkipped');
      log.warn('event skipped', { reason: error.reason, ...error.details, kind: event?.kind, messageId });
      return { result: 'done', reason: `skipped: ${error.reason}` };
    }
    ports.metrics.count('HealFailures');
    log.error('event failed; it will be retried', { kind: event?.kind, messageId, error: describe(error) });
    throw error;
  }
}

/** Converting the same bytes fails the same way every time: a crash in a converter is a skip, not a retry. */
export function convert(parse: () => WarrenEvent): WarrenEvent {
  try {
    return parse();
  } catch (error) {
    if (error instanceof EventSkipped) throw error;
    throw new EventSkipped(`event could not be converted: ${error instanceof Error ? error.message : String(error)}`, { error: describe(error) });
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export function describe(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  return { name: error.name, message: error.message, cause: error.cause instanceof Error ? error.cause.message : undefined };
}
