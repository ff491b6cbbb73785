import type { Config } from '../../shared/config';
import { NodeCommandFailed, WaitTimedOut } from '../../shared/errors';
import type {
  Ec2State,
  ForwardedEvent,
  GroupFacts,
  HealQueue,
  InstanceFacts,
  Inventory,
  Lifecycle,
  LifecycleActionRef,
  Log,
  Metrics,
  NodeShell,
  TargetGroups,
  TargetState,
} from '../../shared/ports';
import type { NodeOperation, NodeOperationParams, NodeOperationResult, QuorumReplicas } from '../../shared/rabbitmq/operations';
import type { EventOf } from '../../shared/events/types';
import { invocationDeps, type Deps } from '../../shared/workflows/deps';
import { GROUP, testConfig } from './config';
import { FakeClock } from './fake-clock';
import { runNodeOperation } from './fake-node';

export interface FakeInstance {
  id: string;
  lifecycle: string;
  health: 'Healthy' | 'Unhealthy';
  ec2: Ec2State;
  dns: string;
  group?: string;
  nodeTag?: string;
  /** the warren:rabbitmq-version tag */
  versionTag?: string;
  launchedAt: number;
  agentOnlineAt: number;
  /** false: every SSM command to it fails (network cut, agent dead) */
  reachable: boolean;
  /** the agent takes every command and never answers (a hung node): each one ends TimedOut when its wait gives up */
  silent?: boolean;
  node: {
    name: string;
    version: string;
    running: boolean;
    member: boolean;
    drained: boolean;
    critical?: { reason: 'quorum-critical' | 'mirror-sync-critical'; until: number };
  };
  /** the join command returns while the node is still outside the cluster */
  joinFailsSilently?: boolean;
  /** pause_minority holds the node's app stopped (NodeStatus: paused) */
  paused?: boolean;
  /** a partition outlived the cut: the running nodes this node still sees, and those it reports unreachable */
  partition?: { view: string[]; unreachable: string[]; cutLasts?: boolean };
}

/** A node command's own bound (NodeShell's options argument). */
type CommandOptions = Parameters<NodeShell['run']>[3];

export interface Call {
  at: number;
  port: 'asg' | 'ec2' | 'ssm' | 'elb' | 'lifecycle' | 'queue';
  op: string;
  instanceId?: string;
  args?: unknown;
}

/**
 * An in-memory AWS + RabbitMQ for the workflows: ASG lifecycle states, EC2 states and tags, nodes with
 * a shared membership view, target registrations, lifecycle actions with AWS's "no active action".
 * Every port call is recorded in order so tests can assert what happened and when.
 */
export class FakeCloud {
  readonly clock = new FakeClock();
  readonly calls: Call[] = [];
  readonly instances = new Map<string, FakeInstance>();
  /** policy names on vhost "/", cluster-wide like RabbitMQ's */
  readonly policies = new Set<string>();
  /** default queue type of vhost "/"; '' until warren sets it */
  defaultQueueType = '';
  /** the quorum replicas' report the first running member's NodeStatus carries (null: none reported) */
  replicas: QuorumReplicas | null = null;
  /** stable feature flags the cluster left disabled, as NodeStatus counts them */
  featureFlagsDisabled = 0;
  /**
   * the administrator's secret: its AWSCURRENT version (what DescribeSecret answers); set it, with
   * config.adminSecretId, for warren to keep the administrator
   */
  adminSecretVersion?: string;
  /** the secret version the cluster has applied (the global parameter warren_admin), null before any */
  adminApplied: string | null = null;
  /** where the cluster keeps its metadata: Khepri (4.3) changes nothing without a majority */
  metadataStore: 'mnesia' | 'khepri' = 'mnesia';
  /** quorum-queue leaders per node, as NodeRebalance counts them; it spreads them over the running members */
  quorumLeaders: Record<string, number> = {};
  /** another rebalance holds RabbitMQ's lock: NodeRebalance answers in-progress */
  rebalanceInProgress = false;
  /** the group's warren:paused tag value, while it has one */
  paused?: string;
  readonly targets = new Map<string, TargetState>();
  readonly actions = new Map<string, { hook: 'launch' | 'terminate'; state: 'open' | 'CONTINUE' | 'ABANDON' }>();
  readonly metricLog: Array<{ name: string; value: number }> = [];
  readonly logs: Array<{ level: string; message: string; extra?: Record<string, unknown> }> = [];
  readonly reconcileRequests: string[] = [];
  /** events the triage step put in the cluster's message group, in order */
  readonly forwarded: ForwardedEvent[] = [];
  /** event ids the heal queue refuses to take (SendMessageBatch's Failed entries) */
  readonly refuseForwarding = new Set<string>();
  readonly commandFailures = new Map<string, number>();
  /** every step of NodeRestart that ran, in order */
  readonly restartSteps: Array<{ instanceId: string; step: string }> = [];
  /** targets that never finish draining */
  stuckDraining = false;
  /** a registered target of a running member turns healthy this long after its registration (NLB in AWS: minutes) */
  healthyAfterMs = 0;
  private readonly registeredAt = new Map<string, number>();
  joinMs = 20_000;
  desiredCapacity?: number;
  private nextIp = 1;

  constructor(readonly config: Config = testConfig()) {}

  /**
   * An InService member whose node runs, registered and tagged with its node name. tags 'both': also
   * the version tag, like after a launch by this warren; the default is a member joined before it.
   */
  addMember(id: string, version = '3.10.8', tags: 'both' | 'node-name' | 'none' = 'node-name'): FakeInstance {
    const instance = this.addInstance(id, 'InService', version);
    Object.assign(instance.node, { running: true, member: true });
    if (tags !== 'none') instance.nodeTag = instance.node.name;
    if (tags === 'both') instance.versionTag = version;
    this.targets.set(id, 'healthy');
    return instance;
  }

  /** A new instance in Pending:Wait with an open launch action; RabbitMQ stopped, agent online after agentDelayMs. */
  addLaunching(id: string, agentDelayMs = 30_000, version = '3.10.8'): FakeInstance {
    const instance = this.addInstance(id, 'Pending:Wait', version);
    instance.agentOnlineAt = this.clock.now() + agentDelayMs;
    this.actions.set(id, { hook: 'launch', state: 'open' });
    return instance;
  }

  /** The ASG scales in: the instance enters Terminating:Wait with an open terminate action. */
  startTerminating(id: string): void {
    this.get(id).lifecycle = 'Terminating:Wait';
    this.actions.set(id, { hook: 'terminate', state: 'open' });
  }

  /** EC2 terminates the instance outright (crash, spot reclaim): the node dies with it. */
  terminateInEc2(id: string, state: Ec2State = 'terminated', nodeKeepsRunning = false): void {
    const instance = this.get(id);
    instance.ec2 = state;
    instance.lifecycle = 'Terminated';
    instance.node.running = nodeKeepsRunning;
  }

  addInstance(id: string, lifecycle: string, version = '3.10.8'): FakeInstance {
    const host = `ip-10-0-0-${this.nextIp++}`;
    const instance: FakeInstance = {
      id,
      lifecycle,
      health: 'Healthy',
      ec2: 'running',
      dns: `${host}.ec2.internal`,
      group: GROUP,
      launchedAt: this.clock.now(),
      agentOnlineAt: 0,
      reachable: true,
      node: { name: `rabbit@${host}`, version, running: false, member: false, drained: false },
    };
    this.instances.set(id, instance);
    return instance;
  }

  /** Running members split into sides (instance ids) that each see only themselves and report the others partitioned. */
  partitionInto(...sides: string[][]): void {
    const names = sides.map((side) => side.map((id) => this.get(id).node.name).sort());
    sides.forEach((side, n) => {
      const unreachable = names
        .filter((_, other) => other !== n)
        .flat()
        .sort();
      for (const id of side) this.get(id).partition = { view: names[n]!, unreachable };
    });
  }

  get(id: string): FakeInstance {
    const instance = this.instances.get(id);
    if (!instance) throw new Error(`no fake instance ${id}`);
    return instance;
  }

  failCommand(instanceId: string, operation: NodeOperation, times = Number.POSITIVE_INFINITY): void {
    this.commandFailures.set(`${instanceId}:${operation}`, times);
  }

  runningMembers(): string[] {
    return [...this.instances.values()]
      .filter((i) => i.node.member && i.node.running)
      .map((i) => i.node.name)
      .sort();
  }

  allMembers(): string[] {
    return [...this.instances.values()]
      .filter((i) => i.node.member)
      .map((i) => i.node.name)
      .sort();
  }

  /** Node commands sent, each runOnMany counted once, like one SendCommand. */
  commands(operation?: NodeOperation): Call[] {
    return this.calls.filter((c) => c.port === 'ssm' && c.op !== 'isAgentOnline' && (!operation || c.op === operation || c.op === `runOnMany:${operation}`));
  }

  indexOf(port: Call['port'], op: string, instanceId?: string): number {
    return this.calls.findIndex((c) => c.port === port && c.op === op && (instanceId === undefined || c.instanceId === instanceId));
  }

  metric(name: string): number {
    return this.metricLog.filter((m) => m.name === name).reduce((sum, m) => sum + m.value, 0);
  }

  /** The launch event AWS would send now for this instance's open action. */
  launchEvent(id: string, group = GROUP): EventOf<'launch'> {
    return { kind: 'launch', id: `evt-launch-${id}`, time: this.clock.now(), instanceId: id, action: this.actionRef(id, 'launch', group) };
  }

  terminateEvent(id: string, group = GROUP): EventOf<'terminate'> {
    return { kind: 'terminate', id: `evt-terminate-${id}`, time: this.clock.now(), instanceId: id, action: this.actionRef(id, 'terminate', group) };
  }

  private actionRef(instanceId: string, hook: 'launch' | 'terminate', group: string): LifecycleActionRef {
    return { autoScalingGroupName: group, lifecycleHookName: this.config.lifecycleHooks[hook], lifecycleActionToken: `token-${instanceId}`, instanceId };
  }

  deps(overrides: Partial<Deps> = {}): Deps {
    const { log, deadline, ...ports }: Deps = {
      config: this.config,
      inventory: this.inventory,
      lifecycle: this.lifecycle,
      nodes: this.nodes,
      targets: this.targetGroups,
      queue: this.queue,
      admin: { currentVersion: async () => this.adminSecretVersion ?? Promise.reject(new Error('ResourceNotFoundException: no admin secret')) },
      metrics: this.metrics,
      log: this.log,
      clock: this.clock,
      deadline: this.clock.now() + 86_400_000,
      ...overrides,
    };
    return invocationDeps(ports, log, deadline);
  }

  private record(port: Call['port'], op: string, instanceId?: string, args?: unknown): void {
    this.calls.push({ at: this.clock.now(), port, op, instanceId, args });
  }

  private facts(i: FakeInstance): InstanceFacts {
    return {
      instanceId: i.id,
      state: i.ec2,
      privateDnsName: i.dns,
      autoScalingGroupName: i.group,
      nodeName: i.nodeTag,
      rabbitmqVersion: i.versionTag,
      launchTime: i.launchedAt,
    };
  }

  readonly inventory: Inventory = {
    describeGroup: async (): Promise<GroupFacts> => {
      this.record('asg', 'describeGroup');
      const instances = [...this.instances.values()].filter((i) => i.group === GROUP && i.lifecycle !== 'Terminated');
      return {
        name: GROUP,
        minSize: 1,
        maxSize: 9,
        desiredCapacity: this.desiredCapacity ?? instances.length,
        instances: instances.map((i) => ({ instanceId: i.id, lifecycleState: i.lifecycle, healthStatus: i.health, availabilityZone: 'us-east-1a' })),
        ...(this.paused === undefined ? {} : { paused: this.paused }),
      };
    },
    describeInstances: async (ids) => {
      this.record('ec2', 'describeInstances', undefined, ids);
      return ids.filter((id, n) => ids.indexOf(id) === n && this.instances.has(id)).map((id) => this.facts(this.get(id)));
    },
    describeGroupInstances: async () => {
      this.record('ec2', 'describeGroupInstances');
      return [...this.instances.values()].filter((i) => i.group === GROUP).map((i) => this.facts(i));
    },
    groupMembersAmong: async (ids) => {
      this.record('ec2', 'groupMembersAmong', undefined, ids);
      return new Set(ids.filter((id) => this.instances.get(id)?.group === GROUP));
    },
    tagNodeName: async (id, nodeName, rabbitmqVersion) => {
      this.record('ec2', 'tagNodeName', id, { nodeName, rabbitmqVersion });
      const instance = this.get(id);
      instance.nodeTag = nodeName;
      if (rabbitmqVersion) instance.versionTag = rabbitmqVersion;
    },
    markUnhealthy: async (id) => {
      this.record('asg', 'markUnhealthy', id);
      this.get(id).health = 'Unhealthy';
    },
  };

  readonly lifecycle: Lifecycle = {
    heartbeat: async (ref) => {
      this.record('lifecycle', 'heartbeat', ref.instanceId);
      return this.openAction(ref) ? 'recorded' : 'no-active-action';
    },
    complete: async (ref, result) => {
      this.record('lifecycle', 'complete', ref.instanceId, result);
      const action = this.openAction(ref);
      if (!action) return 'no-active-action';
      action.state = result;
      const instance = this.get(ref.instanceId);
      if (action.hook === 'launch' && result === 'CONTINUE') instance.lifecycle = 'InService';
      else this.terminateInEc2(ref.instanceId, 'shutting-down');
      return 'completed';
    },
  };

  private openAction(ref: LifecycleActionRef) {
    const action = this.actions.get(ref.instanceId);
    return action && action.state === 'open' && this.config.lifecycleHooks[action.hook] === ref.lifecycleHookName ? action : undefined;
  }

  readonly nodes: NodeShell = {
    isAgentOnline: async (id) => {
      this.record('ssm', 'isAgentOnline', id);
      const instance = this.get(id);
      return instance.reachable && instance.ec2 === 'running' && this.clock.now() >= instance.agentOnlineAt;
    },
    run: async <O extends NodeOperation>(id: string, operation: O, params: NodeOperationParams[O], options?: CommandOptions) => {
      this.record('ssm', operation, id, params);
      if (this.get(id).silent) throw (await this.unanswered([id], operation, options))[0];
      return this.execute(id, operation, params);
    },
    runOnMany: async <O extends NodeOperation>(ids: string[], operation: O, params: NodeOperationParams[O], options?: CommandOptions) => {
      this.record('ssm', `runOnMany:${operation}`, undefined, ids);
      const results = new Map<string, NodeOperationResult[O] | NodeCommandFailed>();
      const silent = ids.filter((id) => this.instances.get(id)?.silent);
      for (const id of ids) {
        try {
          // a silent one keeps its place in the answer; its failure is set below, after the one wait all of them share
          results.set(id, silent.includes(id) ? (undefined as never) : await this.execute(id, operation, params));
        } catch (error) {
          results.set(id, error as NodeCommandFailed);
        }
      }
      if (silent.length > 0) for (const [n, failure] of (await this.unanswered(silent, operation, options)).entries()) results.set(silent[n]!, failure);
      return results;
    },
  };

  /** A command nobody answers: the wait lasts its bound, the shell's or the caller's when shorter, like RunCommandShell's. */
  private async unanswered(ids: string[], operation: NodeOperation, options: CommandOptions = {}): Promise<NodeCommandFailed[]> {
    const waitSeconds = Math.min(this.config.bounds.ssmCommandSeconds, options.timeoutSeconds ?? Number.POSITIVE_INFINITY);
    if (waitSeconds > 0) await this.clock.sleep(waitSeconds * 1000);
    return ids.map(
      (id) => new NodeCommandFailed(id, operation, waitSeconds > 0 ? 'TimedOut' : 'NotSent', `no terminal status within ${waitSeconds}s; cancelled`),
    );
  }

  private async execute<O extends NodeOperation>(id: string, operation: O, params: NodeOperationParams[O]): Promise<NodeOperationResult[O]> {
    const instance = this.get(id);
    const key = `${id}:${operation}`;
    const failures = this.commandFailures.get(key) ?? 0;
    if (failures > 0) this.commandFailures.set(key, failures - 1);
    if (failures > 0 || !instance.reachable || instance.ec2 !== 'running') {
      throw new NodeCommandFailed(id, operation, 'Undeliverable', 'instance unreachable');
    }
    return runNodeOperation(this, instance, operation, params) as Promise<NodeOperationResult[O]>;
  }

  readonly targetGroups: TargetGroups = {
    register: async (id) => {
      this.record('elb', 'register', id);
      if (this.targets.get(id) !== 'healthy') this.targets.set(id, 'initial');
      if (!this.registeredAt.has(id)) this.registeredAt.set(id, this.clock.now());
    },
    deregister: async (id) => {
      this.record('elb', 'deregister', id);
      if (this.targets.has(id)) this.targets.set(id, 'draining');
    },
    waitHealthy: async (id, timeoutSeconds) => {
      this.record('elb', 'waitHealthy', id, timeoutSeconds);
      const node = this.get(id).node;
      const healthyAt = (this.registeredAt.get(id) ?? this.clock.now()) + this.healthyAfterMs;
      if (this.targets.has(id) && this.targets.get(id) !== 'draining' && node.running && node.member && healthyAt - this.clock.now() <= timeoutSeconds * 1000) {
        await this.clock.sleep(Math.max(0, healthyAt - this.clock.now()));
        this.targets.set(id, 'healthy');
        return;
      }
      await this.clock.sleep(timeoutSeconds * 1000);
      throw new WaitTimedOut(`${id} not healthy`);
    },
    waitDeregistered: async (id, timeoutSeconds) => {
      this.record('elb', 'waitDeregistered', id, timeoutSeconds);
      if (this.stuckDraining) {
        await this.clock.sleep(timeoutSeconds * 1000);
        throw new WaitTimedOut(`${id} still draining`);
      }
      this.targets.delete(id);
    },
    describe: async () => {
      this.record('elb', 'describe');
      return { amqp: new Map(this.targets), management: new Map(this.targets) };
    },
  };

  readonly queue: HealQueue = {
    enqueueReconcile: async (reason) => {
      this.record('queue', 'enqueueReconcile', undefined, reason);
      this.reconcileRequests.push(reason);
    },
    forward: async (events) => {
      this.record(
        'queue',
        'forward',
        undefined,
        events.map((event) => event.id),
      );
      const refused = events.filter((event) => this.refuseForwarding.has(event.id));
      this.forwarded.push(...events.filter((event) => !this.refuseForwarding.has(event.id)));
      return refused.map((event) => ({ id: event.id, reason: 'InternalError: refused by the test' }));
    },
    retryLater: async (record, mark) => void this.record('queue', 'retryLater', undefined, { messageId: record.messageId, ...mark }),
    deadLetter: async (record, attempt, error) => void this.record('queue', 'deadLetter', undefined, { messageId: record.messageId, attempt, error }),
    hideFor: async (record, seconds) => void this.record('queue', 'hideFor', undefined, { messageId: record.messageId, seconds }),
  };

  readonly metrics: Metrics = {
    count: (name, value = 1) => void this.metricLog.push({ name, value }),
    gauge: (name, value) => void this.metricLog.push({ name: `gauge:${name}`, value }),
    durationMs: (name, ms) => void this.metricLog.push({ name: `duration:${name}`, value: ms }),
  };

  readonly log: Log = {
    debug: (message, extra) => void this.logs.push({ level: 'debug', message, extra }),
    info: (message, extra) => void this.logs.push({ level: 'info', message, extra }),
    warn: (message, extra) => void this.logs.push({ level: 'warn', message, extra }),
    error: (message, extra) => void this.logs.push({ level: 'error', message, extra }),
  };
}
