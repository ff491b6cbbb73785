import { createHash } from 'node:crypto';
import * as z from 'zod';

/**
 * The node operations warren runs on instances. Each is one SSM Command document under
 * infra/ssm/<Document>.yml whose script prints exactly one JSON document on stdout, described
 * by the schema below (NodeStatus prints two lines: see nodeStatusSummary). Parameters reach the script as environment variables SSM_<Name>
 * (interpolationType ENV_VAR); every one has an allowedPattern in the document.
 */

export const NODE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}@[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/;
export const nodeName = z.string().regex(NODE_NAME_PATTERN, 'not a RabbitMQ node name');

const members = z.object({ all: z.array(nodeName), running: z.array(nodeName) });
export type Members = z.infer<typeof members>;

/** Queue types a vhost can default to (RabbitMQ 3.11 and later; warren sets it on 4.x). */
export const QUEUE_TYPES = ['classic', 'quorum', 'stream'] as const;
export type QueueType = (typeof QUEUE_TYPES)[number];

/**
 * Policy parameters; an empty name means "apply no policy", an empty DefaultQueueType leaves the
 * default vhost's default queue type as it is.
 */
export interface PolicyParams {
  PolicyName: string;
  PolicyPattern: string;
  PolicyDefinition: string;
  PolicyApplyTo: string;
  PolicyPriority: string;
  DefaultQueueType: QueueType | '';
}

const countPerNode = z.record(nodeName, z.number().int().positive());

/** The replicas of quorum queues and streams against the membership (infra/ssm/NodeStatus.yml); counts of queues, per node. */
export const quorumReplicas = z.object({
  queues: z.number().int().nonnegative(),
  /** queues with anything below: a leaderless queue, or one with a replica missing, stopped or departed */
  degraded: z.number().int().nonnegative(),
  /** queues without a running leader or without a running majority of their replicas: their membership cannot change */
  leaderless: z.number().int().nonnegative(),
  /** running member -> queues (with a leader) that have no replica on it */
  missing: countPerNode,
  /** running member -> queues whose replica on it does not run */
  stopped: countPerNode,
  /** node outside the cluster -> queues that still list it as a replica */
  departed: countPerNode,
});
export type QuorumReplicas = z.infer<typeof quorumReplicas>;

/** What NodeStatus reports about the node itself, on both of its shapes. */
const nodeStatusFacts = z.object({
  node: nodeName,
  version: z.string(),
  /** the RabbitMQ application is running on the node */
  running: z.boolean(),
  /**
   * the app is stopped by RabbitMQ's own partition handling (pause_minority), which starts it again once
   * the node sees the majority; false from a NodeStatus document older than the field
   */
  paused: z.boolean().default(false),
  /** node -> nodes it cannot reach, as cluster_status reports it */
  partitions: z.record(z.string(), z.array(z.string())),
  alarms: z.array(z.string()),
  cookieHash: z.string(),
  /** names of the policies on the default vhost; empty when the node is not running */
  policies: z.array(z.string()),
  /** the default vhost's default queue type; empty when unknown (not running, or a version without it) */
  defaultQueueType: z.string(),
  /** the node is in maintenance mode (drained) */
  underMaintenance: z.boolean(),
  /**
   * where the cluster keeps its metadata: mnesia (3.x, 4.0-4.2 by default) or khepri (Raft: 4.2's default,
   * 4.3's only store, which works only while a majority of the members runs); empty when not running, and
   * from a NodeStatus document older than the field
   */
  metadataStore: z.enum(['mnesia', 'khepri', '']).default(''),
  /** stable feature flags the cluster has not enabled (an upgrade into 4.3 needs every one); 0 when not running */
  featureFlagsDisabled: z.number().int().nonnegative().default(0),
  /**
   * the Khepri leader this member knows; null on Mnesia and when not running. Not a majority check: a Ra
   * leader that lost its followers stays leader (measured on 4.3.6 with two of three members killed)
   */
  metadataLeader: nodeName.nullable().default(null),
  /** deprecated features the cluster uses (3.13 and later), by RabbitMQ's names; empty when not running */
  deprecatedFeaturesUsed: z
    .array(z.string().regex(/^[a-z0-9_]{1,64}$/))
    .max(32)
    .default([]),
  /**
   * The health of every quorum queue's replicas, judged by the first running member (by name) of the
   * node's view; null on every other node, on a node that could not list its queues, and from a
   * NodeStatus document older than the field.
   */
  replicas: quorumReplicas.nullable().default(null),
  /**
   * the version of the administrator's secret the cluster has applied (the global parameter warren_admin
   * that NodeApplyPolicy records), while that user exists; null otherwise, when not running, and from a
   * NodeStatus document older than the field
   */
  adminSecretVersion: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/)
    .nullable()
    .default(null),
});

/**
 * Line 1 of NodeStatus: the node's facts with its membership as a digest, short whatever the
 * cluster size, so that ListCommandInvocations (2,500 characters of output an instance) carries it
 * whole. Line 2 is the membership itself, `{"members": {...}}`.
 */
export const nodeStatusSummary = nodeStatusFacts.extend({
  /** sha256 (hex) of the compact JSON {"all":[...],"running":[...]}, both lists sorted: equal digests, equal views */
  membersDigest: z.string().regex(/^[0-9a-f]{64}$/, 'not a sha256 digest'),
  memberCounts: z.object({ all: z.number().int().nonnegative(), running: z.number().int().nonnegative() }),
});
export type NodeStatusSummary = z.infer<typeof nodeStatusSummary>;

/** Both lines of NodeStatus: the node's facts and the membership as this node sees it (empty when not running). */
export const nodeStatusResult = nodeStatusFacts.extend({ members });
const nodeStatusMembersLine = z.object({ members });

export const nodeJoinResult = z.discriminatedUnion('joined', [
  z.object({
    node: nodeName,
    joined: z.literal(true),
    version: z.string(),
    /** how the node became a member */
    action: z.enum(['booted-with-peers', 'joined', 'already-member']),
    members,
    policy: z.enum(['applied', 'unchanged', 'skipped']),
    quorumGrown: z.number().int().nonnegative(),
    /** streams that had no replica on this node and now have one */
    streamsGrown: z.number().int().nonnegative().default(0),
    /** replicas of this node that did not run and were deleted and added again */
    replicasRecreated: z.number().int().nonnegative().default(0),
    /**
     * GrowQuorum's gate: every quorum replica on the node finished its initial sync (null or absent: not
     * checked). Never false: a node whose replicas lag past the budget fails NodeJoin, naming the queues.
     */
    replicasSynced: z.literal(true).nullable().optional(),
    /** initial-sync: RabbitMQ's own check (3.13+, non-voter replicas); commit-index: each replica against its leader's commit index */
    syncCheck: z.enum(['initial-sync', 'commit-index']).nullable().optional(),
    /** quorum queues with a replica on the node that the gate checked */
    syncQueues: z.number().int().nonnegative().optional(),
    syncWaitSeconds: z.number().nonnegative().optional(),
  }),
  /**
   * refused before anything changed: the node's release series is not one the cluster can take, or the
   * cluster's Khepri has no running majority (no member can be added until it is recovered)
   */
  z.object({
    node: nodeName,
    joined: z.literal(false),
    reason: z.enum(['version-incompatible', 'majority-lost']),
    version: z.string(),
    detail: z.string(),
  }),
]);

export const nodeLeaveResult = z.discriminatedUnion('left', [
  z.object({
    node: nodeName,
    left: z.literal(true),
    drained: z.boolean(),
    quorumShrunk: z.number().int().nonnegative(),
    /** streams whose replica on this node was deleted (each had another) */
    streamsShrunk: z.number().int().nonnegative().default(0),
    /** the app was already stopped before the command ran */
    alreadyStopped: z.boolean(),
  }),
  z.object({
    node: nodeName,
    left: z.literal(false),
    reason: z.enum(['quorum-critical', 'mirror-sync-critical', 'last-running-member']),
    detail: z.string(),
  }),
]);

export const nodeForgetResult = z.object({
  peer: nodeName,
  node: nodeName,
  /**
   * still-running: refused, the node still counts as running for the peer (invariant 1: a running node is
   * never forgotten); majority-lost: on Khepri with no majority of the members running nothing changed
   * (a forget cannot complete). Neither changed anything.
   */
  result: z.enum(['forgotten', 'absent', 'still-running', 'majority-lost']),
  /** the departed node did not answer and was disconnected from the members first */
  disconnected: z.boolean(),
  /** quorum queues and streams that still listed the node as a replica and no longer do */
  replicasRemoved: z.number().int().nonnegative().default(0),
});

export const nodeApplyPolicyResult = z.object({
  node: nodeName,
  policy: z.enum(['applied', 'unchanged', 'skipped']),
  /** with EnableFeatureFlags: whether stable flags were left disabled and are now enabled */
  featureFlags: z.enum(['enabled', 'unchanged', 'skipped']).default('skipped'),
  /** with AdminSecretId: the administrator created, its password changed to the secret's, or already so */
  admin: z.enum(['created', 'updated', 'unchanged', 'skipped']).default('skipped'),
  /** with AdminSecretId: the administrator's user name, as the secret gives it */
  adminUser: z.string().optional(),
});

export const nodeDrainResult = z.object({ node: nodeName, drained: z.boolean() });

/** Steps of NodeRestart: both halves, or one, so that a whole losing side is stopped before any of it starts. */
export const RESTART_STEPS = ['restart', 'stop', 'start'] as const;
export type RestartStep = (typeof RESTART_STEPS)[number];

export const nodeRestartResult = z.discriminatedUnion('done', [
  z.object({
    node: nodeName,
    step: z.enum(RESTART_STEPS),
    done: z.literal(true),
    /** the app runs after the step (false after a stop) */
    running: z.boolean(),
    /** the membership the node sees after the step; empty while its app is stopped */
    members,
    partitions: z.record(z.string(), z.array(z.string())),
  }),
  z.object({
    node: nodeName,
    step: z.enum(RESTART_STEPS),
    done: z.literal(false),
    /** no survivor runs and answers (the cut may last), or pause_minority holds the node paused */
    reason: z.enum(['no-survivor-running', 'paused']),
    detail: z.string(),
  }),
]);

const countOrUnknown = z.number().int().nonnegative().nullable();

/** NodeRecover: the recovery from a lost Khepri majority, run (recovered) or not (a dry run, or refused with its reason). */
export const nodeRecoverResult = z.discriminatedUnion('recovered', [
  z.object({
    node: nodeName,
    recovered: z.literal(true),
    /** the lost members the survivor no longer counts */
    drops: z.array(nodeName),
    /** quorum queues and their messages on the survivor after the shrink; null when they could not be listed */
    quorumQueues: countOrUnknown,
    messages: countOrUnknown,
  }),
  z.object({
    node: nodeName,
    recovered: z.literal(false),
    reason: z.enum(['dry-run', 'app-not-running', 'not-khepri', 'majority-present']),
    detail: z.string(),
    /** a dry run's: what it would drop, of which members, and the quorum queues it would shrink (from the metadata) */
    drops: z.array(nodeName).optional(),
    members: z.array(nodeName).optional(),
    quorumQueues: countOrUnknown.optional(),
  }),
]);

/** Quorum-queue leaders per node: node -> queues it leads (a node that leads none is absent). */
const leadersPerNode = z.record(nodeName, z.number().int().nonnegative());

/**
 * NodeRebalance: `rabbitmq-queues rebalance quorum` run (rebalanced), or not because another rebalance of
 * the cluster holds RabbitMQ's lock (in-progress; nothing changed by this one).
 */
export const nodeRebalanceResult = z.discriminatedUnion('rebalanced', [
  z.object({
    node: nodeName,
    rebalanced: z.literal(true),
    /** leaders that left their node: the sum of each node's drop from before to after */
    moved: z.number().int().nonnegative(),
    /** as the queues' records named their leaders when the rebalance began */
    before: leadersPerNode,
    /** as the rebalance reports them when done */
    after: leadersPerNode,
  }),
  z.object({ node: nodeName, rebalanced: z.literal(false), reason: z.enum(['in-progress']), detail: z.string() }),
]);

export const NODE_OPERATIONS = {
  status: { document: 'NodeStatus', result: nodeStatusResult },
  join: { document: 'NodeJoin', result: nodeJoinResult },
  leave: { document: 'NodeLeave', result: nodeLeaveResult },
  forget: { document: 'NodeForget', result: nodeForgetResult },
  applyPolicy: { document: 'NodeApplyPolicy', result: nodeApplyPolicyResult },
  drain: { document: 'NodeDrain', result: nodeDrainResult },
  restart: { document: 'NodeRestart', result: nodeRestartResult },
  recover: { document: 'NodeRecover', result: nodeRecoverResult },
  rebalance: { document: 'NodeRebalance', result: nodeRebalanceResult },
} as const;

export type NodeOperation = keyof typeof NODE_OPERATIONS;

export interface NodeOperationParams {
  status: Record<string, never>;
  /**
   * Peers: comma-separated running members; GrowQuorum: "true" | "false"; JoinableSeries: the release
   * series the node may run (shared/cluster/versions.ts), absent or empty for no check
   */
  join: PolicyParams & { Peers: string; GrowQuorum: 'true' | 'false'; TimeoutSeconds: string; JoinableSeries?: string };
  leave: { Drain: 'true' | 'false' };
  /**
   * NodeName: the departed node, forgotten by the peer the command runs on; Departed: "true" only when
   * EC2 reports its instance terminated (a silent node is then disconnected rather than waited for)
   */
  forget: { NodeName: string; Departed: 'true' | 'false' };
  /** EnableFeatureFlags: "true" enables every stable feature flag (cluster-wide); absent or "false" leaves them */
  /** AdminSecretId: the administrator's secret (name or ARN), which the node reads with its own role; absent or empty keeps none */
  applyPolicy: PolicyParams & { EnableFeatureFlags?: 'true' | 'false'; AdminSecretId?: string };
  drain: Record<string, never>;
  /**
   * Survivors: comma-separated running members of the winning side (the app is stopped only while one of
   * them runs and answers); Step: see RESTART_STEPS; TimeoutSeconds bounds the whole step
   */
  restart: { Survivors: string; Step: RestartStep; TimeoutSeconds: string };
  /** DryRun: "true" reports and changes nothing */
  recover: { DryRun: 'true' | 'false' };
  /** TimeoutSeconds bounds the command: one cut short reports nothing, and the leaders it moved stay moved */
  rebalance: { TimeoutSeconds: string };
}

export type NodeOperationResult = { [K in NodeOperation]: z.infer<(typeof NODE_OPERATIONS)[K]['result']> };
export type NodeStatus = NodeOperationResult['status'];
export type NodeJoinOutcome = NodeOperationResult['join'];
/** A join that made the node a member (not refused). */
export type NodeJoined = Extract<NodeJoinOutcome, { joined: true }>;
export type NodeLeaveOutcome = NodeOperationResult['leave'];
export type NodeRestartOutcome = NodeOperationResult['restart'];

/** Parses the stdout of one operation; throws a ZodError or SyntaxError when it does not fit. */
export function parseNodeOutput<O extends NodeOperation>(operation: O, stdout: string): NodeOperationResult[O] {
  if (operation === 'status') return parseNodeStatus(stdout) as NodeOperationResult[O];
  const lastLine = stdout.trim().split('\n').pop() ?? '';
  return NODE_OPERATIONS[operation].result.parse(JSON.parse(lastLine)) as NodeOperationResult[O];
}

/** Line 1 of a NodeStatus output, which may have been cut anywhere after it (ListCommandInvocations). */
export function parseNodeStatusSummary(stdout: string): NodeStatusSummary {
  return nodeStatusSummary.parse(JSON.parse(stdout.split('\n')[0] ?? ''));
}

/** Both lines of a NodeStatus output; the membership must be the one line 1 digested. */
function parseNodeStatus(stdout: string): NodeStatus {
  const lines = stdout.trim().split('\n');
  if (lines.length !== 2) throw new SyntaxError(`NodeStatus prints 2 lines, this output has ${lines.length}`);
  const summary = parseNodeStatusSummary(lines[0]!);
  return withMembers(summary, nodeStatusMembersLine.parse(JSON.parse(lines[1]!)).members);
}

/** sha256 of a membership as NodeStatus digests it (infra/ssm/NodeStatus.yml). */
export function membersDigest(view: Members): string {
  const canonical = { all: [...new Set(view.all)].sort(), running: [...new Set(view.running)].sort() };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

/**
 * The full status of a node from its summary and a membership with the same digest (its own line 2,
 * or another node's that sees the same view); throws when the membership is not the one digested.
 */
export function withMembers(summary: NodeStatusSummary, view: Members): NodeStatus {
  const digest = membersDigest(view);
  if (digest !== summary.membersDigest) {
    throw new SyntaxError(`membership digest ${digest} is not the ${summary.membersDigest} ${summary.node} reported`);
  }
  return nodeStatusResult.parse({ ...summary, members: view });
}

/** The summary of a node that sees no members (not running): its membership needs no second look. */
export function emptyMembership(summary: NodeStatusSummary): Members | undefined {
  return summary.memberCounts.all === 0 && summary.memberCounts.running === 0 ? { all: [], running: [] } : undefined;
}

/** RabbitMQ major version from a version string such as "3.10.8" or "4.0.5". */
export function majorVersion(version: string): number {
  const major = Number.parseInt(version.split('.')[0] ?? '', 10);
  return Number.isFinite(major) ? major : 0;
}
