import type { GroupFacts, InstanceFacts } from '../ports';

/**
 * Instances a new node may ask for the cluster's membership: running in EC2, not the new node, and
 * InService, or Pending:Proceed with the node-name tag (a launch verified it a moment ago and the ASG
 * has not yet moved it on; without this, launches processed back to back would each found a cluster).
 * Tagged ones come first: the tag proves a launch verified them as members.
 */
export function pickSeedCandidates(group: GroupFacts, instances: InstanceFacts[], selfId: string): InstanceFacts[] {
  const lifecycleOf = new Map(group.instances.map((i) => [i.instanceId, i.lifecycleState]));
  const eligible = instances.filter((i) => {
    if (i.instanceId === selfId || i.state !== 'running') return false;
    const lifecycle = lifecycleOf.get(i.instanceId);
    return lifecycle === 'InService' || (lifecycle === 'Pending:Proceed' && Boolean(i.nodeName));
  });
  return [...eligible.filter((i) => i.nodeName), ...eligible.filter((i) => !i.nodeName)];
}

/** Instances other than selfId that the group counts as InService, whatever EC2 says of them. */
export function otherInServiceIds(group: GroupFacts, selfId: string): string[] {
  return group.instances.filter((i) => i.lifecycleState === 'InService' && i.instanceId !== selfId).map((i) => i.instanceId);
}
