import type { NodeRestartOutcome, NodeStatus } from '../rabbitmq/operations';

/**
 * A partition that outlived the network cut, and what reconcile does about it: RabbitMQ's documented
 * recovery (https://www.rabbitmq.com/docs/partitions, "Recovering From a Split-Brain") keeps one side
 * and restarts every node of the others, which then take their state from the side kept.
 */
export interface PartitionDecision {
  /** the running view of each side whose nodes report the partition, in rank order (see compareViews) */
  sides: string[][];
  /** the side kept: the first in rank order */
  winner?: string[];
  /** every node of the other sides: none of them is ever joined, restarted only when `hold` is absent */
  losers: string[];
  /** why no node is restarted */
  hold?: 'one-side-answered' | 'sides-overlap' | 'winner-not-main-view' | 'loser-not-restartable';
  detail?: string;
}

/**
 * Rank of two running views: the larger first; on a tie, the one whose sorted node names, joined with
 * commas, come first by code unit. Deterministic, and the same rule that picks the main view, so the
 * side kept is the one joins and policies go to.
 */
export function compareViews(a: string[], b: string[]): number {
  if (a.length !== b.length) return b.length - a.length;
  const [ka, kb] = [a.join(','), b.join(',')];
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

const reportsPartition = (status: NodeStatus) => Object.values(status.partitions).some((unreachable) => unreachable.length > 0);

/** The running view (sorted) of every running node that reports a partition; one entry per distinct view, ranked. */
export function partitionSides(statuses: NodeStatus[]): string[][] {
  const sides = new Map<string, string[]>();
  for (const status of statuses) {
    if (!status.running || !status.members.running.includes(status.node) || !reportsPartition(status)) continue;
    const view = [...new Set(status.members.running)].sort();
    sides.set(view.join(','), view);
  }
  return [...sides.values()].sort(compareViews);
}

/**
 * Which side to keep and which nodes to restart. Only when at least two sides answered and report the
 * partition: from one side alone it is not known which side is losing. Sides that share a node are not
 * a clean split (a partial partition): left alone. `mainView` is the view reconcile joins nodes to.
 */
export function decidePartitionRepair(statuses: NodeStatus[], mainView: string[]): PartitionDecision | undefined {
  const sides = partitionSides(statuses);
  if (sides.length === 0) return undefined;
  if (sides.length === 1)
    return { sides, losers: [], hold: 'one-side-answered', detail: 'only one side reports the partition: which side is losing is not known' };
  const seen = new Set<string>();
  for (const node of sides.flat()) {
    if (seen.has(node)) return { sides, losers: [], hold: 'sides-overlap', detail: `${node} is on more than one side` };
    seen.add(node);
  }
  const [winner, ...others] = sides as [string[], ...string[][]];
  const losers = others.flat().sort();
  if (winner.join(',') !== [...mainView].sort().join(',')) {
    return { sides, winner, losers, hold: 'winner-not-main-view', detail: 'a larger view that reports no partition exists' };
  }
  return { sides, winner, losers };
}

/**
 * Why a restart of a losing node did not put it back with the winning side, or undefined when it did:
 * the document refused, or the node came back but is not a running member beside a survivor.
 */
export function unverifiedRestart(outcome: NodeRestartOutcome | undefined, node: string, survivors: string[]): string | undefined {
  if (!outcome) return `restart of ${node}: no result`;
  if (!outcome.done) return `${outcome.step} of ${node} refused: ${outcome.reason}: ${outcome.detail}`;
  if (outcome.step === 'stop') return undefined;
  if (!outcome.running || !outcome.members.running.includes(node) || !survivors.some((survivor) => outcome.members.running.includes(survivor))) {
    return `${node} restarted but is not a running member with the winning side (it sees ${outcome.members.running.join(', ') || 'nothing'})`;
  }
  return undefined;
}
