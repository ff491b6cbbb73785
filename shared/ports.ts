import type { NodeOperation, NodeOperationParams, NodeOperationResult } from './rabbitmq/operations';
import type { NodeCommandFailed } from './errors';

/**
 * The ports the workflows run against. In AWS they are the adapters under shared/aws/;
 * in the sandbox they are backed by a local cloud. A workflow receives them in one `deps`.
 */

export type Ec2State = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

/** One instance as the ASG sees it. lifecycleState is the ASG's (Pending:Wait, InService, ...). */
export interface GroupInstance {
  instanceId: string;
  lifecycleState: string;
  healthStatus: 'Healthy' | 'Unhealthy';
  availabilityZone: string;
}

export interface GroupFacts {
  name: string;
  minSize: number;
  maxSize: number;
  desiredCapacity: number;
  instances: GroupInstance[];
  /** the value of the group's warren:paused tag (an operator's note, possibly empty) while it has one: warren keeps its hands off */
  paused?: string;
}

/** One instance as EC2 sees it. nodeName and rabbitmqVersion are the tags warren writes after a verified join, when present. */
export interface InstanceFacts {
  instanceId: string;
  state: Ec2State;
  privateIp?: string;
  privateDnsName?: string;
  /** value of the aws:autoscaling:groupName tag */
  autoScalingGroupName?: string;
  /** value of the warren:node-name tag */
  nodeName?: string;
  /** value of the warren:rabbitmq-version tag: the version the node reported when its join was verified */
  rabbitmqVersion?: string;
  /** epoch ms EC2 launched the instance */
  launchTime?: number;
}

export interface Inventory {
  /** DescribeAutoScalingGroups for the managed group. */
  describeGroup(): Promise<GroupFacts>;
  /** DescribeInstances by id (batched); ids EC2 does not know are absent from the answer. */
  describeInstances(instanceIds: string[]): Promise<InstanceFacts[]>;
  /** Every instance tagged with the managed group's name, in any state (paginated). */
  describeGroupInstances(): Promise<InstanceFacts[]>;
  /**
   * Which of these instances carry the managed group's tag, in any state (EC2 keeps a terminated
   * instance, tags included, visible for about an hour); ids EC2 does not know are left out.
   */
  groupMembersAmong(instanceIds: string[]): Promise<Set<string>>;
  /**
   * Writes the warren:node-name tag and, when given, the warren:rabbitmq-version tag, in one
   * CreateTags: together they let the next launch name its peers and version without asking a node.
   */
  tagNodeName(instanceId: string, nodeName: string, rabbitmqVersion?: string): Promise<void>;
  /** SetInstanceHealth Unhealthy, so the ASG replaces the instance through its hooks. */
  markUnhealthy(instanceId: string): Promise<void>;
}

export interface LifecycleActionRef {
  autoScalingGroupName: string;
  lifecycleHookName: string;
  lifecycleActionToken?: string;
  instanceId: string;
}

/** 'no-active-action' is AWS's "No active Lifecycle Action found": on a repeat it means already done. */
export interface Lifecycle {
  heartbeat(action: LifecycleActionRef): Promise<'recorded' | 'no-active-action'>;
  complete(action: LifecycleActionRef, result: 'CONTINUE' | 'ABANDON'): Promise<'completed' | 'no-active-action'>;
}

/** One call's own bound, when it must answer sooner than the shell's (config.bounds.ssmCommandSeconds). */
export interface NodeCommandOptions {
  /** wait at most this long: the time the invocation has left. An instance silent until then is NodeCommandFailed 'TimedOut'. */
  timeoutSeconds?: number;
}

/** The administrator credential's secret, seen without its value (its value is for the nodes alone). */
export interface AdminCredential {
  /** DescribeSecret: the id of the version labelled AWSCURRENT */
  currentVersion(): Promise<string>;
}

export interface NodeShell {
  /** SSM DescribeInstanceInformation: is the instance's agent Online? */
  isAgentOnline(instanceId: string): Promise<boolean>;
  /**
   * One command on one instance; resolves with the parsed output or throws NodeCommandFailed / NodeOutputInvalid.
   * A command given up on at the bound is cancelled, and a document's own TimeoutSeconds ends before the bound.
   */
  run<O extends NodeOperation>(instanceId: string, operation: O, params: NodeOperationParams[O], options?: NodeCommandOptions): Promise<NodeOperationResult[O]>;
  /** One command on many instances (a single SendCommand); each instance's result or error, within the same bound as run. */
  runOnMany<O extends NodeOperation>(
    instanceIds: string[],
    operation: O,
    params: NodeOperationParams[O],
    options?: NodeCommandOptions,
  ): Promise<Map<string, NodeOperationResult[O] | NodeCommandFailed>>;
}

export type TargetGroupKey = 'amqp' | 'management';
export type TargetState = 'initial' | 'healthy' | 'unhealthy' | 'unused' | 'draining' | 'unavailable';

export interface TargetGroups {
  /** Registers the instance on every target group (idempotent). */
  register(instanceId: string): Promise<void>;
  /** Deregisters the instance from every target group (idempotent). */
  deregister(instanceId: string): Promise<void>;
  /** Waits (SDK waiter) until the instance is healthy in every group; throws WaitTimedOut. */
  waitHealthy(instanceId: string, timeoutSeconds: number): Promise<void>;
  /** Waits (SDK waiter) until the instance is gone from every group; throws WaitTimedOut. */
  waitDeregistered(instanceId: string, timeoutSeconds: number): Promise<void>;
  /** Every registered target of every group with its state. */
  describe(): Promise<Record<TargetGroupKey, Map<string, TargetState>>>;
}

/** One received message of the heal queue, as the SQS event record names it. */
export interface QueuedRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  /** the FIFO message group (the cluster) */
  groupId: string;
}

/** When a failed event is tried next: its attempt number (the first is 1) and not before this epoch ms. */
export interface RetryMark {
  attempt: number;
  notBefore: number;
}

/** The SQS message attributes a RetryMark travels in. */
export const ATTEMPT_ATTRIBUTE = 'warren.attempt';
export const NOT_BEFORE_ATTRIBUTE = 'warren.notBefore';

/** An EventBridge event handed on to the heal queue: its id deduplicates it, its body is the event as delivered. */
export interface ForwardedEvent {
  id: string;
  body: string;
}

/** An event the heal queue did not take, with SQS's reason; it is retried from where it came. */
export interface ForwardFailure {
  id: string;
  reason: string;
}

/** The serialised queue in front of the heal function (SQS FIFO in AWS). */
export interface HealQueue {
  enqueueReconcile(reason: string): Promise<void>;
  /** Puts events (the triage step's survivors) in the cluster's message group, in order; answers the ones SQS refused. */
  forward(events: ForwardedEvent[]): Promise<ForwardFailure[]>;
  /** Sends a failed event again at the tail of its group, marked with its next attempt: the group's later events go first. */
  retryLater(record: QueuedRecord, mark: RetryMark): Promise<void>;
  /** Sends an event that failed its last attempt to the dead-letter queue, with the error. */
  deadLetter(record: QueuedRecord, attempt: number, error: string): Promise<void>;
  /** ChangeMessageVisibility: the received record is delivered again after `seconds`. */
  hideFor(record: QueuedRecord, seconds: number): Promise<void>;
}

export interface Metrics {
  count(name: string, value?: number): void;
  gauge(name: string, value: number): void;
  durationMs(name: string, ms: number): void;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface Log {
  debug(message: string, extra?: Record<string, unknown>): void;
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}
