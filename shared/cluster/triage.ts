/**
 * Which EC2 events concern the cluster. EventBridge cannot filter EC2 events by tag, so every instance
 * of the region produces them; only those of the managed group may enter the cluster's FIFO group,
 * where each one would wait its turn ahead of the group's own lifecycle actions.
 */

export interface InstanceEvent {
  /** the EventBridge event id: an event delivered twice carries the same one */
  eventId: string;
  instanceId: string;
}

export interface Triage<E extends InstanceEvent> {
  /** events of the group's instances, one per event id, in arrival order */
  ours: E[];
  /** events of every other instance (other groups, other fleets, ids EC2 no longer knows) */
  foreign: E[];
  /** later copies of an event already in `ours` */
  repeats: E[];
}

/** The instances to ask about: each once, however many events name it. */
export function instancesNamed(events: readonly InstanceEvent[]): string[] {
  return [...new Set(events.map((event) => event.instanceId))];
}

/** Splits a batch by the group's membership, as EC2 reported it for the batch's instances. */
export function triageByMembership<E extends InstanceEvent>(events: readonly E[], members: ReadonlySet<string>): Triage<E> {
  const triage: Triage<E> = { ours: [], foreign: [], repeats: [] };
  const seen = new Set<string>();
  for (const event of events) {
    if (!members.has(event.instanceId)) triage.foreign.push(event);
    else if (seen.has(event.eventId)) triage.repeats.push(event);
    else {
      seen.add(event.eventId);
      triage.ours.push(event);
    }
  }
  return triage;
}
