import type { Config } from '../config';
import type { Ec2State, GroupFacts, InstanceFacts, TargetGroupKey, TargetState } from '../ports';
import type { NodeStatus } from '../rabbitmq/operations';
import { departedParam, isGoneInEc2, mayForget } from './forget';
import { nodeNameOf } from './node-name';
import { compareViews, decidePartitionRepair, type PartitionDecision } from './partition';
import { policyMissing } from './policy';
import { planReplicas, type ReplicaAction, type ReplicaFinding } from './replicas';

export interface ObservedCluster {
  group: GroupFacts;
  /** every instance tagged with the group, in any EC2 state */
  instances: InstanceFacts[];
  /** status per instance id, for the InService running instances asked; an Error when the command failed */
  statuses: Map<string, NodeStatus | Error>;
  targets: Record<TargetGroupKey, Map<string, TargetState>>;
  /**
   * the AWSCURRENT version of the administrator's secret, when warren keeps the administrator
   * (ADMIN_SECRET_ID) and DescribeSecret answered; absent otherwise
   */
  adminSecretVersion?: string;
}

export type ReconcileAction =
  | { kind: 'forget'; node: string; instanceId: string; departed: 'true' | 'false' }
  | { kind: 'join'; instanceId: string; node: string }
  /** a node of a losing partition side; survivors: the running members of the winning side */
  | { kind: 'restart'; instanceId: string; node: string; survivors: string[] }
  | { kind: 'apply-policy'; instanceId: string }
  /** enable every stable feature flag the cluster left disabled (cluster-wide, run on one member) */
  | { kind: 'enable-feature-flags'; instanceId: string }
  /**
   * the administrator of the secret's current version onto the cluster (cluster-wide, run on one member):
   * created where it is missing (a cluster founded again), its password changed after a rotation
   */
  | { kind: 'keep-administrator'; instanceId: string }
  | { kind: 'register'; instanceId: string }
  | { kind: 'deregister'; instanceId: string }
  /**
   * the recovery from a lost Khepri majority (MAJORITY_LOSS_RECOVERY=auto): the one survivor boots
   * standalone and its quorum queues are shrunk to it; `drops` are the lost members it leaves behind
   */
  | { kind: 'recover-majority'; instanceId: string; node: string; drops: string[] }
  | ReplicaAction;

/** Something seen and deliberately not acted on; logged so a human can follow. */
export type ReconcileFinding =
  | { kind: 'unknown-member'; node: string }
  | { kind: 'member-down'; node: string; instanceId: string; reason: string }
  | { kind: 'unreachable'; instanceId: string; error: string }
  | { kind: 'no-running-cluster' }
  | { kind: 'split-views'; views: string[][] }
  | { kind: 'partitioned'; nodes: string[] }
  /** pause_minority stopped the app of this member and starts it itself: joining it would split the brain */
  | { kind: 'paused'; node: string; instanceId: string }
  /**
   * the cluster counts this running node a member, but it runs without the cluster: cut off, before
   * partition handling noticed (up to net_ticktime). A join cannot help (the node is already a member
   * and cannot reach its peers): left to pause_minority, and to the restart of a losing side after.
   */
  | { kind: 'split-member'; node: string; instanceId: string }
  | { kind: 'under-maintenance'; node: string; instanceId: string }
  /**
   * Khepri (Raft) keeps the metadata: with no majority of its members running the cluster changes
   * nothing, so forget, join, restart and replica repairs cannot complete; they are not tried. The
   * documented recovery (the survivor boots standalone, its quorum queues are shrunk to it) is named
   * in `recovery` once it is safe: one running survivor that answered, and EC2 reports every lost
   * member's instance gone (a member merely cut off would come back to a second cluster: a split
   * brain). It runs only with MAJORITY_LOSS_RECOVERY=auto; otherwise `held` says what it waits for.
   */
  | {
      kind: 'majority-lost';
      running: string[];
      members: string[];
      recovery?: { instanceId: string; node: string; drops: string[] };
      held?: 'lost-member-not-gone' | 'several-survivors' | 'survivor-unanswered' | 'operator';
    }
  /**
   * Stable feature flags left disabled (an upgrade into 4.3 needs every one enabled). Enabled only once
   * every running member answered with the same version and nothing is launching: a node of another
   * version could not join a cluster with flags it does not know.
   */
  | { kind: 'feature-flags-disabled'; count: number; held?: 'cluster-split' | 'versions-differ' | 'member-unanswered' | 'launch-in-progress' }
  /** deprecated features the cluster uses (RabbitMQ's names): a later release denies or removes them; reported only */
  | { kind: 'deprecated-features-used'; features: string[] }
  | ReplicaFinding;

export interface ReconcilePlan {
  actions: ReconcileAction[];
  findings: ReconcileFinding[];
  /** running members of the cluster's main view: the peers a join is given */
  runningMembers: string[];
  /** instances whose node is one of runningMembers: where forget and apply-policy run */
  peerInstanceIds: string[];
  /** RabbitMQ version the main view reports, when any node answered */
  clusterVersion?: string;
  gauges: {
    membersRunning: number;
    inServiceInstances: number;
    partitions: number;
    /** quorum queues, those with any replica finding, those without a running leader; absent when unknown */
    quorumQueues?: { total: number; degraded: number; leaderless: number };
    /** 1 while a Khepri cluster has fewer than a majority of its members running; absent on Mnesia */
    metadataMajorityLost?: number;
    /** deprecated features in use, as the running members report them */
    deprecatedFeaturesUsed: number;
  };
  /** present when running nodes report a partition: its sides, the side kept and what is restarted */
  partition?: PartitionDecision;
}

const heldByHook = (lifecycleState: string | undefined) => /^(Pending|Terminating)/.test(lifecycleState ?? '');

/**
 * The main view is the largest set of running members any node reports; a node reporting another
 * view (standalone, split) is outside the cluster and gets joined to the main view.
 */
function mainView(statuses: Array<[string, NodeStatus]>) {
  const views = new Map<string, { members: string[]; reporters: Array<[string, NodeStatus]> }>();
  for (const [instanceId, status] of statuses) {
    if (!status.running || !status.members.running.includes(status.node)) continue;
    const members = [...status.members.running].sort();
    const key = members.join(',');
    const view = views.get(key) ?? { members, reporters: [] };
    view.reporters.push([instanceId, status]);
    views.set(key, view);
  }
  const ranked = [...views.values()].sort((a, b) => compareViews(a.members, b.members));
  return { main: ranked[0], allViews: ranked.map((v) => v.members) };
}

/** Pure: what reconcile would change, given one consistent observation. Pending:* and Terminating:* are left to their hooks. */
export function planReconcile(observed: ObservedCluster, config: Config): ReconcilePlan {
  const actions: ReconcileAction[] = [];
  const findings: ReconcileFinding[] = [];
  const lifecycleOf = new Map(observed.group.instances.map((i) => [i.instanceId, i.lifecycleState]));
  const ec2Of = new Map(observed.instances.map((i) => [i.instanceId, i]));
  const answered: Array<[string, NodeStatus]> = [];
  for (const [instanceId, status] of observed.statuses) {
    if (status instanceof Error) findings.push({ kind: 'unreachable', instanceId, error: status.message });
    else answered.push([instanceId, status]);
  }

  const { main, allViews } = mainView(answered);
  if (allViews.length > 1) findings.push({ kind: 'split-views', views: allViews });
  const runningMembers = new Set(main?.members ?? []);
  const allMembers = new Set(main?.reporters.flatMap(([, s]) => s.members.all) ?? []);
  const peerInstanceIds = answered.filter(([, s]) => s.running && runningMembers.has(s.node)).map(([id]) => id);
  if (!main) findings.push({ kind: 'no-running-cluster' });

  const instanceOfNode = new Map<string, string>();
  for (const instance of observed.instances) {
    const name = nodeNameOf(instance);
    if (name) instanceOfNode.set(name, instance.instanceId);
  }
  for (const [instanceId, status] of answered) instanceOfNode.set(status.node, instanceId);

  for (const node of [...allMembers].sort()) {
    if (runningMembers.has(node)) continue;
    const instanceId = instanceOfNode.get(node);
    const instance = instanceId ? ec2Of.get(instanceId) : undefined;
    if (!instanceId || !instance) {
      findings.push({ kind: 'unknown-member', node });
      continue;
    }
    if (heldByHook(lifecycleOf.get(instanceId))) continue;
    const decision = mayForget({ node, ec2State: instance.state, asgLifecycleState: lifecycleOf.get(instanceId), runningMembers: [...runningMembers] });
    if (decision.allowed) actions.push({ kind: 'forget', node, instanceId, departed: departedParam(instance.state) });
    else findings.push({ kind: 'member-down', node, instanceId, reason: decision.reason });
  }

  const decided = decidePartitionRepair(
    answered.map(([, s]) => s),
    main?.members ?? [],
  );
  // The documented recovery stops every node of the losing sides before any starts: all of them or none.
  const stuck = decided && !decided.hold ? decided.losers.find((node) => !restartable(observed, instanceOfNode.get(node), node, lifecycleOf)) : undefined;
  const partition: PartitionDecision | undefined = stuck
    ? { ...decided!, hold: 'loser-not-restartable', detail: `${stuck} is not a running, answering node of an InService instance` }
    : decided;
  if (partition && !partition.hold) {
    for (const node of partition.losers) actions.push({ kind: 'restart', instanceId: instanceOfNode.get(node)!, node, survivors: partition.winner! });
  }
  const losers = new Set(partition?.losers ?? []);

  const inService = observed.group.instances.filter((i) => i.lifecycleState === 'InService').map((i) => i.instanceId);
  const verified = new Set<string>();
  const unverified = new Set<string>();
  for (const instanceId of inService) {
    if (ec2Of.get(instanceId)?.state !== 'running') continue;
    const status = observed.statuses.get(instanceId);
    if (!status || status instanceof Error) {
      unverified.add(instanceId);
    } else if (runningMembers.has(status.node) && status.underMaintenance) {
      // A drained node (spot warning, rebalance) must not get traffic back: it stays off the targets.
      findings.push({ kind: 'under-maintenance', node: status.node, instanceId });
    } else if (runningMembers.has(status.node)) {
      verified.add(instanceId);
    } else if (!status.running && status.paused) {
      findings.push({ kind: 'paused', node: status.node, instanceId });
    } else if (status.running && allMembers.has(status.node)) {
      findings.push({ kind: 'split-member', node: status.node, instanceId });
    } else if (main && !losers.has(status.node)) {
      // a node on a losing partition side is restarted into the winning side (or held), never joined
      actions.push({ kind: 'join', instanceId, node: status.node });
    }
  }

  const policyHolder = main?.reporters[0];
  if (policyHolder && policyMissing(config, policyHolder[1])) {
    actions.push({ kind: 'apply-policy', instanceId: policyHolder[0] });
  }

  const groups = Object.values(observed.targets);
  for (const instanceId of [...verified].sort()) {
    if (groups.some((targets) => !targets.has(instanceId))) actions.push({ kind: 'register', instanceId });
  }
  const registered = new Set(groups.flatMap((targets) => [...targets].filter(([, state]) => state !== 'draining').map(([id]) => id)));
  for (const instanceId of [...registered].sort()) {
    // An unanswered status is not proof of death: the load balancer's health check covers that case.
    if (verified.has(instanceId) || unverified.has(instanceId) || heldByHook(lifecycleOf.get(instanceId))) continue;
    actions.push({ kind: 'deregister', instanceId });
  }

  const partitioned = [
    ...new Set(
      answered.flatMap(([, s]) =>
        Object.entries(s.partitions)
          .filter(([, p]) => p.length > 0)
          .map(([n]) => n),
      ),
    ),
  ].sort();
  if (partitioned.length > 0) findings.push({ kind: 'partitioned', nodes: partitioned });

  const split = allViews.length > 1 || partitioned.length > 0 || partition !== undefined;
  const replicas = planReplicas({
    reporters: main?.reporters ?? [],
    verified,
    split,
    ec2StateOf: (node) => ec2Of.get(instanceOfNode.get(node) ?? '')?.state,
  });
  actions.push(...replicas.actions);
  findings.push(...replicas.findings);
  const quorumQueues = replicas.report && { total: replicas.report.queues, degraded: replicas.report.degraded, leaderless: replicas.report.leaderless };

  const flagsDisabled = Math.max(0, ...(main?.reporters ?? []).map(([, s]) => s.featureFlagsDisabled));
  if (main && flagsDisabled > 0) {
    const versions = new Set(main.reporters.map(([, s]) => s.version));
    const launching = observed.group.instances.some((i) => (i.lifecycleState ?? '').startsWith('Pending'));
    const held = split
      ? 'cluster-split'
      : versions.size > 1
        ? 'versions-differ'
        : main.reporters.length < runningMembers.size
          ? 'member-unanswered'
          : launching
            ? 'launch-in-progress'
            : undefined;
    findings.push({ kind: 'feature-flags-disabled', count: flagsDisabled, ...(held ? { held } : {}) });
    if (!held) actions.push({ kind: 'enable-feature-flags', instanceId: main.reporters[0]![0] });
  }

  // every member reads the same record (a global parameter); a split cluster waits, as for feature flags
  const admin = main?.reporters[0];
  if (observed.adminSecretVersion && admin && !split && admin[1].adminSecretVersion !== observed.adminSecretVersion) {
    actions.push({ kind: 'keep-administrator', instanceId: admin[0] });
  }

  const deprecated = [...new Set((main?.reporters ?? []).flatMap(([, s]) => s.deprecatedFeaturesUsed))].sort();
  if (deprecated.length > 0) findings.push({ kind: 'deprecated-features-used', features: deprecated });

  const khepri = main?.reporters.some(([, s]) => s.metadataStore === 'khepri') ?? false;
  const majorityLost = khepri && runningMembers.size <= allMembers.size / 2;
  // only the load balancer may still change: it follows what the nodes verify
  const planned = majorityLost ? actions.filter((a) => a.kind === 'register' || a.kind === 'deregister') : actions;
  if (majorityLost) {
    const finding = majorityLossRecovery(main!.reporters, runningMembers, allMembers, (node) => ec2Of.get(instanceOfNode.get(node) ?? '')?.state, config);
    findings.push(finding);
    if (finding.recovery && !finding.held) planned.push({ kind: 'recover-majority', ...finding.recovery });
  }

  return {
    actions: planned,
    findings,
    runningMembers: [...runningMembers].sort(),
    peerInstanceIds,
    clusterVersion: main?.reporters[0]?.[1].version,
    gauges: {
      membersRunning: runningMembers.size,
      inServiceInstances: inService.length,
      partitions: partitioned.length,
      deprecatedFeaturesUsed: deprecated.length,
      ...(quorumQueues ? { quorumQueues } : {}),
      ...(khepri ? { metadataMajorityLost: majorityLost ? 1 : 0 } : {}),
    },
    ...(partition ? { partition } : {}),
  };
}

/** The majority-lost finding: the recovery it allows, and what holds it. */
function majorityLossRecovery(
  reporters: Array<[string, NodeStatus]>,
  runningMembers: Set<string>,
  allMembers: Set<string>,
  ec2StateOf: (node: string) => Ec2State | undefined,
  config: Config,
): Extract<ReconcileFinding, { kind: 'majority-lost' }> {
  const members = [...allMembers].sort();
  const running = [...runningMembers].sort();
  const finding = { kind: 'majority-lost' as const, running, members };
  const drops = members.filter((node) => !runningMembers.has(node));
  if (running.length > 1) return { ...finding, held: 'several-survivors' };
  const survivor = reporters.find(([, status]) => status.node === running[0]);
  if (!survivor) return { ...finding, held: 'survivor-unanswered' };
  if (drops.some((node) => !isGoneInEc2(ec2StateOf(node)))) return { ...finding, held: 'lost-member-not-gone' };
  const recovery = { instanceId: survivor[0], node: survivor[1].node, drops };
  return config.majorityLossRecovery === 'auto' ? { ...finding, recovery } : { ...finding, recovery, held: 'operator' };
}

/** A losing node is restarted only when its instance is InService, EC2 runs it and the node itself answered, running. */
function restartable(observed: ObservedCluster, instanceId: string | undefined, node: string, lifecycleOf: Map<string, string>): boolean {
  if (!instanceId) return false;
  const status = observed.statuses.get(instanceId);
  const ec2 = observed.instances.find((i) => i.instanceId === instanceId);
  return (
    lifecycleOf.get(instanceId) === 'InService' && ec2?.state === 'running' && !!status && !(status instanceof Error) && status.node === node && status.running
  );
}

/**
 * Forget departed nodes first (and their replicas with them), so joins and quorum growth see only live
 * members; then restart the losing side of a partition, so it is back in the winning side before
 * anything joins it; then joins, so the policy lands on the whole cluster; then the members' own
 * replicas, grown onto the repaired membership; targets last, so traffic follows it. New joiners and
 * restarted losers are registered on the next tick, once a status verifies them like any other member.
 */
const EXECUTION_ORDER: Record<ReconcileAction['kind'], number> = {
  // planned alone: while the majority is lost nothing else but the targets changes
  'recover-majority': -1,
  forget: 0,
  'remove-replicas': 1,
  restart: 2,
  join: 3,
  'apply-policy': 4,
  'enable-feature-flags': 5,
  'keep-administrator': 6,
  'repair-replicas': 7,
  register: 8,
  deregister: 9,
};

/** The plan's actions in the order reconcile runs them (a dry run reports them as planned). */
export function inExecutionOrder(actions: readonly ReconcileAction[]): ReconcileAction[] {
  return [...actions].sort((a, b) => EXECUTION_ORDER[a.kind] - EXECUTION_ORDER[b.kind]);
}

/** One step per action, except the restarts of a partition's losing sides: those are one step together. */
export function inSteps(ordered: ReconcileAction[]): ReconcileAction[][] {
  const restarts = ordered.filter((action) => action.kind === 'restart');
  return ordered.flatMap((action): ReconcileAction[][] => (action.kind !== 'restart' ? [[action]] : action === restarts[0] ? [restarts] : []));
}
