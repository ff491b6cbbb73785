import { NODE_NAME_TAG } from '../../../shared/aws/inventory';
import { NodeCluster, type ClusterOptions, type SandboxNode } from '../nodes';
import type { ProcessResult } from '../nodes/process';
import type { BootedInstance, Ec2Instance, InstanceHost } from './ec2';
import type { TargetAddress } from './elb';
import { BASE_IMAGE_ID, type NodeImage } from './launch-templates';
import type { AgentState, CommandTargets } from './ssm';

/**
 * Instances backed by real RabbitMQ nodes. Booting one adds a stopped node with an empty data dir (the
 * AMI's state: the NodeJoin document starts RabbitMQ later); killing one ends every process of it at once
 * and, with namespaces, takes its link down, so peers see a machine that vanished rather than one that left.
 */
const ORDERLY_STOP_MS = 10_000;

function withinMs(ms: number, work: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}

export class RabbitMqInstanceHost implements InstanceHost, CommandTargets {
  private readonly nodes = new Map<string, SandboxNode>();
  private readonly readySince = new Map<string, number>();
  private readonly booting = new Set<string>();
  private readonly gone = new Set<string>();
  /**
   * The image catalogue: what a node booted from an AMI gets (LocalLaunchTemplates.image). Without
   * one, every instance boots the base AMI; an AMI the catalogue does not know fails to boot.
   */
  images?: (imageId: string) => NodeImage | undefined;

  constructor(
    readonly cluster: NodeCluster,
    /** the local cloud's clock, so the agent's "online since" shares the SSM emulator's timeline */
    private readonly now: () => number = Date.now,
  ) {}

  static create(options: ClusterOptions & { now?: () => number } = {}): RabbitMqInstanceHost {
    return new RabbitMqInstanceHost(NodeCluster.create(options), options.now);
  }

  async boot(instance: Readonly<Ec2Instance>): Promise<BootedInstance> {
    this.booting.add(instance.instanceId);
    try {
      // NodeCluster never reuses an index, so a new machine never gets a dead one's IP or namespace,
      // and addNode rewrites every namespace's hosts file, so running nodes resolve the newcomer
      const imageId = instance.imageId ?? BASE_IMAGE_ID;
      const image = this.images ? this.images(imageId) : imageId === BASE_IMAGE_ID ? {} : undefined;
      if (!image) throw new Error(`The image id '[${imageId}]' does not exist`);
      const node = await this.cluster.addNode(Object.keys(image).length > 0 ? { image } : {});
      this.nodes.set(instance.instanceId, node);
      this.readySince.set(instance.instanceId, this.now());
      return {
        privateIp: node.ip,
        hostname: node.hostname,
        // on loopback every node is @localhost: its name cannot come from the private DNS name
        ...(this.cluster.mode === 'loopback' ? { tags: { [NODE_NAME_TAG]: node.name } } : {}),
      };
    } finally {
      this.booting.delete(instance.instanceId);
    }
  }

  async kill(instanceId: string, how: 'orderly' | 'crash' = 'crash'): Promise<void> {
    // marked first: from now on no command reaches it, even while its processes are being killed
    this.gone.add(instanceId);
    const node = this.nodes.get(instanceId);
    if (!node) return;
    // an OS shutdown stops RabbitMQ first (its peers see the connections close instead of a silence),
    // and like systemd's stop timeout it does not wait long for it
    if (how === 'orderly')
      await withinMs(
        ORDERLY_STOP_MS,
        this.cluster.stopNode(node).catch(() => undefined),
      );
    // link first: a machine that dies sends its peers no FIN, so they must notice by themselves
    try {
      if (this.cluster.mode === 'namespaces') await this.cluster.setNetwork(node, false);
    } finally {
      await this.cluster.killNode(node);
    }
  }

  /** The RabbitMQ node of an instance that booted (also after it was killed). */
  nodeOf(instanceId: string): SandboxNode | undefined {
    return this.nodes.get(instanceId);
  }

  /** The instance whose node has this name, e.g. to find the victim of a fault by node name. */
  instanceOfNode(nodeName: string): string | undefined {
    return [...this.nodes].find(([, node]) => node.name === nodeName)?.[0];
  }

  isAlive(instanceId: string): boolean {
    return this.nodes.has(instanceId) && !this.gone.has(instanceId);
  }

  /** For the NLB's target resolver: where a live instance's RabbitMQ listens. */
  addressOf(instanceId: string): TargetAddress | undefined {
    const node = this.isAlive(instanceId) ? this.nodes.get(instanceId) : undefined;
    return node && { ip: node.ip, amqpPort: node.amqpPort, managementPort: node.managementPort };
  }

  agentState(instanceId: string): AgentState | undefined {
    if (this.gone.has(instanceId)) return { state: 'gone' };
    if (this.booting.has(instanceId)) return { state: 'booting' };
    const since = this.readySince.get(instanceId);
    return since === undefined ? undefined : { state: 'ready', since };
  }

  runDocument(instanceId: string, document: string, params: Record<string, string>, options: { signal?: AbortSignal } = {}): Promise<ProcessResult> {
    return this.cluster.runDocument(this.live(instanceId), document, params, options);
  }

  /** Runs a program on the instance, like a person with a shell on it. */
  exec(instanceId: string, command: string, args: string[]): Promise<ProcessResult> {
    return this.cluster.exec(this.live(instanceId), command, args);
  }

  rabbitmqctl(instanceId: string, args: string[]): Promise<ProcessResult> {
    return this.cluster.rabbitmqctl(this.live(instanceId), args);
  }

  /** Fault injection: cuts (or restores) the instance's network; it keeps running (namespaces mode only). */
  async setNetwork(instanceId: string, up: boolean): Promise<void> {
    await this.cluster.setNetwork(this.live(instanceId), up);
  }

  /** Removes every node, namespace and folder of this host. */
  async destroy(): Promise<void> {
    await this.cluster.destroy();
  }

  private live(instanceId: string): SandboxNode {
    const node = this.nodes.get(instanceId);
    if (!node || this.gone.has(instanceId)) throw new Error(`instance ${instanceId} is not running on this host`);
    return node;
  }
}
