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

interface QueueRecord {
  messageId: string;
  body: string;
}

function queueRecords(payload: unknown): QueueRecord[] | undefined {
  const records = (payload as { Records?: unknown })?.Records;
  if (!Array.isArray(records)) return undefined;
  return records.filter((record): record is QueueRecord => record?.eventSource === 'aws:sqs' && typeof record.body === 'string');
}

/**
 * One invocation: an SQS batch (the heal function) or a raw EventBridge event / direct call.
 * A skipped event is logged with its reason and acknowledged; any other failure is logged and
 * rethrown, so SQS retries the message and in the end moves it to the dead-letter queue.
 */
export async function handleInvocation(payload: unknown, wiring: Wiring, remainingMs: () => number): Promise<Outcome | Outcome[]> {
  const records = queueRecords(payload);
  const deadline = wiring.clock.now() + remainingMs() - DEADLINE_MARGIN_MS;
  try {
    if (records === undefined) {
      return await handleOne(() => parseEvent(payload), undefined, wiring, deadline);
    }
    // Records of one FIFO group arrive in order; each one finishes before the next starts.
    const outcomes: Outcome[] = [];
    for (const record of records) {
      outcomes.push(await handleOne(() => parseQueueMessage(record.body), record.messageId, wiring, deadline));
    }
    return outcomes;
  } finally {
    wiring.telemetry.flush();
  }
}

async function handleOne(parse: () => WarrenEvent, messageId: string | undefined, wiring: Wiring, deadline: number): Promise<Outcome> {
  const { telemetry, accepts, ...ports } = wiring;
  let event: WarrenEvent | undefined;
  let log = withCorrelation(telemetry.logger, messageId ?? 'direct-invocation');
  const started = wiring.clock.now();
  try {
    event = parse();
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

function describe(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  return { name: error.name, message: error.message, cause: error.cause instanceof Error ? error.cause.message : undefined };
}
