import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../../shared/config';
import { DETAIL_TYPES, SOURCES } from '../../shared/events';
import type { EventKind } from '../../shared/events/types';
import { createObservability, type Observability } from '../../shared/observability';
import { answerLambda, type QueueBatchResponse, type Wiring } from '../../shared/workflows/invocation';
import type { SQSEvent } from 'aws-lambda';
import { deployed, deployedEnvironment } from '../deploy/settings';
import { LocalAutoScalingGroup } from './cloud/autoscaling';
import { LocalEc2 } from './cloud/ec2';
import { type AwsEvent, LocalEventBus } from './cloud/event-bus';
import { LocalNodeShell } from './cloud/local-node-shell';
import { LocalInventory, LocalLifecycle } from './cloud/local-ports';
import { LocalNetworkLoadBalancer, LocalTargetGroups } from './cloud/local-target-groups';
import { RabbitMqInstanceHost } from './cloud/rabbitmq-host';
import { realTimeScheduler, type Scheduler } from './cloud/scheduler';
import { LocalRunCommand } from './cloud/ssm';
import { LocalFifoQueue } from './fifo-queue';
import { triageFunction } from './triage-function';
import { chooseRabbitMq, type NodeMode, type RabbitMqMajor, type RabbitMqRuntime } from './nodes';
import { routeOf } from './rules';
import { divergence, sandboxStatus, type SandboxStatus } from './status';
import { policyParamsFor } from '../../shared/cluster/policy';

export const SANDBOX_CLUSTER = 'warren-sandbox';
export const SANDBOX_GROUP = 'warren-sandbox-asg';
/** Alarm names the sandbox's runbook knows: `<prefix>node-...` replaces, `<prefix>cluster-...` reconciles. */
export const SANDBOX_ALARM_PREFIX = 'warren-sandbox-';
/** What the heal function handles: its handler's list (functions/heal/handler.ts). */
const HEAL_KINDS: readonly EventKind[] = ['launch', 'terminate', 'gone', 'interruption', 'reconcile', 'alarm'];

export interface SandboxOptions {
  nodes: number;
  network?: NodeMode;
  /** RabbitMQ generation of the nodes; default: the newest this machine can run */
  rabbitmq?: RabbitMqMajor;
  /** local load balancer listener ports; 0 picks free ones */
  amqpPort?: number;
  managementPort?: number;
  /** how often the scheduled reconcile fires; 0 turns it off */
  reconcileEveryMs?: number;
  /** where Powertools writes: the daemon's log file through its stdout */
  observability?: Observability;
  /** the chaos soak's hook: watch the ports warren's workflows use, or make their calls fail as AWS calls fail */
  wrapPorts?: (ports: SandboxPorts) => SandboxPorts;
}

/** The ports the workflows get from the local cloud. */
export type SandboxPorts = Pick<Wiring, 'inventory' | 'lifecycle' | 'nodes' | 'targets'>;

/** One heal as the timeline shows it. */
export interface HealRecord {
  at: number;
  kind: EventKind | 'unparsed';
  instanceId?: string;
  durationMs: number;
  outcome: string;
}

/**
 * The local cloud wired to warren's own workflows: EC2 + Auto Scaling with hooks, SSM Run Command
 * running the real documents on real RabbitMQ nodes, an NLB with real TCP health checks, and
 * EventBridge delivering the documented event shapes through a FIFO queue into the same invocation
 * shell the Lambda functions use.
 */
export class Sandbox {
  readonly timeline: HealRecord[] = [];
  readonly credentials = { user: 'warren', password: randomBytes(12).toString('hex') };
  private reconcileTimer?: () => void;
  private usersReady = false;
  /** the triage function behind its standard queue, started by the first EC2 event */
  private triage?: ReturnType<typeof triageFunction>;

  private constructor(
    readonly config: Config,
    readonly mode: NodeMode,
    /** what the nodes run; the expected policy depends on it */
    readonly rabbitmq: RabbitMqRuntime,
    /** why the default generation could not be used, when it could not */
    readonly rabbitmqNote: string | undefined,
    readonly scheduler: Scheduler,
    readonly bus: LocalEventBus,
    readonly host: RabbitMqInstanceHost,
    readonly ec2: LocalEc2,
    readonly group: LocalAutoScalingGroup,
    readonly nlb: LocalNetworkLoadBalancer,
    readonly runCommand: LocalRunCommand,
    readonly nodeShell: LocalNodeShell,
    readonly queue: LocalFifoQueue,
    private readonly wiring: Omit<Wiring, 'accepts' | 'queue'>,
  ) {}

  static async start(options: SandboxOptions): Promise<Sandbox> {
    const config = sandboxConfig();
    const scheduler = realTimeScheduler;
    const bus = new LocalEventBus(scheduler);
    const { runtime, note } = await chooseRabbitMq(options.rabbitmq);
    const host = RabbitMqInstanceHost.create({ prefix: 'sbx', mode: options.network, rabbitmq: runtime.major, now: () => scheduler.now() });
    const ec2 = new LocalEc2({ host, bus, scheduler });
    const group = new LocalAutoScalingGroup(ec2, bus, scheduler, {
      name: SANDBOX_GROUP,
      minSize: 1,
      maxSize: 9,
      desiredCapacity: options.nodes,
      launchHook: { heartbeatTimeoutSeconds: 120 },
      terminateHook: { heartbeatTimeoutSeconds: 120 },
      ec2HealthCheckDelayMs: 5_000,
    });
    const nlb = await LocalNetworkLoadBalancer.start({
      resolve: (instanceId) => host.addressOf(instanceId),
      listenerPorts: { amqp: options.amqpPort ?? 0, management: options.managementPort ?? 0 },
    });
    const runCommand = new LocalRunCommand({ targets: host, scheduler, documentPrefix: config.ssmDocumentPrefix, agentOnlineDelayMs: 500 });
    const nodeShell = new LocalNodeShell(runCommand, config);
    const cloud = { ec2, group };
    const telemetry = options.observability ?? createObservability(SANDBOX_CLUSTER);
    const ports: SandboxPorts = { inventory: new LocalInventory(cloud, config), lifecycle: new LocalLifecycle(cloud), nodes: nodeShell, targets: new LocalTargetGroups(nlb) };
    const wiring = {
      config,
      ...(options.wrapPorts ? options.wrapPorts(ports) : ports),
      metrics: telemetry.recorder,
      clock: { now: () => scheduler.now(), sleep: (ms: number) => new Promise<void>((resolve) => scheduler.after(ms, resolve)) },
      telemetry,
    };
    let sandbox: Sandbox | undefined;
    // The queue as serverless.yml deploys it: a failed heal is sent again by the function itself, due in seconds.
    const queue = new LocalFifoQueue(scheduler, (event) => sandbox!.heal(event), {
      visibilityTimeoutMs: deployed.queue.visibilityTimeoutSeconds * 1000,
      maxReceiveCount: deployed.queue.maxReceiveCount,
      groupId: config.clusterName,
    });
    sandbox = new Sandbox(config, host.cluster.mode, runtime, note, scheduler, bus, host, ec2, group, nlb, runCommand, nodeShell, queue, wiring);
    bus.subscribe((event) => sandbox!.route(event));
    group.start();
    if ((options.reconcileEveryMs ?? 60_000) > 0) sandbox.scheduleReconcile(options.reconcileEveryMs ?? 60_000);
    return sandbox;
  }

  /** EventBridge: the rules of serverless.yml decide which target an event reaches. */
  private route(event: AwsEvent): void {
    const target = routeOf(event, SANDBOX_GROUP, SANDBOX_ALARM_PREFIX);
    if (target === 'heal-queue') this.queue.send(JSON.stringify(event));
    else if (target === 'triage-queue') (this.triage ??= triageFunction(this.scheduler, { ...this.wiring, queue: this.queue })).send(JSON.stringify(event));
  }

  /** One invocation of the heal function by its SQS event source, answered as Lambda answers it. */
  private async heal(event: SQSEvent): Promise<QueueBatchResponse> {
    const started = this.scheduler.now();
    const raw = safeJson(event.Records[0]?.body ?? '');
    const timeoutMs = deployed.functionTimeoutSeconds.heal! * 1000;
    const onRecordAnswered: Wiring['onRecordAnswered'] = ({ outcome, error, deferred }) => {
      if (deferred) return;
      const text = outcome ? (outcome.reason ? `${outcome.result}: ${outcome.reason}` : outcome.result) : `failed: ${(error as Error)?.message ?? String(error)}`;
      this.timeline.push({ at: started, kind: kindOf(raw), instanceId: instanceOf(raw), durationMs: this.scheduler.now() - started, outcome: text });
    };
    const wiring = { ...this.wiring, queue: this.queue, accepts: HEAL_KINDS, onRecordAnswered };
    return (await answerLambda(event, wiring, () => timeoutMs - (this.scheduler.now() - started))) as QueueBatchResponse;
  }

  private scheduleReconcile(everyMs: number): void {
    this.reconcileTimer = this.scheduler.after(everyMs, () => {
      this.bus.publish(SOURCES.schedule, DETAIL_TYPES.scheduledEvent, [`arn:aws:events:${this.bus.region}:${this.bus.account}:rule/warren-reconcile`], {});
      this.scheduleReconcile(everyMs);
    });
  }

  /** A CloudWatch alarm going to ALARM, with the InstanceId dimension when given. */
  raiseAlarm(alarmName: string, instanceId?: string): AwsEvent {
    const metric = instanceId
      ? [{ id: 'm1', metricStat: { metric: { namespace: 'AWS/EC2', name: 'StatusCheckFailed', dimensions: { InstanceId: instanceId } }, period: 60, stat: 'Maximum' }, returnData: true }]
      : [{ id: 'm1', metricStat: { metric: { namespace: 'warren', name: 'Partitions', dimensions: { cluster: SANDBOX_CLUSTER } }, period: 60, stat: 'Maximum' }, returnData: true }];
    return this.bus.publish(SOURCES.cloudWatch, DETAIL_TYPES.alarmStateChange, [`arn:aws:cloudwatch:${this.bus.region}:${this.bus.account}:alarm:${alarmName}`], {
      alarmName,
      state: { value: 'ALARM', reason: 'raised in the sandbox', timestamp: new Date(this.scheduler.now()).toISOString() },
      previousState: { value: 'OK', reason: 'sandbox', timestamp: new Date(this.scheduler.now()).toISOString() },
      configuration: { metrics: metric },
    });
  }

  /** An event delivered exactly as EventBridge would deliver it to the rules. */
  deliver(raw: Record<string, unknown>): void {
    this.route(raw as unknown as AwsEvent);
  }

  /** A user that works through the load balancer (guest is loopback-only); created once a member runs. */
  async ensureClientUser(instanceId: string): Promise<void> {
    if (this.usersReady) return;
    const { user, password } = this.credentials;
    const add = await this.host.rabbitmqctl(instanceId, ['add_user', user, password]);
    if (add.exitCode !== 0 && !/already exists/.test(add.stderr + add.stdout)) throw new Error(`add_user failed: ${add.stderr}`);
    for (const args of [['set_user_tags', user, 'administrator'], ['set_permissions', '-p', '/', user, '.*', '.*', '.*']]) {
      const result = await this.host.rabbitmqctl(instanceId, args);
      if (result.exitCode !== 0) throw new Error(`${args[0]} failed: ${result.stderr}`);
    }
    this.usersReady = true;
  }

  /** Polls until converged (see divergence); throws with the last reasons when the bound passes. */
  async waitConverged(timeoutMs: number, onProgress?: (reasons: string[]) => void): Promise<SandboxStatus> {
    const until = this.scheduler.now() + timeoutMs;
    let reasons: string[] = ['not looked at yet'];
    for (;;) {
      const status = await sandboxStatus(this);
      const member = status.instances.find((i) => i.lifecycleState === 'InService' && status.members.running.includes(i.node ?? ''));
      if (member) await this.ensureClientUser(member.id);
      reasons = divergence(status, policyParamsFor(this.config, this.rabbitmq.version).params.PolicyName);
      if (reasons.length === 0) return status;
      onProgress?.(reasons);
      if (this.scheduler.now() >= until) throw new Error(`not converged after ${Math.round(timeoutMs / 1000)} s: ${reasons.join('; ')}`);
      await new Promise<void>((resolve) => this.scheduler.after(1_000, resolve));
    }
  }

  async stop(): Promise<void> {
    this.reconcileTimer?.();
    this.triage?.stop();
    this.queue.stop();
    this.group.dispose();
    await this.nlb.close();
    await this.host.destroy();
  }
}

/** The configuration the workflows run with in the sandbox: the same loader, shorter bounds. */
export function sandboxConfig(): Config {
  const tg = (name: string) => `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/${name}/0123456789abcdef`;
  // the deployed environment (serverless.yml), with the sandbox's names and shorter bounds
  return loadConfig({
    ...deployedEnvironment(),
    CLUSTER_NAME: SANDBOX_CLUSTER,
    ASG_NAME: SANDBOX_GROUP,
    AMQP_TARGET_GROUP_ARN: tg('warren-sandbox-amqp'),
    MANAGEMENT_TARGET_GROUP_ARN: tg('warren-sandbox-mgmt'),
    ALARM_RUNBOOK: JSON.stringify([
      { alarm: `${SANDBOX_ALARM_PREFIX}node-`, match: 'prefix', action: 'replace-instance' },
      { alarm: `${SANDBOX_ALARM_PREFIX}cluster-`, match: 'prefix', action: 'reconcile' },
    ]),
    LAUNCH_TIMEOUT_SECONDS: '240',
    LEAVE_WAIT_TIMEOUT_SECONDS: '120',
    DEREGISTRATION_TIMEOUT_SECONDS: '10',
    TARGET_HEALTHY_TIMEOUT_SECONDS: '60',
    AGENT_ONLINE_TIMEOUT_SECONDS: '60',
    HEARTBEAT_INTERVAL_SECONDS: '10',
    SSM_COMMAND_TIMEOUT_SECONDS: '120',
    CRITICAL_RECHECK_SECONDS: '2',
  });
}

function safeJson(body: string): Record<string, any> | undefined {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

function kindOf(raw: Record<string, any> | undefined): HealRecord['kind'] {
  switch (raw?.['detail-type']) {
    case DETAIL_TYPES.launchLifecycleAction:
      return 'launch';
    case DETAIL_TYPES.terminateLifecycleAction:
      return 'terminate';
    case DETAIL_TYPES.instanceStateChange:
      return 'gone';
    case DETAIL_TYPES.spotInterruptionWarning:
    case DETAIL_TYPES.rebalanceRecommendation:
      return 'interruption';
    case DETAIL_TYPES.alarmStateChange:
      return 'alarm';
    case DETAIL_TYPES.scheduledEvent:
    case DETAIL_TYPES.reconcileRequested:
      return 'reconcile';
    default:
      return 'unparsed';
  }
}

function instanceOf(raw: Record<string, any> | undefined): string | undefined {
  return (
    raw?.detail?.EC2InstanceId ??
    raw?.detail?.['instance-id'] ??
    raw?.detail?.configuration?.metrics?.find((m: any) => m?.metricStat?.metric?.dimensions?.InstanceId)?.metricStat.metric.dimensions.InstanceId
  );
}

