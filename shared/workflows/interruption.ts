import { pickSeedCandidates } from '../cluster/seeds';
import { EventSkipped, WaitTimedOut } from '../errors';
import type { EventOf } from '../events/types';
import type { Deps, Outcome } from './deps';
import { ensureBudget } from './waiting';

/** A spot warning leaves two minutes: the deregistration wait must leave time for the drain. */
const INTERRUPTION_DEREGISTRATION_SECONDS = 30;

/**
 * Spot interruption warning or rebalance recommendation: move clients off the node early. No leave and
 * no forget here: the terminate hook or the gone path does that once the instance really goes.
 */
export async function interruption(event: EventOf<'interruption'>, deps: Deps): Promise<Outcome> {
  const { config, log, metrics } = deps;
  const instanceId = event.instanceId;
  const [instance] = await deps.inventory.describeInstances([instanceId]);
  if (!instance) throw new EventSkipped('instance unknown to EC2', { instanceId });
  if (instance.autoScalingGroupName !== config.autoScalingGroupName) {
    throw new EventSkipped('instance of another Auto Scaling group', { instanceId, autoScalingGroupName: instance.autoScalingGroupName });
  }
  if (instance.state !== 'running') throw new EventSkipped(`EC2 reports the instance ${instance.state}`, { instanceId });

  const group = await deps.inventory.describeGroup();
  const facts = await deps.inventory.describeInstances(group.instances.map((i) => i.instanceId));
  if (pickSeedCandidates(group, facts, instanceId).length === 0) {
    // Invariant 2: draining the last running member would only move the outage earlier.
    log.warn('interrupted node is the last running member: kept in traffic and not drained', { instanceId, reason: event.reason });
    metrics.count('UnsafeActionRefused');
    return { result: 'refused', reason: 'last running member' };
  }

  await deps.targets.deregister(instanceId);
  const wait = Math.min(config.bounds.deregistrationSeconds, INTERRUPTION_DEREGISTRATION_SECONDS, Math.floor((deps.deadline - deps.clock.now()) / 1000));
  if (wait > 0) {
    try {
      await deps.targets.waitDeregistered(instanceId, wait);
    } catch (error) {
      if (!(error instanceof WaitTimedOut)) throw error;
      log.warn('targets still draining; draining the node anyway', { instanceId });
    }
  }
  ensureBudget(deps, config.bounds.ssmCommandSeconds * 1000, 'drain');
  const drained = await deps.nodes.run(instanceId, 'drain', {});
  log.info('interrupted node taken out of traffic and drained', { instanceId, reason: event.reason, drained: drained.drained });
  metrics.count('NodeDrained');
  return { result: 'acted', details: { drained: drained.drained } };
}
