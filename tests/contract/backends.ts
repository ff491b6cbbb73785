import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CreateAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand, CreateSubnetCommand, CreateVpcCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateTargetGroupCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { autoScalingApi } from '../../infra/sandbox/aws/autoscaling-api';
import { ec2Api } from '../../infra/sandbox/aws/ec2-api';
import { elbv2Api } from '../../infra/sandbox/aws/elbv2-api';
import { LocalAwsEndpoint } from '../../infra/sandbox/aws/endpoint';
import type { ServiceApi } from '../../infra/sandbox/aws/protocol';
import { queueUrlOf, sqsApi } from '../../infra/sandbox/aws/sqs-api';
import { ssmApi } from '../../infra/sandbox/aws/ssm-api';
import { LocalAutoScalingGroup } from '../../infra/sandbox/cloud/autoscaling';
import { LocalEc2, type BootedInstance, type Ec2Instance, type InstanceHost } from '../../infra/sandbox/cloud/ec2';
import { LocalTargetGroup, type TargetAddress, type TargetGroupSettings } from '../../infra/sandbox/cloud/elb';
import { LocalEventBus } from '../../infra/sandbox/cloud/event-bus';
import { realTimeScheduler } from '../../infra/sandbox/cloud/scheduler';
import { LocalRunCommand, type AgentState, type CommandTargets } from '../../infra/sandbox/cloud/ssm';
import { loadDocument, parameterEnvironment, truncateLikeSsm } from '../../infra/sandbox/nodes/documents';
import { runProcess, type ProcessResult } from '../../infra/sandbox/nodes/process';
import { LocalQueue } from '../../infra/sandbox/queue';
import { createAwsClients, type AwsClients, type ClientOptions } from '../../shared/aws/clients';
import type { TargetGroupKey } from '../../shared/ports';
import { startMoto } from './moto';

/**
 * The two AWS implementations the contract suite runs its one set of assertions against: the moto
 * server, and the sandbox's local AWS (its cloud models behind LocalAwsEndpoint, on real time). Each
 * builds the same declarative world: moto through its API, as a test would; the local AWS from its
 * models directly (EC2, the Auto Scaling group with its launch actions completed, TCP target groups,
 * SSM Run Command running the real documents, SQS queues), then answering the same API.
 * Where the two cannot agree, each test file names the calls in a list (MOTO_LACKS,
 * MOTO_ANSWERS_DIFFERENTLY) and tests them on the local AWS alone.
 */

export const BACKENDS = ['moto', 'local AWS'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface World {
  /** an Auto Scaling group whose instances are all InService (and running) when the backend starts */
  group?: { name: string; minSize: number; maxSize: number; desiredCapacity: number };
  /** instances outside any group, running when the backend starts */
  instances?: number;
  /** two TCP target groups by name (amqp on 5672, management on 15672); the instances can be registered on them */
  targetGroups?: { amqp: string; management: string };
  /** SQS queues that answer ReceiveMessage, so a test reads what an adapter sent */
  queues?: QueueSpec[];
}

export interface QueueSpec {
  name: string;
  fifo: boolean;
  /** FIFO only; SQS's default is false */
  contentBasedDeduplication?: boolean;
}

export interface Backend {
  name: BackendName;
  clients: AwsClients;
  clientOptions: ClientOptions;
  /** the group's instances, then the instances outside it */
  instanceIds: string[];
  groupInstanceIds: string[];
  /** world.instances: the instances outside the group */
  looseInstanceIds: string[];
  targetGroupArns?: Record<TargetGroupKey, string>;
  /** world.queues' URLs by name */
  queueUrls: Record<string, string>;
  /** the local AWS only: the next `times` requests of the operation are answered with its service's throttling error */
  armThrottling?(operation: string, times: number): void;
  /** the local AWS only: its models, for what only they can show (lifecycle action tokens, the events) */
  local?: LocalModels;
  stop(): Promise<void>;
}

export interface LocalModels {
  endpoint: LocalAwsEndpoint;
  bus: LocalEventBus;
  ec2: LocalEc2;
  group?: LocalAutoScalingGroup;
  runCommand: LocalRunCommand;
}

/** SSM documents are named <prefix><Document> (config.ssmDocumentPrefix). */
export const SSM_DOCUMENT_PREFIX = 'warren-';

export const REGION = 'us-east-1';
const ZONE = 'us-east-1a';
const IMAGE_ID = 'ami-12c6146b';
const PORTS: Record<TargetGroupKey, number> = { amqp: 5672, management: 15672 };
/** what a contract test's SDK clients do against either backend: one retry, 10 ms apart */
const RETRIES = { maxAttempts: 2, retryDelayMs: 10 };

export function startBackend(name: BackendName, world: World): Promise<Backend> {
  return name === 'moto' ? startMotoBackend(world) : startLocalBackend(world);
}

async function startMotoBackend(world: World): Promise<Backend> {
  const moto = await startMoto();
  try {
    const { ec2, autoScaling, elbv2 } = moto.clients;
    let groupInstanceIds: string[] = [];
    if (world.group) {
      await ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: 'rabbitmq', LaunchTemplateData: { ImageId: IMAGE_ID, InstanceType: 't3.small' } }));
      await autoScaling.send(
        new CreateAutoScalingGroupCommand({
          AutoScalingGroupName: world.group.name,
          LaunchTemplate: { LaunchTemplateName: 'rabbitmq', Version: '$Latest' },
          MinSize: world.group.minSize,
          MaxSize: world.group.maxSize,
          DesiredCapacity: world.group.desiredCapacity,
          AvailabilityZones: [ZONE],
        }),
      );
      // moto launches the group's instances InService at once
      const described = await autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [world.group.name] }));
      groupInstanceIds = (described.AutoScalingGroups?.[0]?.Instances ?? []).map((instance) => instance.InstanceId!);
    }
    // target groups live in a VPC, and their instances in a subnet of it
    let vpcId: string | undefined;
    let subnetId: string | undefined;
    if (world.targetGroups) {
      const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
      vpcId = vpc.Vpc!.VpcId!;
      const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.0.1.0/24', AvailabilityZone: ZONE }));
      subnetId = subnet.Subnet!.SubnetId!;
    }
    let looseInstanceIds: string[] = [];
    if (world.instances) {
      const run = await ec2.send(
        new RunInstancesCommand({ ImageId: IMAGE_ID, MinCount: world.instances, MaxCount: world.instances, ...(subnetId ? { SubnetId: subnetId } : {}) }),
      );
      looseInstanceIds = run.Instances!.map((instance) => instance.InstanceId!);
    }
    let targetGroupArns: Record<TargetGroupKey, string> | undefined;
    if (world.targetGroups) {
      const create = async (key: TargetGroupKey) =>
        (
          await elbv2.send(
            new CreateTargetGroupCommand({ Name: world.targetGroups![key], Protocol: 'TCP', Port: PORTS[key], VpcId: vpcId, TargetType: 'instance' }),
          )
        ).TargetGroups![0]!.TargetGroupArn!;
      targetGroupArns = { amqp: await create('amqp'), management: await create('management') };
    }
    const queueUrls: Record<string, string> = {};
    for (const queue of world.queues ?? []) {
      const attributes = queue.fifo ? { FifoQueue: 'true', ContentBasedDeduplication: String(queue.contentBasedDeduplication ?? false) } : undefined;
      queueUrls[queue.name] = (await moto.clients.sqs.send(new CreateQueueCommand({ QueueName: queue.name, Attributes: attributes }))).QueueUrl!;
    }
    const clientOptions = { ...moto.clientOptions, ...RETRIES };
    return {
      name: 'moto',
      clients: moto.clients,
      clientOptions,
      instanceIds: [...groupInstanceIds, ...looseInstanceIds],
      groupInstanceIds,
      looseInstanceIds,
      targetGroupArns,
      queueUrls,
      stop: () => moto.stop(),
    };
  } catch (error) {
    await moto.stop();
    throw error;
  }
}

/** A health check every 50 ms, healthy after three passes (a tenth of a second), a deregistered target drained after 200 ms. */
const FAST_TARGET_GROUPS: TargetGroupSettings = {
  healthCheck: { intervalMs: 50, timeoutMs: 250, healthyThreshold: 3, unhealthyThreshold: 2 },
  deregistrationDelayMs: 200,
  terminateConnectionsAfterDrain: true,
  terminateConnectionsWhenUnhealthy: true,
  failOpen: true,
};

/** Launch and terminate hooks as warren's group has them; long enough that no test outlives one. */
const HOOK_TIMEOUT_SECONDS = 300;

async function startLocalBackend(world: World): Promise<Backend> {
  const scheduler = realTimeScheduler;
  const bus = new LocalEventBus(scheduler, { region: REGION });
  const host = new MillisecondHost();
  const hostErrors: unknown[] = [];
  const ec2 = new LocalEc2({ host, bus, scheduler, onHostError: (error) => hostErrors.push(error) });
  const closers: Array<() => Promise<void> | void> = [() => host.close()];
  const stop = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    // SSM runs the real documents of infra/ssm on every instance, each as a plain process (see MillisecondHost)
    const runCommand = new LocalRunCommand({ targets: host, scheduler, documentPrefix: SSM_DOCUMENT_PREFIX, agentOnlineDelayMs: 0, agentPollMs: 20 });
    const tagged = (key: string, values: string[]) =>
      ec2
        .describe()
        .filter((instance) => instance.state !== 'terminated' && values.includes(instance.tags[key] ?? ''))
        .map((instance) => instance.instanceId);
    const apis: ServiceApi[] = [
      ec2Api(ec2),
      ssmApi(runCommand, { instancesTagged: tagged, instances: () => ec2.describe().map((instance) => instance.instanceId) }),
    ];

    let group: LocalAutoScalingGroup | undefined;
    let groupInstanceIds: string[] = [];
    if (world.group) {
      group = new LocalAutoScalingGroup(ec2, bus, scheduler, {
        ...world.group,
        availabilityZones: [ZONE],
        launchHook: { heartbeatTimeoutSeconds: HOOK_TIMEOUT_SECONDS },
        terminateHook: { heartbeatTimeoutSeconds: HOOK_TIMEOUT_SECONDS },
        ec2HealthCheckDelayMs: 1_000,
        launchRetryDelayMs: 100,
      });
      closers.push(() => group!.dispose());
      apis.push(autoScalingApi(group));
      groupInstanceIds = await bringIntoService(group, world.group.desiredCapacity);
    }

    const looseInstanceIds = Array.from({ length: world.instances ?? 0 }, () => ec2.runInstance({ availabilityZone: ZONE }));
    await until(`${looseInstanceIds.length} instances running`, () => looseInstanceIds.every((id) => ec2.get(id)?.state === 'running'));

    let targetGroupArns: Record<TargetGroupKey, string> | undefined;
    if (world.targetGroups) {
      // RegisterTargets refuses an instance EC2 does not run
      const resolve = (instanceId: string) => (ec2.get(instanceId)?.state === 'running' ? host.addressOf(instanceId) : undefined);
      const groups = {
        amqp: new LocalTargetGroup('amqp', resolve, FAST_TARGET_GROUPS),
        management: new LocalTargetGroup('management', resolve, FAST_TARGET_GROUPS),
      };
      closers.push(() => Promise.all([groups.amqp.close(), groups.management.close()]).then(() => undefined));
      targetGroupArns = {
        amqp: targetGroupArn(bus, world.targetGroups.amqp, 1),
        management: targetGroupArn(bus, world.targetGroups.management, 2),
      };
      apis.push(
        elbv2Api([
          { arn: targetGroupArns.amqp, group: groups.amqp },
          { arn: targetGroupArns.management, group: groups.management },
        ]),
      );
    }

    const queues = (world.queues ?? []).map((spec) => localQueue(bus, spec));
    if (queues.length > 0) apis.push(sqsApi(queues));
    const queueUrls = Object.fromEntries(queues.map((queue) => [queue.name, queue.url]));

    const endpoint = await LocalAwsEndpoint.start(apis, { region: REGION });
    closers.push(() => endpoint.close());
    if (hostErrors.length > 0) throw new Error(`the local instances failed to boot: ${String(hostErrors[0])}`);
    const clientOptions: ClientOptions = { ...endpoint.clientOptions(), ...RETRIES };
    return {
      name: 'local AWS',
      clients: createAwsClients(clientOptions),
      clientOptions,
      instanceIds: [...groupInstanceIds, ...looseInstanceIds],
      groupInstanceIds,
      looseInstanceIds,
      targetGroupArns,
      queueUrls,
      armThrottling: (operation, times) => endpoint.armFault({ kind: 'throttling', operation, times }),
      local: { endpoint, bus, ec2, group, runCommand },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Starts the group and completes each launch's lifecycle action with CONTINUE, as warren's launch
 * handler does once the node joined: the group at rest with every instance InService, like moto's.
 */
async function bringIntoService(group: LocalAutoScalingGroup, desired: number): Promise<string[]> {
  group.start();
  await until(
    `${desired} launches waiting on the launch hook`,
    () => group.activeActions().filter((action) => action.transition === 'launching').length === desired,
  );
  for (const action of group.activeActions()) {
    group.completeLifecycleAction({ groupName: group.name, hookName: action.hookName, token: action.token, result: 'CONTINUE' });
  }
  const inService = () => group.describe().instances.filter((member) => member.lifecycleState === 'InService');
  await until(`${desired} instances InService`, () => inService().length === desired);
  return inService().map((member) => member.instanceId);
}

/**
 * Machines that boot in a millisecond or two of real time with the next private address of their
 * zone, like tests/unit/sandbox/local-cloud.ts's RecordingHost but on the wall clock. Each listens on
 * 127.0.0.1 where its RabbitMQ would (an AMQP and a management port that accept every connection), so
 * the target groups' TCP health checks pass while it runs and fail once it is killed.
 *
 * There is no RabbitMQ on them: a command runs the real document script of infra/ssm, as the SSM agent
 * runs it (bash, the parameters as SSM_<Name>, the document's timeout, SSM's output limits), as a plain
 * process in the instance's own folder with a PATH that has no RabbitMQ program. The documents append
 * /usr/sbin and /usr/local/sbin to the PATH themselves; where this host has RabbitMQ installed there,
 * its installation is hidden from the script in a private mount namespace (unshare), so the script
 * finds no rabbitmqctl, as on an instance without RabbitMQ. Whatever a document answers is its own.
 */
class MillisecondHost implements InstanceHost, CommandTargets {
  private next = 10;
  private readonly listeners = new Map<string, Record<TargetGroupKey, Listener>>();
  private readonly booted = new Map<string, { hostname: string; since: number }>();
  private readonly booting = new Set<string>();
  private readonly gone = new Set<string>();
  private root?: string;
  private runs = 0;

  async boot(instance: Readonly<Ec2Instance>): Promise<BootedInstance> {
    this.booting.add(instance.instanceId);
    try {
      this.listeners.set(instance.instanceId, { amqp: await acceptingListener(), management: await acceptingListener() });
      const ip = `10.0.${instance.availabilityZone.slice(-1).charCodeAt(0) - 96}.${this.next++}`;
      const hostname = `ip-${ip.replace(/\./g, '-')}`;
      this.booted.set(instance.instanceId, { hostname, since: Date.now() });
      return { privateIp: ip, hostname };
    } finally {
      this.booting.delete(instance.instanceId);
    }
  }

  async kill(instanceId: string): Promise<void> {
    this.gone.add(instanceId);
    const listeners = this.listeners.get(instanceId);
    this.listeners.delete(instanceId);
    if (listeners) await Promise.all(Object.values(listeners).map(closeListener));
  }

  /** Where a running instance's RabbitMQ would listen; undefined once it was killed. */
  addressOf(instanceId: string): TargetAddress | undefined {
    const listeners = this.listeners.get(instanceId);
    return listeners && { ip: '127.0.0.1', amqpPort: listeners.amqp.port, managementPort: listeners.management.port };
  }

  /** The SSM agent starts with the machine and is gone with it. */
  agentState(instanceId: string): AgentState | undefined {
    if (this.gone.has(instanceId)) return { state: 'gone' };
    if (this.booting.has(instanceId)) return { state: 'booting' };
    const booted = this.booted.get(instanceId);
    return booted && { state: 'ready', since: booted.since };
  }

  async runDocument(instanceId: string, name: string, params: Record<string, string>, options: { signal?: AbortSignal } = {}): Promise<ProcessResult> {
    const instance = this.booted.get(instanceId);
    if (!instance || this.gone.has(instanceId)) throw new Error(`instance ${instanceId} is not running`);
    const document = loadDocument(name);
    const ssmEnv = parameterEnvironment(document, params);
    this.root ??= mkdtempSync(join(tmpdir(), 'warren-contract-'));
    const home = join(this.root, instanceId);
    const workDir = join(home, 'ssm', `${++this.runs}-${name}`);
    mkdirSync(workDir, { recursive: true });
    const scriptFile = join(workDir, '_script.sh');
    writeFileSync(scriptFile, document.script, { mode: 0o700 });
    const [command, args] = withoutRabbitMq(scriptFile, document.script);
    const result = await runProcess(command, args, {
      cwd: workDir,
      env: {
        PATH: INSTANCE_PATH,
        HOME: home,
        LANG: 'C.UTF-8',
        // what `hostname -s` answers on the instance; this process runs on the test's host
        RABBITMQ_NODENAME: `rabbit@${instance.hostname}`,
        // the instance's Erlang cookie, which nothing wrote: there is no RabbitMQ
        WARREN_ERLANG_COOKIE_FILE: join(home, '.erlang.cookie'),
        ...ssmEnv,
      },
      timeoutMs: document.timeoutSeconds * 1000,
      signal: options.signal,
    });
    return { exitCode: result.exitCode, ...truncateLikeSsm(result) };
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners.keys()].map((instanceId) => this.kill(instanceId)));
    if (this.root) rmSync(this.root, { recursive: true, force: true });
  }
}

/** The PATH an instance's SSM agent gives a script, before the document adds the sbin folders. */
const INSTANCE_PATH = '/usr/local/bin:/usr/bin:/bin';
const RABBITMQ_PROGRAMS = [
  'rabbitmqctl',
  'rabbitmq-diagnostics',
  'rabbitmq-plugins',
  'rabbitmq-queues',
  'rabbitmq-server',
  'rabbitmq-streams',
  'rabbitmq-upgrade',
];

/**
 * The program that runs a document's script with no RabbitMQ program on its PATH: bash itself, or,
 * where a folder the script searches has one, bash inside a private mount namespace in which the
 * folders holding the programs (where their links resolve to) are covered by an empty tmpfs. The
 * namespace checks that nothing is left before the script starts (exit 125 otherwise).
 */
function withoutRabbitMq(scriptFile: string, script: string): [string, string[]] {
  const appended = /export PATH="\$PATH:([^"]*)"/.exec(script)?.[1] ?? '';
  const searched = [...INSTANCE_PATH.split(':'), ...appended.split(':')].filter(Boolean);
  const installed = searched.flatMap((dir) => RABBITMQ_PROGRAMS.map((program) => join(dir, program))).filter((path) => existsSync(path));
  if (installed.length === 0) return ['bash', [scriptFile]];
  const covered = [...new Set(installed.map((path) => dirname(realpathSync(path))))];
  const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
  const hideAndRun = [
    ...covered.map((dir) => `mount -t tmpfs -o ro,size=4k warren-no-rabbitmq ${quote(dir)} || exit 125`),
    `for program in ${installed.map(quote).join(' ')}; do`,
    `  if [ -e "$program" ]; then echo "the contract backend could not hide $program from the document" >&2; exit 125; fi`,
    'done',
    `exec bash ${quote(scriptFile)}`,
  ].join('\n');
  // root may mount in a new mount namespace; anyone else maps to root in a new user namespace first
  const asRoot = process.getuid?.() === 0 ? [] : ['--user', '--map-root-user'];
  return ['unshare', [...asRoot, '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', hideAndRun]];
}

interface Listener {
  server: Server;
  port: number;
  sockets: Set<Socket>;
}

/** A TCP listener on 127.0.0.1 that accepts every connection and holds it until the listener closes. */
async function acceptingListener(): Promise<Listener> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0, sockets };
}

function closeListener(listener: Listener): Promise<void> {
  for (const socket of listener.sockets) socket.destroy();
  return new Promise((resolve) => listener.server.close(() => resolve()));
}

/** A queue of the local SQS that answers ReceiveMessage (no Lambda event source reads it), FIFO with SQS's five-minute deduplication or standard. */
function localQueue(bus: LocalEventBus, spec: QueueSpec): LocalQueue {
  const url = queueUrlOf(`arn:aws:sqs:${bus.region}:${bus.account}:${spec.name}`);
  return new LocalQueue(realTimeScheduler, { url, contentBasedDeduplication: spec.fifo && spec.contentBasedDeduplication });
}

function targetGroupArn(bus: LocalEventBus, name: string, n: number): string {
  return `arn:aws:elasticloadbalancing:${bus.region}:${bus.account}:targetgroup/${name}/${n.toString(16).padStart(16, '0')}`;
}

/** Polls every 5 ms; a world that does not come about within 5 s fails the backend's start, naming what was awaited. */
export async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`the local AWS backend: ${what} not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
