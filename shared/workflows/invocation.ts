import { EventSkipped } from '../errors';
import { parseEvent, parseQueueMessage } from '../events';
import type { EventKind, WarrenEvent } from '../events/types';
import { withCorrelation, type Observability } from '../observability';
import type { Clock } from '../ports';
import type { Deps, Outcome } from './deps';
import { runWorkflow } from './index';

/** What a handler wires once per cold start; everything in Deps but the per-invocation log and deadline. */
export type Wiring = Omit<Deps, 'log' | 'deadline'> & {
  telemetry: Observability;
  /** the event kinds this function handles; anything else is skipped */
  accepts: readonly EventKind[];
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

interface BatchRun {
  outcomes: Outcome[];
  /** the first record that failed; the records after it were not processed */
  failure?: { index: number; error: unknown };
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
 * One invocation: an SQS batch (the heal function) or a raw EventBridge event / direct call.
 * A skipped event is logged with its reason and acknowledged; any other failure is logged and
 * rethrown, so the message is retried and in the end moves to the dead-letter queue. The sandbox's
 * queue calls this; Lambda gets `answerLambda`, which reports a failed record instead of throwing.
 */
export async function handleInvocation(payload: unknown, wiring: Wiring, remainingMs: () => number): Promise<Outcome | Outcome[]> {
  const records = queueRecords(payload);
  const deadline = wiring.clock.now() + remainingMs() - DEADLINE_MARGIN_MS;
  try {
    if (records === undefined) {
      return await handleOne(() => parseEvent(payload), undefined, wiring, deadline);
    }
    const run = await handleBatch(records, wiring, deadline);
    if (run.failure) throw run.failure.error;
    return run.outcomes;
  } finally {
    wiring.telemetry.flush();
  }
}

/**
 * What the Lambda runtime gets. For an SQS batch: the record that failed and every record after it
 * are reported as batch item failures (a FIFO group must keep its order), the records before it are
 * acknowledged and not run again. Anything else is answered like handleInvocation.
 */
export async function answerLambda(payload: unknown, wiring: Wiring, remainingMs: () => number): Promise<Outcome | QueueBatchResponse> {
  const records = queueRecords(payload);
  if (records === undefined) return (await handleInvocation(payload, wiring, remainingMs)) as Outcome;
  const deadline = wiring.clock.now() + remainingMs() - DEADLINE_MARGIN_MS;
  try {
    const { failure } = await handleBatch(records, wiring, deadline);
    if (!failure) return { batchItemFailures: [] };
    const failed = messageIdOf(records[failure.index]);
    // a record SQS would not name cannot be reported; failing the whole batch is the safe answer then
    if (!failed) throw failure.error;
    const unprocessed = records.slice(failure.index + 1).flatMap((record) => messageIdOf(record) ?? []);
    if (unprocessed.length > 0) {
      withCorrelation(wiring.telemetry.logger, failed).warn(
        'records after the failed one go back to the queue unprocessed, in order',
        { messageIds: unprocessed },
      );
    }
    return { batchItemFailures: [failed, ...unprocessed].map((itemIdentifier) => ({ itemIdentifier })) };
  } finally {
    wiring.telemetry.flush();
  }
}

/** Records of one FIFO group arrive in order; each one finishes before the next starts, and a failure stops the batch. */
async function handleBatch(records: unknown[], wiring: Wiring, deadline: number): Promise<BatchRun> {
  if (records.length === 0) {
    return { outcomes: [await handleOne(() => { throw new EventSkipped('SQS batch without records'); }, undefined, wiring, deadline)] };
  }
  const outcomes: Outcome[] = [];
  for (const [index, record] of records.entries()) {
    try {
      outcomes.push(await handleOne(() => parseQueueMessage(bodyOf(record)), messageIdOf(record), wiring, deadline));
    } catch (error) {
      return { outcomes, failure: { index, error } };
    }
  }
  return { outcomes };
}

async function handleOne(parse: () => WarrenEvent, messageId: string | undefined, wiring: Wiring, deadline: number): Promise<Outcome> {
  const { telemetry, accepts, ...ports } = wiring;
  let event: WarrenEvent | undefined;
  let log = withCorrelation(telemetry.logger, messageId ?? 'direct-invocation');
  const started = wiring.clock.now();
  try {
    event = convert(parse);
    log = withCorrelation(telemetry.logger, event.id);
    log.info('event received', { kind: event.kind, messageId });
    if (!accepts.includes(event.kind)) throw new EventSkipped(`this function does not handle ${event.kind} events`);
    const outcome = await runWorkflow(event, { ...ports, log, deadline });
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

export function describe(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  return { name: error.name, message: error.message, cause: error.cause instanceof Error ? error.cause.message : undefined };
}
