import type { GroupFacts, InstanceFacts } from '../ports';
import { majorVersion, NODE_NAME_PATTERN } from '../rabbitmq/operations';
import { taggedVersionOf } from './node-name';

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

/**
 * The membership a launch needs, from the tags alone: the node names of the seed candidates that
 * carry both tags warren writes after a verified join (so each one was proven a member), and their
 * version. Undefined, so a seed must be asked, when no candidate has both tags (a cluster founded
 * before the version tag existed) or when the tagged versions differ in major (an upgrade under way:
 * only a running node can tell what the cluster runs now). Candidates without both tags are left out
 * of the peers: a node never proven a member could be standalone, and a first boot must not join it.
 */
export function membershipFromTags(candidates: InstanceFacts[]): { peers: string[]; version: string } | undefined {
  const proven = candidates.flatMap((c) => {
    const version = taggedVersionOf(c);
    return c.nodeName && NODE_NAME_PATTERN.test(c.nodeName) && version ? [{ node: c.nodeName, version }] : [];
  });
  if (proven.length === 0) return undefined;
  const majors = new Set(proven.map((p) => majorVersion(p.version)));
  if (majors.size > 1) return undefined;
  const [oldest] = proven.map((p) => p.version).sort(compareVersions);
  return { peers: [...new Set(proven.map((p) => p.node))], version: oldest! };
}

function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(/[-+]/)[0]!.split('.').map(Number);
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return a.localeCompare(b);
}
