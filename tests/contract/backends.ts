import { createServer, type Server, type Socket } from 'node:net';
import { CreateAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand, CreateSubnetCommand, CreateVpcCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateTargetGroupCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { autoScalingApi } from '../../infra/sandbox/aws/autoscaling-api';
import { ec2Api } from '../../infra/sandbox/aws/ec2-api';
import { elbv2Api } from '../../infra/sandbox/aws/elbv2-api';
import { LocalAwsEndpoint } from '../../infra/sandbox/aws/endpoint';
import type { ServiceApi } from '../../infra/sandbox/aws/protocol';
import { LocalAutoScalingGroup } from '../../infra/sandbox/cloud/autoscaling';
import { LocalEc2, type BootedInstance, type Ec2Instance, type InstanceHost } from '../../infra/sandbox/cloud/ec2';
import { LocalTargetGroup, type TargetAddress, type TargetGroupSettings } from '../../infra/sandbox/cloud/elb';
import { LocalEventBus } from '../../infra/sandbox/cloud/event-bus';
import { realTimeScheduler } from '../../infra/sandbox/cloud/scheduler';
import { createAwsClients, type AwsClients, type ClientOptions } from '../../shared/aws/clients';
import type { TargetGroupKey } from '../../shared/ports';
import { startMoto } from './moto';

/**
 * The two AWS implementations the contract suite runs its one set of assertions against: the moto
 * server, and the sandbox's local AWS (its cloud models behind LocalAwsEndpoint, on real time). Each
 * builds the same declarative world: moto through its API, as a test would; the local AWS from its
 * models directly, then answering the same API.
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
}

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
    const clientOptions = { ...moto.clientOptions, ...RETRIES };
    return {
      name: 'moto',
      clients: moto.clients,
      clientOptions,
      instanceIds: [...groupInstanceIds, ...looseInstanceIds],
      groupInstanceIds,
      looseInstanceIds,
      targetGroupArns,
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
    const apis: ServiceApi[] = [ec2Api(ec2)];

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
      apis.push(elbv2Api([
        { arn: targetGroupArns.amqp, group: groups.amqp },
        { arn: targetGroupArns.management, group: groups.management },
      ]));
    }

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
      armThrottling: (operation, times) => endpoint.armFault({ kind: 'throttling', operation, times }),
      local: { endpoint, bus, ec2, group },
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
  await until(`${desired} launches waiting on the launch hook`, () => group.activeActions().filter((action) => action.transition === 'launching').length === desired);
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
 */
class MillisecondHost implements InstanceHost {
  private next = 10;
  private readonly listeners = new Map<string, Record<TargetGroupKey, Listener>>();

  async boot(instance: Readonly<Ec2Instance>): Promise<BootedInstance> {
    this.listeners.set(instance.instanceId, { amqp: await acceptingListener(), management: await acceptingListener() });
    const ip = `10.0.${instance.availabilityZone.slice(-1).charCodeAt(0) - 96}.${this.next++}`;
    return { privateIp: ip, hostname: `ip-${ip.replace(/\./g, '-')}` };
  }

  async kill(instanceId: string): Promise<void> {
    const listeners = this.listeners.get(instanceId);
    this.listeners.delete(instanceId);
    if (listeners) await Promise.all(Object.values(listeners).map(closeListener));
  }

  /** Where a running instance's RabbitMQ would listen; undefined once it was killed. */
  addressOf(instanceId: string): TargetAddress | undefined {
    const listeners = this.listeners.get(instanceId);
    return listeners && { ip: '127.0.0.1', amqpPort: listeners.amqp.port, managementPort: listeners.management.port };
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners.keys()].map((instanceId) => this.kill(instanceId)));
  }
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
