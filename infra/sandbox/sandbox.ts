import { randomBytes, randomUUID } from 'node:crypto';
import type { SQSEvent } from 'aws-lambda';
import { lambdaHandler, triageHandler, type Deployment } from '../../functions/wire';
import { createAwsClients, SqsHealQueue, SsmNodeShell } from '../../shared/aws';
import { policyParamsFor } from '../../shared/cluster/policy';
import { loadConfig, type Config } from '../../shared/config';
import { DETAIL_TYPES, parseQueueMessage, SOURCES } from '../../shared/events';
import type { EventKind } from '../../shared/events/types';
import { createObservability, type Observability } from '../../shared/observability';
import type { QueueBatchResponse, Wiring } from '../../shared/workflows/invocation';
import { deployedFunctionName } from '../deploy/plan';
import { deployed, deployedEnvironment } from '../deploy/settings';
import { autoScalingApi } from './aws/autoscaling-api';
import { ec2Api } from './aws/ec2-api';
import { lambdaApi, type DeployedFunction } from './aws/lambda-api';
import { elbv2Api } from './aws/elbv2-api';
import { LocalAwsEndpoint } from './aws/endpoint';
import { nodeAwsEnvironment } from './aws/node-aws';
import { LocalSecrets, randomPassword, secretsManagerApi } from './aws/secretsmanager-api';
import { sqsApi } from './aws/sqs-api';
import { healQueueOptions, LocalQueue, triageQueueOptions, type BatchFunction } from './queue';
import { ssmApi } from './aws/ssm-api';
import { deployedAlarms, deployedRefreshAlarmNames, LocalAlarms, tapMetrics } from './cloud/alarms';
import { LocalAutoScalingGroup } from './cloud/autoscaling';
import { LocalEc2 } from './cloud/ec2';
import { type AwsEvent, LocalEventBus } from './cloud/event-bus';
import { LocalNetworkLoadBalancer } from './cloud/elb';
import { BASE_IMAGE_ID, LocalLaunchTemplates } from './cloud/launch-templates';
import { RabbitMqInstanceHost } from './cloud/rabbitmq-host';
import { realTimeScheduler, type Scheduler } from './cloud/scheduler';
import { LocalRunCommand } from './cloud/ssm';
import { chooseRabbitMq, type NodeMode, type RabbitMqLine, type RabbitMqRuntime } from './nodes';
import { routeOf } from './rules';
import { divergence, sandboxStatus, type SandboxStatus } from './status';

export const SANDBOX_CLUSTER = 'warren-sandbox';
export const SANDBOX_GROUP = 'warren-sandbox-asg';
/** The nodes' launch template; version 1 boots the base image (the AMI's own configuration). */
export const SANDBOX_LAUNCH_TEMPLATE = 'warren-sandbox-nodes';
/** The administrator credential's secret, as the cluster stack names it. */
export const SANDBOX_ADMIN_SECRET = `warren/${SANDBOX_CLUSTER}/admin`;
/** Alarm names the sandbox's runbook knows: `<prefix>node-...` replaces, `<prefix>cluster-...` reconciles. */
export const SANDBOX_ALARM_PREFIX = 'warren-sandbox-';
/** What the heal function handles: its handler's list (functions/heal/handler.ts). */
const HEAL_KINDS: readonly EventKind[] = ['launch', 'terminate', 'gone', 'interruption', 'reconcile', 'alarm', 'refresh-succeeded'];

export interface SandboxOptions {
  nodes: number;
  network?: NodeMode;
  /** RabbitMQ generation of the nodes; default: the newest this machine can run */
  rabbitmq?: RabbitMqLine;
  /** local load balancer listener ports; 0 picks free ones */
  amqpPort?: number;
  managementPort?: number;
  /** TLS listeners too (AMQPS, HTTPS) with a generated certificate, as the deployed NLB's with a CertificateArn (docs/tls.md) */
  tls?: boolean;
  /** the local AWS endpoint's port; 0 picks a free one */
  awsPort?: number;
  /** how often the scheduled reconcile fires; 0 turns it off */
  reconcileEveryMs?: number;
  /** where Powertools writes: the daemon's log file through its stdout */
  observability?: Observability;
}

/** One heal as the timeline shows it. */
export interface HealRecord {
  at: number;
  kind: EventKind | 'unparsed';
  instanceId?: string;
  durationMs: number;
  outcome: string;
}

/*
 * The sandbox's one speed-up of warren's own settings: the SDK waiters poll SSM and target health at
 * their AWS pace (1-10 s, 5-30 s) there, which would add seconds to every heal here, where a command
 * ends in a second and the health check runs every second. The adapters take these as options.
 */
export const SANDBOX_POLL = { nodeShell: { minDelay: 0.1, maxDelay: 0.5 }, targetGroups: { minDelay: 0.2, maxDelay: 0.5 } };

const ACCOUNT = '123456789012';
const RECONCILE_RULE = `arn:aws:events:us-east-1:${ACCOUNT}:rule/warren-reconcile`;
const REGION = 'us-east-1';
/** The nodes' instance role, named as CloudFormation names the cluster stack's NodeRole. */
const NODE_ROLE = `${SANDBOX_CLUSTER}-NodeRole-${randomPassword({ PasswordLength: 12, ExcludeLowercase: true, ExcludePunctuation: true, RequireEachIncludedType: false })}`;

/**
 * The local cloud as a local AWS endpoint, with warren deployed on it: EC2 + Auto Scaling with hooks,
 * SSM Run Command running the real documents on real RabbitMQ nodes, an NLB with real TCP health
 * checks, SQS, Secrets Manager with the cluster's administrator credential (which the nodes read with
 * their instance role, through their own metadata service), and EventBridge delivering the documented
 * event shapes through the heal FIFO queue into the heal function's deployed handler (functions/wire.ts),
 * whose adapters reach the endpoint through real SDK v3 clients.
 */
export class Sandbox {
  readonly timeline: HealRecord[] = [];
  readonly credentials = { user: 'warren', password: randomBytes(12).toString('hex') };
  /** the heal queue as warren's own adapter sends to it (a reconcile request, as an alarm's would) */
  readonly healQueue: SqsHealQueue;
  /** node operations as warren sends them, for stories and tools that act on a node */
  readonly nodeShell: SsmNodeShell;
  private reconcileTimer?: () => void;
  private usersReady = false;
  /** the triage function's deployed handler */
  readonly triageFunction: BatchFunction;
  private inFlight?: { started: number; facts: Pick<HealRecord, 'kind' | 'instanceId'> };

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
    readonly queue: LocalQueue,
    /** the triage function's standard queue, with its event source mapping */
    readonly triageQueue: LocalQueue,
    readonly aws: LocalAwsEndpoint,
    /** the region's launch templates and image catalogue (registerImage, createVersion); the group launches from SANDBOX_LAUNCH_TEMPLATE */
    readonly launchTemplates: LocalLaunchTemplates,
    /** Secrets Manager's secrets, the administrator credential's among them */
    readonly secrets: LocalSecrets,
    /** the administrator credential's secret (ADMIN_SECRET_ID of the heal function) */
    readonly adminSecretArn: string,
    telemetry: Observability,
  ) {
    const deployment: Deployment = {
      env: sandboxEnvironment({ aws, adminSecretArn }),
      clients: aws.clientOptions(),
      telemetry,
      nodeShell: { poll: SANDBOX_POLL.nodeShell },
      targetGroups: { poll: SANDBOX_POLL.targetGroups },
      onRecordAnswered: (answer) => this.recordAnswered(answer),
    };
    const heal = lambdaHandler(HEAL_KINDS, deployment);
    this.queue.consumer = (event) => this.invokeHeal(heal, event);
    this.triageFunction = triageHandler(deployment);
    const clients = createAwsClients(aws.clientOptions());
    this.healQueue = new SqsHealQueue(config, clients);
    this.nodeShell = new SsmNodeShell(config, clients, { poll: SANDBOX_POLL.nodeShell });
  }

  static async start(options: SandboxOptions): Promise<Sandbox> {
    const scheduler = realTimeScheduler;
    const bus = new LocalEventBus(scheduler);
    const { runtime, note } = await chooseRabbitMq(options.rabbitmq);
    const host = RabbitMqInstanceHost.create({ prefix: 'sbx', mode: options.network, rabbitmq: runtime.line, now: () => scheduler.now() });
    const ec2 = new LocalEc2({ host, bus, scheduler });
    const launchTemplates = new LocalLaunchTemplates(() => scheduler.now());
    const template = launchTemplates.createLaunchTemplate({ name: SANDBOX_LAUNCH_TEMPLATE, data: { imageId: BASE_IMAGE_ID, instanceType: 't3.medium' } });
    host.images = (imageId) => launchTemplates.image(imageId);
    const group = new LocalAutoScalingGroup(ec2, bus, scheduler, {
      name: SANDBOX_GROUP,
      minSize: 1,
      maxSize: 9,
      desiredCapacity: options.nodes,
      launchHook: { heartbeatTimeoutSeconds: 120 },
      terminateHook: { heartbeatTimeoutSeconds: 120 },
      ec2HealthCheckDelayMs: 5_000,
      // a specific version, as the cluster stack's LatestVersionNumber
      launchTemplates,
      launchTemplate: { id: template.id, version: '1' },
    });
    const nlb = await LocalNetworkLoadBalancer.start({
      resolve: (instanceId) => host.addressOf(instanceId),
      listenerPorts: { amqp: options.amqpPort ?? 0, management: options.managementPort ?? 0 },
      ...(options.tls ? { tls: {} } : {}),
    });
    const provisional = sandboxConfig();
    // the cluster stack's secret, {"username":"admin","password":...} as its GenerateSecretString makes it
    const secrets = new LocalSecrets({ region: REGION, account: ACCOUNT });
    const adminSecretArn = secrets.create({
      name: SANDBOX_ADMIN_SECRET,
      description: `warren ${SANDBOX_CLUSTER} RabbitMQ administrator`,
      SecretString: JSON.stringify({ username: 'admin', password: randomPassword({ PasswordLength: 32, ExcludePunctuation: true }) }),
    }).secret.arn;
    const runCommand = new LocalRunCommand({ targets: host, scheduler, documentPrefix: provisional.ssmDocumentPrefix, agentOnlineDelayMs: 500 });
    // each with its dead-letter queue, <name>-dlq
    const queue = new LocalQueue(scheduler, healQueueOptions(SANDBOX_CLUSTER, queueUrl('heal.fifo')));
    // the triage function is built with the sandbox; its queue exists before, as in an account
    let triage: BatchFunction = async () => {
      throw new Error('the triage function is not deployed yet');
    };
    const triageQueue = new LocalQueue(scheduler, triageQueueOptions(queueUrl('triage')), (event) => triage(event));
    const aws = await LocalAwsEndpoint.start(
      [
        ec2Api(ec2, launchTemplates),
        autoScalingApi(group),
        elbv2Api([
          { arn: provisional.targetGroups.amqp, group: nlb.groups.amqp },
          { arn: provisional.targetGroups.management, group: nlb.groups.management },
        ]),
        ssmApi(runCommand, {
          instancesTagged: (key, values) =>
            ec2
              .describe()
              .filter((i) => i.state !== 'terminated' && values.includes(i.tags[key.replace(/^tag:/, '')] ?? ''))
              .map((i) => i.instanceId),
          instances: () => ec2.describe().map((i) => i.instanceId),
        }),
        sqsApi([queue, queue.deadLetterQueue!, triageQueue, triageQueue.deadLetterQueue!]),
        lambdaApi(deployedFunctions(adminSecretArn), { region: REGION, account: ACCOUNT }),
        secretsManagerApi(secrets),
      ],
      { region: REGION, port: options.awsPort },
    );
    // CloudWatch's alarms on warren's own metrics, as serverless.yml defines them; an Instance Refresh watches them
    const alarms = new LocalAlarms(
      scheduler,
      deployedAlarms({ clusterName: SANDBOX_CLUSTER, minimumMembersRunning: String(Math.floor(options.nodes / 2) + 1) }),
    );
    const telemetry = tapMetrics(options.observability ?? createObservability(SANDBOX_CLUSTER), alarms, { cluster: SANDBOX_CLUSTER, service: 'warren' });
    group.instanceRefreshes.alarmState = (name) => alarms.state(name);
    let sandbox: Sandbox | undefined;
    try {
      // the nodes' metadata service and Secrets Manager, where their run reaches this host (the image sets the variables)
      const nodeUrl = await aws.listenOn(await host.cluster.ensureNetwork(), {
        role: NODE_ROLE,
        instanceAt: (ip) => {
          const [instance, ...others] = ec2.describe().filter((i) => i.privateIp === ip && i.state !== 'terminated');
          // on loopback every node is 127.0.0.1: no instance is told apart
          return instance && others.length === 0 ? { instanceId: instance.instanceId, availabilityZone: instance.availabilityZone } : undefined;
        },
      });
      host.cluster.addEnv(nodeAwsEnvironment(nodeUrl));
      sandbox = new Sandbox(
        sandboxConfig({ aws, adminSecretArn }),
        host.cluster.mode,
        runtime,
        note,
        scheduler,
        bus,
        host,
        ec2,
        group,
        nlb,
        runCommand,
        queue,
        triageQueue,
        aws,
        launchTemplates,
        secrets,
        adminSecretArn,
        telemetry,
      );
      triage = sandbox.triageFunction;
    } catch (error) {
      await aws.close();
      await nlb.close();
      await host.destroy();
      throw error;
    }
    bus.subscribe((event) => sandbox!.route(event));
    group.start();
    if ((options.reconcileEveryMs ?? 60_000) > 0) sandbox.scheduleReconcile(options.reconcileEveryMs ?? 60_000);
    return sandbox;
  }

  /** EventBridge: the rules of serverless.yml decide which target an event reaches. */
  private route(event: AwsEvent): void {
    const target = routeOf(event, SANDBOX_GROUP, SANDBOX_ALARM_PREFIX);
    // EventBridge's SQS target: content-based deduplication on the FIFO queue
    if (target === 'heal-queue') this.queue.send({ body: JSON.stringify(event), groupId: SANDBOX_CLUSTER, attributes: {} });
    else if (target === 'triage-queue') this.triageQueue.send(JSON.stringify(event));
  }

  /** One invocation of the heal function by its SQS event source, with the deployed timeout. */
  private async invokeHeal(heal: ReturnType<typeof lambdaHandler>, event: SQSEvent): Promise<QueueBatchResponse> {
    const started = this.scheduler.now();
    this.inFlight = { started, facts: factsOf(event.Records[0]?.body ?? '') };
    const timeoutMs = deployed.functionTimeoutSeconds.heal! * 1000;
    return (await heal(event, { getRemainingTimeInMillis: () => timeoutMs - (this.scheduler.now() - started) })) as QueueBatchResponse;
  }

  private recordAnswered({ outcome, error, deferred }: Parameters<NonNullable<Wiring['onRecordAnswered']>>[0]): void {
    if (deferred || !this.inFlight) return;
    const { started, facts } = this.inFlight;
    const text = outcome ? (outcome.reason ? `${outcome.result}: ${outcome.reason}` : outcome.result) : `failed: ${(error as Error)?.message ?? String(error)}`;
    this.timeline.push({ at: started, ...facts, durationMs: this.scheduler.now() - started, outcome: text });
  }

  private scheduleReconcile(everyMs: number): void {
    this.reconcileTimer = this.scheduler.after(everyMs, () => {
      this.bus.publish(SOURCES.schedule, DETAIL_TYPES.scheduledEvent, [RECONCILE_RULE], {});
      this.scheduleReconcile(everyMs);
    });
  }

  /**
   * The reconcile schedule fires now: its Scheduled Event is in the heal queue when this returns.
   * (A reconcile request through the heal queue adapter is deduplicated per minute, as in an account.)
   */
  reconcileNow(): void {
    this.deliver({
      version: '0',
      id: randomUUID(),
      'detail-type': DETAIL_TYPES.scheduledEvent,
      source: SOURCES.schedule,
      account: this.bus.account,
      time: new Date(this.scheduler.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.bus.region,
      resources: [RECONCILE_RULE],
      detail: {},
    });
  }

  /** A CloudWatch alarm going to ALARM, with the InstanceId dimension when given. */
  raiseAlarm(alarmName: string, instanceId?: string): AwsEvent {
    const metric = instanceId
      ? [
          {
            id: 'm1',
            metricStat: { metric: { namespace: 'AWS/EC2', name: 'StatusCheckFailed', dimensions: { InstanceId: instanceId } }, period: 60, stat: 'Maximum' },
            returnData: true,
          },
        ]
      : [
          {
            id: 'm1',
            metricStat: { metric: { namespace: 'warren', name: 'Partitions', dimensions: { cluster: SANDBOX_CLUSTER } }, period: 60, stat: 'Maximum' },
            returnData: true,
          },
        ];
    return this.bus.publish(
      SOURCES.cloudWatch,
      DETAIL_TYPES.alarmStateChange,
      [`arn:aws:cloudwatch:${this.bus.region}:${this.bus.account}:alarm:${alarmName}`],
      {
        alarmName,
        state: { value: 'ALARM', reason: 'raised in the sandbox', timestamp: new Date(this.scheduler.now()).toISOString() },
        previousState: { value: 'OK', reason: 'sandbox', timestamp: new Date(this.scheduler.now()).toISOString() },
        configuration: { metrics: metric },
      },
    );
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
    for (const args of [
      ['set_user_tags', user, 'administrator'],
      ['set_permissions', '-p', '/', user, '.*', '.*', '.*'],
    ]) {
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

  /** Messages waiting in the heal and triage queues. */
  queued(): number {
    return this.queue.depth() + this.triageQueue.depth();
  }

  async stop(): Promise<void> {
    this.reconcileTimer?.();
    this.triageQueue.stop();
    this.queue.stop();
    this.group.dispose();
    await this.aws.close();
    await this.nlb.close();
    await this.host.destroy();
  }
}

function queueUrl(name: string): string {
  return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${SANDBOX_CLUSTER}-${name}`;
}

/** What the sandbox's own parts give the heal function's environment once they exist. */
export interface SandboxWiring {
  aws?: LocalAwsEndpoint;
  adminSecretArn?: string;
}

/** The heal function's environment: the deployed one (serverless.yml), with the sandbox's names and shorter bounds. */
function sandboxEnvironment({ aws, adminSecretArn }: SandboxWiring = {}): Record<string, string> {
  const tg = (name: string) => `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/${name}/0123456789abcdef`;
  return {
    ...deployedEnvironment(),
    AWS_REGION: REGION,
    ...(aws ? { AWS_ENDPOINT_URL: aws.url } : {}),
    CLUSTER_NAME: SANDBOX_CLUSTER,
    ASG_NAME: SANDBOX_GROUP,
    AMQP_TARGET_GROUP_ARN: tg('warren-sandbox-amqp'),
    MANAGEMENT_TARGET_GROUP_ARN: tg('warren-sandbox-mgmt'),
    HEAL_QUEUE_URL: queueUrl('heal.fifo'),
    HEAL_DEAD_LETTER_QUEUE_URL: queueUrl('heal-dlq.fifo'),
    ...(adminSecretArn ? { ADMIN_SECRET_ID: adminSecretArn } : {}),
    REFRESH_ALARM_NAMES: deployedRefreshAlarmNames({ clusterName: SANDBOX_CLUSTER }).join(','),
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
  };
}

/** The functions as Lambda describes them: serverless.yml's, named as `serverless deploy --stage <cluster>` names them. */
function deployedFunctions(adminSecretArn: string): DeployedFunction[] {
  const provider = deployed.serverless.provider as { runtime: string; architecture: string; memorySize: number };
  // Lambda lists the variables set on a function; AWS_* are its own (AWS_ENDPOINT_URL is only the sandbox's wiring)
  const environment = Object.fromEntries(Object.entries(sandboxEnvironment({ adminSecretArn })).filter(([key]) => !key.startsWith('AWS_')));
  return Object.entries(deployed.functions).map(([name, fn]) => ({
    name: deployedFunctionName(SANDBOX_CLUSTER, name),
    handler: (fn as { handler?: string }).handler ?? '',
    description: (fn as { description?: string }).description ?? '',
    timeoutSeconds: deployed.functionTimeoutSeconds[name]!,
    memorySize: provider.memorySize,
    runtime: provider.runtime,
    architecture: provider.architecture,
    environment,
  }));
}

/** The configuration the workflows run with in the sandbox: the same loader, shorter bounds. */
export function sandboxConfig(wiring: SandboxWiring = {}): Config {
  return loadConfig(sandboxEnvironment(wiring));
}

/** What the timeline shows of a record: its kind and instance, as the heal function reads them. */
function factsOf(body: string): Pick<HealRecord, 'kind' | 'instanceId'> {
  try {
    const event = parseQueueMessage(body);
    return { kind: event.kind, instanceId: 'instanceId' in event ? event.instanceId : undefined };
  } catch {
    return { kind: 'unparsed' };
  }
}
