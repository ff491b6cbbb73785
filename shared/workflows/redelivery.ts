import { BudgetExhausted } from '../errors';
import type { Config } from '../config';
import { ATTEMPT_ATTRIBUTE, NOT_BEFORE_ATTRIBUTE, type RetryMark } from '../ports';

/**
 * How a failed event is tried again. SQS would redeliver a failed FIFO message only after the queue's
 * visibility timeout (minutes), holding every later event of the cluster behind it all that time.
 * Instead the invocation shell sends the event again at the tail of its group, marked with its next
 * attempt and the time before which it must not run: the cluster's other events go first, and the
 * retry comes back in seconds. The marks travel as SQS message attributes, so the body stays the event.
 */

export type Redelivery = { kind: 'retry'; mark: RetryMark; delaySeconds: number } | { kind: 'dead-letter'; attempt: number };

/**
 * What follows a failed attempt. An invocation that ran out of time made progress on a wait whose own
 * bound ends it: it resumes at once and does not count as a failed attempt. Any other failure comes
 * back after firstDelaySeconds, doubling, until maxAttempts have failed.
 */
export function redeliveryAfter(error: unknown, attempt: number, retry: Config['retry'], now: number): Redelivery {
  if (error instanceof BudgetExhausted) return { kind: 'retry', mark: { attempt, notBefore: now }, delaySeconds: 0 };
  if (attempt >= retry.maxAttempts) return { kind: 'dead-letter', attempt };
  const delaySeconds = retry.firstDelaySeconds * 2 ** (attempt - 1);
  return { kind: 'retry', mark: { attempt: attempt + 1, notBefore: now + delaySeconds * 1000 }, delaySeconds };
}

/** The SQS record fields a mark is read from (Lambda's SQSRecord shape). */
interface MarkedRecord {
  messageAttributes?: Record<string, { stringValue?: unknown } | undefined>;
}

const positiveInteger = (value: unknown): number | undefined => {
  const n = typeof value === 'string' ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};

/**
 * The record's attempt and the time it may run; an unmarked record is a first attempt. SQS's own
 * receive count is not an attempt count (a retry received before it is due is deferred, one receive):
 * a message whose invocations keep dying without an answer is caught by the queue's redrive instead.
 */
export function retryMarkOf(record: unknown): RetryMark {
  const { messageAttributes } = (record ?? {}) as MarkedRecord;
  return {
    attempt: Math.max(1, positiveInteger(messageAttributes?.[ATTEMPT_ATTRIBUTE]?.stringValue) ?? 1),
    notBefore: positiveInteger(messageAttributes?.[NOT_BEFORE_ATTRIBUTE]?.stringValue) ?? 0,
  };
}
