import { randomBytes } from 'node:crypto';
import type { Ec2State } from '../../../shared/ports';
import { ApiError } from '../aws/protocol';
import { type LocalEventBus, publishInstanceStateChange } from './event-bus';
import { BASE_IMAGE_ID } from './launch-templates';
import type { Scheduler } from './scheduler';

/** Where an instance really runs; the sandbox backs it with a RabbitMQ node, tests with a stand-in. */
export interface InstanceHost {
  /** Brings the machine up (not RabbitMQ: the AMI leaves it stopped) and says where it lives. */
  boot(instance: Readonly<Ec2Instance>): Promise<BootedInstance>;
  /** Stops the machine; called once per instance, also when it never finished booting. An orderly
   *  shutdown lets its services stop (peers see connections close); a crash is instant. */
  kill(instanceId: string, how?: 'orderly' | 'crash'): Promise<void>;
}

export interface BootedInstance {
  privateIp: string;
  /** the OS hostname; in EC2 it is the first label of the private DNS name */
  hostname: string;
  /** tags the image's boot writes (the loopback sandbox names its nodes this way) */
  tags?: Record<string, string>;
}

export interface Ec2Instance {
  instanceId: string;
  state: Ec2State;
  availabilityZone: string;
  launchTime: number;
  privateIp?: string;
  privateDnsName?: string;
  hostname?: string;
  tags: Record<string, string>;
  /** the AMI it boots from (what the host gives its node: launch-templates.ts' image catalogue); runInstance always sets it */
  imageId?: string;
  /** the launch template version it was launched from, when one was used */
  launchTemplate?: { id: string; version: string };
  /** when it reached terminated; EC2 keeps describing it for a while after */
  terminatedAt?: number;
}

export type StateListener = (instance: Readonly<Ec2Instance>, previous: Ec2State) => void;

export interface LocalEc2Options {
  host: InstanceHost;
  bus: LocalEventBus;
  scheduler: Scheduler;
  /** EC2 documents that a terminated instance stays visible for about an hour */
  terminatedVisibleMs?: number;
  /** a host call failed; the model carries on (a failed boot ends in terminated) */
  onHostError?: (error: unknown, instanceId: string) => void;
}

/**
 * EC2 for one region: instances move pending -> running -> shutting-down -> terminated, each move is
 * an EC2 Instance State-change Notification on the bus, and the machine itself is the InstanceHost's.
 */
export class LocalEc2 {
  private readonly instances = new Map<string, Ec2Instance>();
  private readonly booting = new Map<string, Promise<unknown>>();
  private readonly listeners = new Set<StateListener>();
  private readonly dying = new Set<string>();

  constructor(private readonly options: LocalEc2Options) {}

  /** The account that owns the instances (DescribeInstances' ownerId). */
  get account(): string {
    return this.options.bus.account;
  }

  /** In-process notice of every state change, before the bus delivers its event (for the ASG model). */
  onStateChange(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** RunInstances for one instance; returns its id while it is still pending. */
  runInstance(request: {
    availabilityZone: string;
    tags?: Record<string, string>;
    /** defaults to the sandbox's base AMI */
    imageId?: string;
    launchTemplate?: { id: string; version: string };
  }): string {
    const instance: Ec2Instance = {
      instanceId: newInstanceId(),
      state: 'pending',
      availabilityZone: request.availabilityZone,
      launchTime: this.options.scheduler.now(),
      tags: { ...request.tags },
      imageId: request.imageId ?? BASE_IMAGE_ID,
      ...(request.launchTemplate ? { launchTemplate: { ...request.launchTemplate } } : {}),
    };
    this.instances.set(instance.instanceId, instance);
    publishInstanceStateChange(this.options.bus, instance.instanceId, 'pending');
    this.booting.set(instance.instanceId, this.boot(instance));
    return instance.instanceId;
  }

  /** TerminateInstances: an orderly shutdown, so the machine dies after EC2 reports shutting-down. */
  async terminate(instanceId: string): Promise<void> {
    await this.shutDown(this.require(instanceId), 'orderly');
  }

  /** The machine dies at once (hardware, kernel panic); EC2 notices and reports it gone. No hook runs. */
  async crash(instanceId: string): Promise<void> {
    await this.shutDown(this.require(instanceId), 'crash');
  }

  /** DescribeInstances: copies, including terminated instances still within their visible hour. */
  describe(instanceIds?: string[]): Ec2Instance[] {
    this.forgetExpired();
    const wanted = instanceIds ? new Set(instanceIds) : undefined;
    return [...this.instances.values()].filter((instance) => !wanted || wanted.has(instance.instanceId)).map(copyOf);
  }

  get(instanceId: string): Ec2Instance | undefined {
    return this.describe([instanceId])[0];
  }

  /** CreateTags; EC2 refuses an id it does not know. */
  createTags(instanceId: string, tags: Record<string, string>): void {
    Object.assign(this.require(instanceId).tags, tags);
  }

  private async boot(instance: Ec2Instance): Promise<void> {
    let booted: BootedInstance;
    try {
      booted = await this.options.host.boot(copyOf(instance));
    } catch (error) {
      this.options.onHostError?.(error, instance.instanceId);
      // an instance that cannot start ends terminated, like an EC2 launch failure; not awaited,
      // because shutting down waits for this very boot to settle
      void this.shutDown(instance, 'crash');
      return;
    }
    if (instance.state !== 'pending' || this.dying.has(instance.instanceId)) return;
    Object.assign(instance, {
      privateIp: booted.privateIp,
      hostname: booted.hostname,
      privateDnsName: privateDnsName(booted.privateIp, this.options.bus.region),
    });
    Object.assign(instance.tags, booted.tags);
    this.move(instance, 'running');
  }

  private async shutDown(instance: Ec2Instance, how: 'orderly' | 'crash'): Promise<void> {
    if (this.dying.has(instance.instanceId)) return;
    this.dying.add(instance.instanceId);
    // a crash takes the machine down before EC2 notices; an orderly stop is reported first
    if (how === 'crash') await this.kill(instance, how);
    this.move(instance, 'shutting-down');
    if (how === 'orderly') await this.kill(instance, how);
    instance.terminatedAt = this.options.scheduler.now();
    // EC2 releases the network interface: a terminated instance describes with no private IP and an
    // empty private DNS name, so only the node-name tag still says which node it was
    delete instance.privateIp;
    delete instance.privateDnsName;
    this.move(instance, 'terminated');
  }

  private async kill(instance: Ec2Instance, how: 'orderly' | 'crash'): Promise<void> {
    // a machine still booting is killed once its boot settled, so the host never sees the two cross
    await this.booting.get(instance.instanceId)?.catch(() => undefined);
    try {
      await this.options.host.kill(instance.instanceId, how);
    } catch (error) {
      this.options.onHostError?.(error, instance.instanceId);
    }
  }

  private move(instance: Ec2Instance, state: Ec2State): void {
    const previous = instance.state;
    instance.state = state;
    // published before the listeners act, so the bus shows cause before effect
    publishInstanceStateChange(this.options.bus, instance.instanceId, state);
    for (const listener of [...this.listeners]) listener(copyOf(instance), previous);
  }

  private require(instanceId: string): Ec2Instance {
    this.forgetExpired();
    const instance = this.instances.get(instanceId);
    if (!instance) throw new ApiError('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    return instance;
  }

  private forgetExpired(): void {
    const now = this.options.scheduler.now();
    for (const [id, instance] of this.instances) {
      if (instance.terminatedAt !== undefined && now - instance.terminatedAt > (this.options.terminatedVisibleMs ?? 3_600_000)) {
        this.instances.delete(id);
        this.booting.delete(id);
        this.dying.delete(id);
      }
    }
  }
}

/** EC2's own rule: ip-10-0-1-5.ec2.internal in us-east-1, ip-10-0-1-5.<region>.compute.internal elsewhere. */
export function privateDnsName(privateIp: string, region: string): string {
  const domain = region === 'us-east-1' ? 'ec2.internal' : `${region}.compute.internal`;
  return `ip-${privateIp.replace(/\./g, '-')}.${domain}`;
}

/** i- and 17 hex digits, the form EC2 has used since 2016. */
function newInstanceId(): string {
  return `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

function copyOf(instance: Ec2Instance): Ec2Instance {
  return { ...instance, tags: { ...instance.tags }, ...(instance.launchTemplate ? { launchTemplate: { ...instance.launchTemplate } } : {}) };
}
