import { nodeNameOf } from '../cluster/node-name';
import { pickSeedCandidates } from '../cluster/seeds';
import { EventSkipped, WaitTimedOut } from '../errors';
import type { GroupFacts, InstanceFacts } from '../ports';
import type { Deps } from './deps';

/** EC2's facts about an instance of the managed group; anything else is skipped (not ours to touch). */
export async function describeOurInstance(deps: Deps, instanceId: string): Promise<InstanceFacts> {
  const [instance] = await deps.inventory.describeInstances([instanceId]);
  if (!instance) throw new EventSkipped('instance unknown to EC2', { instanceId });
  if (instance.autoScalingGroupName !== deps.config.autoScalingGroupName) {
    throw new EventSkipped('instance of another Auto Scaling group', { instanceId, autoScalingGroupName: instance.autoScalingGroupName });
  }
  return instance;
}

/**
 * The group and the instances other than `instanceId` that can act as a running peer, best first.
 * `known`: the group as just described, saving the call.
 */
export async function runningPeers(
  deps: Deps,
  instanceId: string,
  known?: GroupFacts,
): Promise<{ group: GroupFacts; facts: InstanceFacts[]; peers: InstanceFacts[]; peerNames: string[] }> {
  const group = known ?? (await deps.inventory.describeGroup());
  const facts = await deps.inventory.describeInstances(group.instances.map((i) => i.instanceId).concat(instanceId));
  const peers = pickSeedCandidates(group, facts, instanceId);
  const peerNames = peers.map(nodeNameOf).filter((name): name is string => name !== undefined);
  return { group, facts, peers, peerNames };
}

/**
 * Deregisters the instance from every target group and waits up to `seconds` (never past the
 * invocation's deadline) for the load balancer to let go; a wait that runs out is logged, not fatal.
 */
export async function takeOutOfTraffic(deps: Deps, instanceId: string, seconds: number): Promise<void> {
  await deps.targets.deregister(instanceId);
  const wait = Math.min(seconds, Math.floor((deps.deadline - deps.clock.now()) / 1000));
  if (wait <= 0) return;
  try {
    await deps.targets.waitDeregistered(instanceId, wait);
  } catch (error) {
    if (!(error instanceof WaitTimedOut)) throw error;
    deps.log.warn('targets still draining at the bound; going on', { instanceId });
  }
}
