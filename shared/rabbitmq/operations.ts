import * as z from 'zod';

/**
 * The node operations warren runs on instances. Each is one SSM Command document under
 * infra/ssm/<Document>.yml whose script prints exactly one JSON document on stdout, described
 * by the schema below. Parameters reach the script as environment variables SSM_<Name>
 * (interpolationType ENV_VAR); every one has an allowedPattern in the document.
 */

export const NODE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}@[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/;
export const nodeName = z.string().regex(NODE_NAME_PATTERN, 'not a RabbitMQ node name');

const members = z.object({ all: z.array(nodeName), running: z.array(nodeName) });

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

export const nodeStatusResult = z.object({
  node: nodeName,
  version: z.string(),
  /** the RabbitMQ application is running on the node */
  running: z.boolean(),
  /** membership as this node sees it; empty when the node is not running */
  members,
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
});

export const nodeJoinResult = z.object({
  node: nodeName,
  version: z.string(),
  /** how the node became a member */
  action: z.enum(['booted-with-peers', 'joined', 'already-member']),
  members,
  policy: z.enum(['applied', 'unchanged', 'skipped']),
  quorumGrown: z.number().int().nonnegative(),
});

export const nodeLeaveResult = z.discriminatedUnion('left', [
  z.object({
    node: nodeName,
    left: z.literal(true),
    drained: z.boolean(),
    quorumShrunk: z.number().int().nonnegative(),
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
  result: z.enum(['forgotten', 'absent']),
  /** the departed node did not answer and was disconnected from the members first */
  disconnected: z.boolean(),
});

export const nodeApplyPolicyResult = z.object({
  node: nodeName,
  policy: z.enum(['applied', 'unchanged', 'skipped']),
});

export const nodeDrainResult = z.object({ node: nodeName, drained: z.boolean() });

export const NODE_OPERATIONS = {
  status: { document: 'NodeStatus', result: nodeStatusResult },
  join: { document: 'NodeJoin', result: nodeJoinResult },
  leave: { document: 'NodeLeave', result: nodeLeaveResult },
  forget: { document: 'NodeForget', result: nodeForgetResult },
  applyPolicy: { document: 'NodeApplyPolicy', result: nodeApplyPolicyResult },
  drain: { document: 'NodeDrain', result: nodeDrainResult },
} as const;

export type NodeOperation = keyof typeof NODE_OPERATIONS;

export interface NodeOperationParams {
  status: Record<string, never>;
  /** Peers: comma-separated running members; GrowQuorum: "true" | "false" */
  join: PolicyParams & { Peers: string; GrowQuorum: 'true' | 'false'; TimeoutSeconds: string };
  leave: { Drain: 'true' | 'false' };
  /**
   * NodeName: the departed node, forgotten by the peer the command runs on; Departed: "true" only when
   * EC2 reports its instance terminated (a silent node is then disconnected rather than waited for)
   */
  forget: { NodeName: string; Departed: 'true' | 'false' };
  applyPolicy: PolicyParams;
  drain: Record<string, never>;
}

export type NodeOperationResult = { [K in NodeOperation]: z.infer<(typeof NODE_OPERATIONS)[K]['result']> };
export type NodeStatus = NodeOperationResult['status'];
export type NodeJoinOutcome = NodeOperationResult['join'];
export type NodeLeaveOutcome = NodeOperationResult['leave'];

/** Parses the stdout of one operation; throws a ZodError or SyntaxError when it does not fit. */
export function parseNodeOutput<O extends NodeOperation>(operation: O, stdout: string): NodeOperationResult[O] {
  const lastLine = stdout.trim().split('\n').pop() ?? '';
  return NODE_OPERATIONS[operation].result.parse(JSON.parse(lastLine)) as NodeOperationResult[O];
}

/** RabbitMQ major version from a version string such as "3.10.8" or "4.0.5". */
export function majorVersion(version: string): number {
  const major = Number.parseInt(version.split('.')[0] ?? '', 10);
  return Number.isFinite(major) ? major : 0;
}
