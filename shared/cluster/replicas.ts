import type { Ec2State } from '../ports';
import type { NodeStatus, QuorumReplicas } from '../rabbitmq/operations';
import { isGoneInEc2 } from './forget';

/** Why a replica finding is seen and not repaired this tick. */
export type ReplicaHold =
  /** the cluster is split or partitioned: its queues' membership waits until it is whole again */
  | 'cluster-split'
  /** the member is not an InService, running, verified member off maintenance (a hook or a drain owns it) */
  | 'member-not-verified'
  /** EC2 does not report the node's instance gone: it may come back into the cluster (a join) */
  | 'instance-not-gone';

export type ReplicaFinding =
  | { kind: 'replicas-missing'; node: string; queues: number; held?: ReplicaHold }
  | { kind: 'replicas-stopped'; node: string; queues: number; held?: ReplicaHold }
  | { kind: 'replicas-departed'; node: string; queues: number; held?: ReplicaHold }
  /** no running leader or no running majority: nothing can change these queues' membership */
  | { kind: 'quorum-leaderless'; queues: number }
  /** the first running member, which judges the replicas, did not report them this tick */
  | { kind: 'replicas-unknown' };

export type ReplicaAction =
  /** grow the member's missing replicas and re-create its stopped ones (NodeJoin on the member itself) */
  | { kind: 'repair-replicas'; instanceId: string; node: string }
  /** remove a node outside the cluster from the queues that still list it (NodeForget on a running member) */
  | { kind: 'remove-replicas'; node: string };

export interface ReplicaFacts {
  /** the statuses of the main view's running members, by instance id */
  reporters: Array<[string, NodeStatus]>;
  /** instances of running members that may be acted on: InService, running in EC2, off maintenance */
  verified: ReadonlySet<string>;
  /** the cluster is split (several views) or partitioned: no replica is touched */
  split: boolean;
  /** the EC2 state of the instance of a node, undefined when EC2 does not know one */
  ec2StateOf: (node: string) => Ec2State | undefined;
}

export interface ReplicaPlan {
  actions: ReplicaAction[];
  findings: ReplicaFinding[];
  /** the report the plan was made from; absent when no member reported one */
  report?: QuorumReplicas;
}

/**
 * Pure: quorum replicas follow the membership. A running member without a replica, or with one that does
 * not run, is repaired on that member; a replica on a node outside the cluster is removed once EC2 says
 * its instance is gone (or knows none). Leaderless queues are only reported: no command can change them.
 */
export function planReplicas(facts: ReplicaFacts): ReplicaPlan {
  const reporter = facts.reporters.find(([, status]) => status.replicas !== null);
  if (!reporter) return { actions: [], findings: facts.reporters.length > 0 ? [{ kind: 'replicas-unknown' }] : [] };
  const report = reporter[1].replicas!;
  const actions: ReplicaAction[] = [];
  const findings: ReplicaFinding[] = [];
  if (report.leaderless > 0) findings.push({ kind: 'quorum-leaderless', queues: report.leaderless });

  const instanceOf = new Map(facts.reporters.map(([instanceId, status]) => [status.node, instanceId]));
  const repaired = new Set<string>();
  for (const kind of ['replicas-missing', 'replicas-stopped'] as const) {
    const counts = kind === 'replicas-missing' ? report.missing : report.stopped;
    for (const [node, queues] of Object.entries(counts).sort()) {
      const instanceId = instanceOf.get(node);
      const held = facts.split ? 'cluster-split' : !instanceId || !facts.verified.has(instanceId) ? 'member-not-verified' : undefined;
      findings.push({ kind, node, queues, ...(held ? { held } : {}) });
      if (held || repaired.has(node)) continue;
      repaired.add(node);
      actions.push({ kind: 'repair-replicas', instanceId: instanceId!, node });
    }
  }
  for (const [node, queues] of Object.entries(report.departed).sort()) {
    const state = facts.ec2StateOf(node);
    const held = facts.split ? 'cluster-split' : state !== undefined && !isGoneInEc2(state) ? 'instance-not-gone' : undefined;
    findings.push({ kind: 'replicas-departed', node, queues, ...(held ? { held } : {}) });
    if (!held) actions.push({ kind: 'remove-replicas', node });
  }
  return { actions, findings, report };
}
