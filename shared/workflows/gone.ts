import { departedParam, isGoneInEc2, mayForget } from '../cluster/forget';
import { nodeNameOf } from '../cluster/node-name';
import { EventSkipped, WarrenError } from '../errors';
import type { EventOf } from '../events/types';
import type { Deps, Outcome } from './deps';
import { describeOurInstance, runningPeers } from './instances';
import { whilePaused } from './pause';

/**
 * An instance of the group is shutting down or terminated: its targets go and its node is forgotten
 * by a running peer. The event's own state is not trusted: EC2 must report it now (invariant 1).
 */
export async function gone(event: EventOf<'gone'>, deps: Deps): Promise<Outcome> {
  const { log, metrics } = deps;
  const instanceId = event.instanceId;
  const instance = await describeOurInstance(deps, instanceId);
  if (!isGoneInEc2(instance.state)) throw new EventSkipped(`EC2 reports the instance ${instance.state}`, { instanceId });
  const node = nodeNameOf(instance);
  if (!node) throw new EventSkipped('no node name: neither a tag nor a private DNS name', { instanceId });
  const paused = await whilePaused('gone', deps);
  if (paused) return paused;

  await deps.targets.deregister(instanceId);

  const { group, peers, peerNames } = await runningPeers(deps, instanceId);
  const decision = mayForget({
    node,
    ec2State: instance.state,
    asgLifecycleState: group.instances.find((i) => i.instanceId === instanceId)?.lifecycleState,
    runningMembers: peerNames,
  });
  if (!decision.allowed) {
    log.warn('departed node is not forgotten', { instanceId, node, reason: decision.reason });
    metrics.count('UnsafeActionRefused');
    return { result: 'refused', reason: decision.reason };
  }
  // One command: the forget document refuses while the node still runs (still-running), and is retried.
  const peer = peers[0]!;
  const forgotten = await deps.nodes.run(peer.instanceId, 'forget', { NodeName: node, Departed: departedParam(instance.state) });
  if (forgotten.result === 'still-running') {
    // While the instance only shuts down, its node may still be stopping: the terminated event that
    // follows forgets it (disconnecting it if it went silent), so this one need not be retried.
    if (instance.state === 'shutting-down') {
      log.info('node still counted running while its instance shuts down; the terminated event forgets it', { instanceId, node });
      return { result: 'refused', reason: 'node still counted running while its instance shuts down' };
    }
    throw new WarrenError(`${node} is still counted running by ${peer.instanceId}: not forgotten, retried`);
  }
  if (forgotten.result === 'majority-lost') {
    // retrying cannot help: the recovery (NodeRecover) drops the lost members, and reconcile forgets the rest
    log.warn('departed node is not forgotten: the metadata store has no running majority', { instanceId, node, peer: peer.instanceId });
    metrics.count('ForgetHeldMajorityLost');
    return { result: 'refused', reason: 'metadata majority lost: forget held until the cluster is recovered' };
  }
  log.info('departed node forgotten', { instanceId, node, peer: peer.instanceId, result: forgotten.result });
  metrics.count('MemberForgotten');
  return { result: 'acted', details: { node, peer: peer.instanceId, forget: forgotten.result } };
}
