import { isGoneInEc2, mayForget } from '../cluster/forget';
import { nodeNameOf } from '../cluster/node-name';
import { pickSeedCandidates } from '../cluster/seeds';
import { EventSkipped } from '../errors';
import type { EventOf } from '../events/types';
import type { Deps, Outcome } from './deps';
import { ensureBudget } from './waiting';

/**
 * An instance of the group is shutting down or terminated: its targets go and its node is forgotten
 * by a running peer. The event's own state is not trusted: EC2 must report it now (invariant 1).
 */
export async function gone(event: EventOf<'gone'>, deps: Deps): Promise<Outcome> {
  const { config, log, metrics } = deps;
  const instanceId = event.instanceId;
  const [instance] = await deps.inventory.describeInstances([instanceId]);
  if (!instance) throw new EventSkipped('instance unknown to EC2', { instanceId });
  if (instance.autoScalingGroupName !== config.autoScalingGroupName) {
    throw new EventSkipped('instance of another Auto Scaling group', { instanceId, autoScalingGroupName: instance.autoScalingGroupName });
  }
  if (!isGoneInEc2(instance.state)) throw new EventSkipped(`EC2 reports the instance ${instance.state}`, { instanceId });
  const node = nodeNameOf(instance);
  if (!node) throw new EventSkipped('no node name: neither a tag nor a private DNS name', { instanceId });

  await deps.targets.deregister(instanceId);

  const group = await deps.inventory.describeGroup();
  const facts = await deps.inventory.describeInstances(group.instances.map((i) => i.instanceId));
  const peers = pickSeedCandidates(group, facts, instanceId);
  const decision = mayForget({
    node,
    ec2State: instance.state,
    asgLifecycleState: group.instances.find((i) => i.instanceId === instanceId)?.lifecycleState,
    runningMembers: peers.map(nodeNameOf).filter((name): name is string => name !== undefined),
  });
  if (!decision.allowed) {
    log.warn('departed node is not forgotten', { instanceId, node, reason: decision.reason });
    metrics.count('UnsafeActionRefused');
    return { result: 'refused', reason: decision.reason };
  }
  // One command: the forget document refuses while the node still runs, and that failure is retried.
  const peer = peers[0]!;
  ensureBudget(deps, config.bounds.ssmCommandSeconds * 1000, 'forget');
  const forgotten = await deps.nodes.run(peer.instanceId, 'forget', { NodeName: node });
  log.info('departed node forgotten', { instanceId, node, peer: peer.instanceId, result: forgotten.result });
  metrics.count('MemberForgotten');
  return { result: 'acted', details: { node, peer: peer.instanceId, forget: forgotten.result } };
}
