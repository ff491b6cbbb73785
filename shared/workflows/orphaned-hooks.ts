import type { EventOf } from '../events/types';
import type { OrphanedHook } from '../cluster/orphaned-hooks';
import type { LifecycleActionRef } from '../ports';
import type { Deps, Outcome } from './deps';
import { launch } from './launch';
import { terminate } from './terminate';

/**
 * EventBridge delivers Auto Scaling's lifecycle events only best-effort. An instance whose event never
 * came waits in Pending:Wait or Terminating:Wait until its hook times out (35 minutes in
 * infra/cluster.yml), then gets the default result: a launch is abandoned, a termination goes ahead
 * without the node leaving. Reconcile takes such hooks over and runs the hook's own workflow for
 * them, by instance id (CompleteLifecycleAction accepts one instead of the token).
 *
 * Safe because reconcile and the lifecycle events share the cluster's FIFO message group: while
 * reconcile runs no event of the cluster is in flight, and an event that arrives afterwards finds its
 * action completed and is a no-op (invariant 5).
 */

/**
 * Runs each orphan's workflow, the event id and time derived so that a retried reconcile keeps the
 * same bounds: a launch is bounded from its launch time, as its event would have been; a termination
 * from the reconcile event that adopted it.
 */
export async function adoptOrphanedHooks(
  reconcileEvent: EventOf<'reconcile'>,
  orphans: OrphanedHook[],
  launchTimes: Map<string, number>,
  deps: Deps,
): Promise<Array<OrphanedHook & { outcome: Outcome }>> {
  const { config, log, metrics } = deps;
  const adopted: Array<OrphanedHook & { outcome: Outcome }> = [];
  // one launch coordinates every instance waiting in Pending:Wait (launch-batch); the rest then find their action done
  for (const orphan of orphans) {
    const hookName = orphan.transition === 'launch' ? config.lifecycleHooks.launch : config.lifecycleHooks.terminate;
    const action: LifecycleActionRef = { autoScalingGroupName: config.autoScalingGroupName, lifecycleHookName: hookName, instanceId: orphan.instanceId };
    const base = { id: `${reconcileEvent.id}/${orphan.transition}/${orphan.instanceId}`, instanceId: orphan.instanceId, action };
    log.warn('lifecycle hook without its event: reconcile takes it over', { instanceId: orphan.instanceId, transition: orphan.transition, hookName });
    metrics.count('OrphanedHooksAdopted');
    const outcome =
      orphan.transition === 'launch'
        ? await launch({ ...base, kind: 'launch', time: launchTimes.get(orphan.instanceId) ?? reconcileEvent.time }, deps)
        : await terminate({ ...base, kind: 'terminate', time: reconcileEvent.time }, deps);
    adopted.push({ ...orphan, outcome });
  }
  return adopted;
}
