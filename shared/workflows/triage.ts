import { instancesNamed, triageByMembership, type InstanceEvent } from '../cluster/triage';
import { EventSkipped } from '../errors';
import { parseQueueMessage } from '../events';
import { withCorrelation, type Observability } from '../observability';
import type { HealQueue } from '../ports';
import type { Deps } from './deps';
import { bodyOf, convert, describe, messageIdOf, queueRecords, type QueueBatchResponse } from './invocation';

export type TriageDeps = Pick<Deps, 'config' | 'inventory' | 'metrics' | 'log'> & { queue: HealQueue };

/** What the triage function wires once per cold start. */
export type TriageWiring = Omit<TriageDeps, 'log'> & { telemetry: Observability };

interface Received extends InstanceEvent {
  messageId: string;
  body: string;
}

/**
 * One batch of the triage queue: one inventory call for all its instances, then the group's events
 * into the cluster's FIFO group and the rest dropped, so foreign events never wait in that group ahead
 * of a lifecycle action. The answer names the records to receive again: those the heal queue refused.
 * An inventory failure fails the whole batch (thrown), and every record comes back.
 */
export async function triageBatch(records: unknown[], deps: TriageDeps): Promise<QueueBatchResponse> {
  const { log, metrics } = deps;
  const received: Received[] = [];
  let skipped = 0;
  for (const record of records) {
    try {
      received.push(instanceEventOf(record));
    } catch (error) {
      if (!(error instanceof EventSkipped)) throw error;
      skipped += 1;
      metrics.count('EventsSkipped');
      log.warn('event skipped', { reason: error.reason, ...error.details, messageId: messageIdOf(record) });
    }
  }
  if (received.length === 0) return { batchItemFailures: [] };

  const members = await membersOrEveryone(received, deps);
  const { ours, foreign, repeats } = triageByMembership(received, members);
  const refused = ours.length > 0 ? await deps.queue.forward(ours.map(({ eventId, body }) => ({ id: eventId, body }))) : [];

  const refusedIds = new Set(refused.map((failure) => failure.id));
  const retried = [...ours, ...repeats].filter((event) => refusedIds.has(event.eventId));
  metrics.count('EventsForwarded', ours.length - refusedIds.size);
  metrics.count('ForeignEventsDropped', foreign.length);
  log.info('batch triaged', {
    records: records.length,
    forwarded: ours.length - refusedIds.size,
    foreignDropped: foreign.length,
    repeats: repeats.length,
    skipped,
    // enough to recognise the other fleet, never a line that grows with the batch
    foreignInstances: instancesNamed(foreign).slice(0, 10),
  });
  if (refused.length > 0) {
    metrics.count('EventsRefused', refused.length);
    log.warn('the heal queue refused events; they come back from the triage queue', { refused: refused.slice(0, 10) });
  }
  return { batchItemFailures: retried.map((event) => ({ itemIdentifier: event.messageId })) };
}

/**
 * Fails open: a batch received again would come back only after the triage queue's visibility
 * timeout, holding the group's own crash and spot events that long. Forwarded, they wait for
 * nothing, and the heal workflows skip a foreign instance after looking it up, as without triage.
 */
async function membersOrEveryone(received: Received[], deps: TriageDeps): Promise<ReadonlySet<string>> {
  const instances = instancesNamed(received);
  try {
    return await deps.inventory.groupMembersAmong(instances);
  } catch (error) {
    deps.metrics.count('TriageFailedOpen');
    deps.log.warn("EC2 could not say which instances are the group's: forwarding the whole batch", { error: describe(error), records: received.length });
    return new Set(instances);
  }
}

/** The triage Lambda's answer to one invocation: an SQS batch of EC2 events, or a skipped direct call. */
export async function answerTriage(payload: unknown, wiring: TriageWiring): Promise<QueueBatchResponse> {
  const { telemetry, ...ports } = wiring;
  const records = queueRecords(payload);
  const log = withCorrelation(telemetry.logger, (records && messageIdOf(records[0])) ?? 'direct-invocation');
  try {
    if (records === undefined) {
      ports.metrics.count('EventsSkipped');
      log.warn('event skipped', { reason: 'the triage function takes SQS batches of EC2 events only' });
      return { batchItemFailures: [] };
    }
    return await triageBatch(records, { ...ports, log });
  } catch (error) {
    ports.metrics.count('HealFailures');
    log.error('triage failed; the batch will be received again', { error: describe(error), records: records?.length });
    throw error;
  } finally {
    telemetry.flush();
  }
}

/** The record's EC2 event, or EventSkipped: malformed, not an EC2 instance event, or a state warren leaves alone. */
function instanceEventOf(record: unknown): Received {
  const body = bodyOf(record);
  // SQS names every record; one it did not name could not be reported for a retry
  const messageId = messageIdOf(record);
  if (!messageId) throw new EventSkipped('SQS record without a message id');
  const event = convert(() => parseQueueMessage(body));
  if (event.kind !== 'gone' && event.kind !== 'interruption') {
    throw new EventSkipped(`the triage step takes EC2 instance events only, not ${event.kind}`, { id: event.id });
  }
  return { messageId, eventId: event.id, instanceId: event.instanceId, body };
}
