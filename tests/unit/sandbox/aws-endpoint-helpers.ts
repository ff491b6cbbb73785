import { autoScalingApi } from '../../../infra/sandbox/aws/autoscaling-api';
import { ec2Api } from '../../../infra/sandbox/aws/ec2-api';
import { elbv2Api } from '../../../infra/sandbox/aws/elbv2-api';
import { LocalAwsEndpoint } from '../../../infra/sandbox/aws/endpoint';
import type { ServiceApi } from '../../../infra/sandbox/aws/protocol';
import { LocalAutoScalingGroup, type AutoScalingGroupOptions } from '../../../infra/sandbox/cloud/autoscaling';
import { LocalEc2, type BootedInstance, type Ec2Instance, type InstanceHost } from '../../../infra/sandbox/cloud/ec2';
import { LocalTargetGroup, SANDBOX_TARGET_GROUP_SETTINGS, type TargetAddress } from '../../../infra/sandbox/cloud/elb';
import { type AwsEvent, LocalEventBus } from '../../../infra/sandbox/cloud/event-bus';
import { realTimeScheduler } from '../../../infra/sandbox/cloud/scheduler';
import { createAwsClients, type AwsClients } from '../../../shared/aws/clients';
import { Ec2AutoScalingInventory } from '../../../shared/aws/inventory';
import { AutoScalingLifecycle } from '../../../shared/aws/lifecycle';
import { Elbv2TargetGroups } from '../../../shared/aws/target-groups';
import { parseEvent } from '../../../shared/events';
import type { LifecycleActionRef } from '../../../shared/ports';
import { EchoServer, FAST_HEALTH_CHECKS } from './elb-echo';

/*
 * The local cloud behind the local AWS endpoint, on real time, driven through warren's own AWS
 * adapters over real SDK clients. Virtual time cannot be used here: FakeClock moves time on whenever
 * every task waits, and a task waiting on a socket looks just like that.
 */

export const GROUP_NAME = 'orders-rabbitmq';
export const TARGET_GROUP_ARNS = {
  amqp: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-amqp/0123456789abcdef',
  management: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-mgmt/fedcba9876543210',
} as const;
/** Polling of the target waits, in seconds: the SDK waiter takes fractions. */
export const FAST_POLL = { minDelay: 0.02, maxDelay: 0.05 };

/** What the helpers started, to be stopped by closeAll. */
const closers: Array<() => Promise<void> | void> = [];

/** Clients that retry twice, 10 ms apart: a fault shows in milliseconds, not in AWS-sized backoffs. Destroyed by closeAll. */
export function clientsFor(endpoint: LocalAwsEndpoint, maxAttempts = 2): AwsClients {
  const clients = createAwsClients({ ...endpoint.clientOptions(), maxAttempts, retryDelayMs: 10 });
  closers.push(() => {
    for (const client of Object.values(clients)) client.destroy();
  });
  return clients;
}

/**
 * Machines that boot in a few real milliseconds, each with a TCP listener on 127.0.0.1 standing in
 * for its RabbitMQ ports (both groups' health checks connect to it), closed when the machine dies.
 */
export class ListeningHost implements InstanceHost {
  readonly boots: string[] = [];
  readonly kills: string[] = [];
  private readonly listeners = new Map<string, EchoServer>();
  private next = 10;
  private closed = false;

  constructor(private readonly bootMs = 5) {}

  async boot(instance: Readonly<Ec2Instance>): Promise<BootedInstance> {
    this.boots.push(instance.instanceId);
    await new Promise((resolve) => setTimeout(resolve, this.bootMs));
    const listener = await EchoServer.start(instance.instanceId);
    // a boot that ends after the test leaves no listener behind
    if (this.closed) {
      await listener.destroy();
      throw new Error('the host is closed');
    }
    this.listeners.set(instance.instanceId, listener);
    const ip = `10.0.${instance.availabilityZone.slice(-1).charCodeAt(0) - 96}.${this.next++}`;
    return { privateIp: ip, hostname: `ip-${ip.replace(/\./g, '-')}` };
  }

  async kill(instanceId: string): Promise<void> {
    this.kills.push(instanceId);
    await this.listeners.get(instanceId)?.destroy();
    this.listeners.delete(instanceId);
  }

  /** Where the instance's ports listen while it lives. */
  address(instanceId: string): TargetAddress | undefined {
    const listener = this.listeners.get(instanceId);
    return listener && { ip: '127.0.0.1', amqpPort: listener.port, managementPort: listener.port };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.listeners.values()].map((listener) => listener.destroy()));
    this.listeners.clear();
  }
}

/** Resolves once `check` returns something other than undefined or false; rejects after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 3_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Everything the helpers started, stopped in reverse order; call it in afterEach. */
export async function closeAll(): Promise<void> {
  for (const close of closers.splice(0).reverse()) await close();
}

export async function startEndpoint(apis: ServiceApi[]): Promise<LocalAwsEndpoint> {
  const endpoint = await LocalAwsEndpoint.start(apis, { region: 'us-east-1' });
  closers.push(() => endpoint.close());
  return endpoint;
}

export interface LocalAwsOptions {
  group?: Partial<AutoScalingGroupOptions>;
  bootMs?: number;
  maxAttempts?: number;
  /** more services the same endpoint answers */
  apis?: ServiceApi[];
}

/**
 * EC2, one Auto Scaling group and the NLB's two target groups, answered by the local endpoint, with
 * warren's inventory, lifecycle and target-group adapters over it.
 */
export async function localAws(options: LocalAwsOptions = {}) {
  const bus = new LocalEventBus(realTimeScheduler);
  const host = new ListeningHost(options.bootMs);
  closers.push(() => host.close());
  const ec2 = new LocalEc2({ host, bus, scheduler: realTimeScheduler });
  const group = new LocalAutoScalingGroup(ec2, bus, realTimeScheduler, { name: GROUP_NAME, minSize: 1, maxSize: 6, desiredCapacity: 3, ...options.group });
  closers.push(() => group.dispose());
  const resolve = (instanceId: string) => (ec2.get(instanceId)?.state === 'running' ? host.address(instanceId) : undefined);
  const settings = { ...SANDBOX_TARGET_GROUP_SETTINGS, deregistrationDelayMs: 200, healthCheck: FAST_HEALTH_CHECKS };
  const targetGroups = { amqp: new LocalTargetGroup('amqp', resolve, settings), management: new LocalTargetGroup('management', resolve, settings) };
  closers.push(() => Promise.all([targetGroups.amqp.close(), targetGroups.management.close()]).then(() => undefined));
  const endpoint = await startEndpoint([
    ec2Api(ec2, group.launchTemplates),
    autoScalingApi(group),
    elbv2Api([
      { arn: TARGET_GROUP_ARNS.amqp, group: targetGroups.amqp },
      { arn: TARGET_GROUP_ARNS.management, group: targetGroups.management },
    ]),
    ...(options.apis ?? []),
  ]);
  const clients = clientsFor(endpoint, options.maxAttempts);
  const config = { autoScalingGroupName: GROUP_NAME, targetGroups: TARGET_GROUP_ARNS };
  const inventory = new Ec2AutoScalingInventory(config, clients);
  const lifecycle = new AutoScalingLifecycle(clients);
  const targets = new Elbv2TargetGroups(config, clients, { poll: FAST_POLL });

  const lifecycleEvents = (instanceId?: string): AwsEvent[] =>
    bus.published.filter((event) => event.source === 'aws.autoscaling' && (!instanceId || event.detail.EC2InstanceId === instanceId));
  /** The action as warren gets it: parsed out of the lifecycle event the group published. */
  const actionOf = (instanceId: string, kind: 'launch' | 'terminate' = 'launch'): LifecycleActionRef => {
    const events = lifecycleEvents(instanceId).map((event) => parseEvent(event));
    const event = events.find((candidate) => candidate.kind === kind);
    if (!event || (event.kind !== 'launch' && event.kind !== 'terminate')) throw new Error(`no ${kind} event for ${instanceId}`);
    return event.action;
  };
  const membersIn = (state: string) => group.describe().instances.filter((member) => member.lifecycleState === state);
  /** Starts the group and, once every launch waits on its hook, completes them with CONTINUE. */
  const startInService = async () => {
    group.start();
    const desired = group.describe().desiredCapacity;
    await eventually(() => group.activeActions().length === desired, `${desired} launch actions open`);
    for (const action of group.activeActions()) {
      group.completeLifecycleAction({ groupName: GROUP_NAME, hookName: action.hookName, token: action.token, result: 'CONTINUE' });
    }
    return group.describe().instances;
  };
  return { bus, host, ec2, group, targetGroups, endpoint, clients, inventory, lifecycle, targets, lifecycleEvents, actionOf, membersIn, startInService };
}

/** The error a call fails with; the test fails if the call succeeds. */
export async function failureOf(work: Promise<unknown>): Promise<Error> {
  const outcome = await work.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof Error)) throw new Error('expected the call to fail');
  return outcome;
}
