import type { NodeJoined } from '../rabbitmq/operations';

/**
 * The one definition of a verified member, after NodeJoin, for the launch and for reconcile alike: the
 * node is among the running members it reports, and, unless it is alone by design (it founds the
 * cluster, or no other member runs), a peer runs beside it: a node that "joined" but sees nobody else
 * formed a cluster of its own. Pure: the reason it is not verified, or undefined when it is.
 */
export function unverifiedJoin(joined: NodeJoined, alone: boolean): string | undefined {
  if (!joined.members.running.includes(joined.node)) return `join of ${joined.node} ended but it is not among the running members`;
  if (!alone && !joined.members.running.some((member) => member !== joined.node))
    return `join of ${joined.node} ended alone: no peer among the running members`;
  return undefined;
}
