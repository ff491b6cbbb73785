import type { GroupFacts } from '../ports';

/** A launch younger than this may just be waiting for its event: EventBridge usually delivers in seconds. */
export const LAUNCH_EVENT_GRACE_MS = 60_000;

export interface OrphanedHook {
  instanceId: string;
  transition: 'launch' | 'terminate';
}

/**
 * Pure: the hooks reconcile takes over. Launches by the instance's launch time, once past the grace;
 * terminations at once, since nothing says how long they have waited and an adopted leave is the
 * same work its event would have done.
 */
export function orphanedHooks(group: GroupFacts, launchTimes: Map<string, number>, now: number): OrphanedHook[] {
  const orphans: OrphanedHook[] = [];
  for (const instance of group.instances) {
    if (instance.lifecycleState === 'Terminating:Wait') orphans.push({ instanceId: instance.instanceId, transition: 'terminate' });
    if (instance.lifecycleState !== 'Pending:Wait') continue;
    const launched = launchTimes.get(instance.instanceId);
    if (launched !== undefined && now - launched >= LAUNCH_EVENT_GRACE_MS) orphans.push({ instanceId: instance.instanceId, transition: 'launch' });
  }
  return orphans;
}
