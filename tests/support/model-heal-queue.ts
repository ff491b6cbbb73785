import { randomUUID } from 'node:crypto';
import type { MessageAttribute } from '../../infra/sandbox/aws/sqs-api';
import type { LocalQueue } from '../../infra/sandbox/queue';
import { reconcileRequest } from '../../shared/events';
import {
  ATTEMPT_ATTRIBUTE,
  NOT_BEFORE_ATTRIBUTE,
  type ForwardedEvent,
  type ForwardFailure,
  type HealQueue,
  type QueuedRecord,
  type RetryMark,
} from '../../shared/ports';

/**
 * The HealQueue port straight onto the queue model, for the tests on virtual time (the fake clock
 * jumps whenever a task waits on I/O, so they cannot reach the model through the endpoint). It sends
 * what SqsHealQueue sends (shared/aws/heal-queue.ts; the contract suite proves that adapter on moto and
 * on the local AWS): the same deduplication ids, message group and attributes.
 */
export function healQueueOnModel(queue: LocalQueue): HealQueue {
  const groupId = queue.options.groupId!;
  const number = (value: number): MessageAttribute => ({ DataType: 'Number', StringValue: String(value) });
  return {
    async enqueueReconcile(reason: string) {
      const now = queue.scheduler.now();
      const body = JSON.stringify(reconcileRequest(reason, { now: () => now, newId: () => randomUUID() }));
      queue.send({ body, groupId, deduplicationId: `${groupId}-reconcile-${Math.floor(now / 60_000)}`, attributes: {} });
    },
    async forward(events: ForwardedEvent[]): Promise<ForwardFailure[]> {
      for (const event of events) queue.send({ body: event.body, groupId, deduplicationId: event.id, attributes: {} });
      return [];
    },
    async retryLater(record: QueuedRecord, mark: RetryMark) {
      queue.send({
        body: record.body,
        groupId: record.groupId,
        deduplicationId: `retry-${record.messageId}`,
        attributes: { [ATTEMPT_ATTRIBUTE]: number(mark.attempt), [NOT_BEFORE_ATTRIBUTE]: number(mark.notBefore) },
      });
    },
    async deadLetter(record: QueuedRecord, attempt: number, error: string) {
      queue.deadLetterQueue!.send({
        body: record.body,
        groupId: record.groupId,
        deduplicationId: `dead-${record.messageId}`,
        attributes: { [ATTEMPT_ATTRIBUTE]: number(attempt), 'warren.error': { DataType: 'String', StringValue: error.slice(0, 4_000) || 'unknown' } },
      });
    },
    async hideFor(record: QueuedRecord, seconds: number) {
      queue.changeVisibility(record.receiptHandle, Math.max(0, Math.min(43_200, seconds)));
    },
  };
}
