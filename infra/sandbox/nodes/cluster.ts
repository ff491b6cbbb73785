import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDocument, parameterEnvironment, truncateLikeSsm } from './documents';
import { RUNS_DIR, bridgeAddress, canUseNamespaces, createBridge, createNamespace, deleteBridge, deleteNamespace, setLinkUp, writeHostsFiles } from './network';
import { type ProcessResult, runProcess } from './process';
import { assertRabbitMqInstalled, prepareRabbitMq, type RabbitMqLine, type RabbitMqRuntime } from './versions';

/** The node configuration the AMI ships; sandbox nodes boot from the same files. */
export const NODE_CONFIG_DIR = join(__dirname, '..', '..', 'node');
/** Where the RabbitMQ scripts are, on the host and in a 4.x root alike. */
const RABBITMQ_BIN = '/usr/lib/rabbitmq/bin';
const IN_ROOT = join(__dirname, 'in-root.sh');

export type NodeMode = 'namespaces' | 'loopback';

export interface SandboxNode {
  index: number;
  /** RabbitMQ node name: rabbit@ip-10-213-x-y, or rabbit-N@localhost in loopback mode */
  name: string;
  hostname: string;
  ip: string;
  namespace?: string;
  dir: string;
  /** the node's environment: what the AMI's layout provides, pointed at this node's folders, and what the image sets (ClusterOptions.env) */
  env: Record<string, string>;
  amqpPort: number;
  managementPort: number;
  /** the root this node's programs run chrooted into (4.x); absent for the host's own package */
  root?: string;
}

export interface ClusterOptions {
  /** names the run; kept short because interface names are limited to 15 characters */
  prefix?: string;
  /** defaults to namespaces when root, else loopback */
  mode?: NodeMode;
  /** RabbitMQ release line of every node; defaults to 3.10, the host's own package */
  rabbitmq?: RabbitMqLine;
  /** what the image adds to every node's environment, e.g. where its AWS tools are (aws/node-aws.ts: startNodeAws) */
  env?: NodeEnvironment;
}

/**
 * Variables the image sets in every node's environment besides the layout's own, as the AMI's profile
 * would: given as they are, or made by a function once the run's network is up (so that a listener can
 * bind `cluster.hostAddress`, where the nodes reach this host) and before the first node is added.
 */
export type NodeEnvironment = Record<string, string> | ((cluster: NodeCluster) => Record<string, string> | Promise<Record<string, string>>);

/**
 * Real RabbitMQ nodes for tests and the sandbox. As root each node is an "instance": its own network
 * namespace, private IP and EC2-style hostname; otherwise nodes share loopback with distinct ports.
 */
export class NodeCluster {
  readonly nodes: SandboxNode[] = [];
  private readonly cookie = randomBytes(15).toString('hex').toUpperCase();
  private readonly subnet = 1 + (randomBytes(1)[0]! % 250);
  private bridge?: Promise<void>;
  private bridgeCreated = false;
  /** what every node's environment gets from the image (ClusterOptions.env, addEnv) */
  private readonly imageVariables: Record<string, string> = {};
  private prepared?: Promise<void>;
  private lastIndex = 0;
  private documentRuns = 0;
  private constructor(
    readonly run: string,
    readonly mode: NodeMode,
    readonly dir: string,
    readonly rabbitmq: RabbitMqLine,
    /** prepared in the background from create on; the first addNode waits for it */
    readonly runtime: Promise<RabbitMqRuntime>,
    private readonly imageEnv?: NodeEnvironment,
  ) {}

  static create(options: ClusterOptions = {}): NodeCluster {
    const rabbitmq = options.rabbitmq ?? '3.10';
    const mode = options.mode ?? (canUseNamespaces() ? 'namespaces' : 'loopback');
    if (rabbitmq === '3.10') assertRabbitMqInstalled();
    else if (mode !== 'namespaces') throw new Error(`RabbitMQ ${rabbitmq} nodes run chrooted in network namespaces: they need root and namespaces mode`);
    const runtime = prepareRabbitMq(rabbitmq);
    runtime.catch(() => undefined); // reported by addNode
    const run = `${(options.prefix ?? 'r').slice(0, 4)}${randomBytes(2).toString('hex')}`;
    const dir = join(RUNS_DIR, run);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'owner.pid'), String(process.pid));
    return new NodeCluster(run, mode, dir, rabbitmq, runtime, options.env);
  }

  /** Where the nodes reach this host: the run's bridge address (namespaces), or loopback. */
  get hostAddress(): string {
    return this.mode === 'namespaces' ? bridgeAddress(this.subnet) : '127.0.0.1';
  }

  /** The run's network, made once (its bridge, in namespaces mode); resolves to hostAddress, which can then be bound. */
  async ensureNetwork(): Promise<string> {
    if (this.mode === 'namespaces') {
      this.bridge ??= createBridge(this.run, this.subnet).then(() => {
        this.bridgeCreated = true;
      });
      await this.bridge;
    }
    return this.hostAddress;
  }

  /** Adds variables to every node's environment, the nodes added so far and those to come, as an image that ships them. */
  addEnv(env: Record<string, string>): void {
    Object.assign(this.imageVariables, env);
    for (const node of this.nodes) Object.assign(node.env, env);
  }

  /** Once, before the first node: the run's network, then the image's variables (ClusterOptions.env). */
  private prepare(): Promise<void> {
    this.prepared ??= this.ensureNetwork().then(async () => {
      const given = typeof this.imageEnv === 'function' ? await this.imageEnv(this) : this.imageEnv;
      // what addEnv added meanwhile stays
      Object.assign(this.imageVariables, { ...given, ...this.imageVariables });
    });
    return this.prepared;
  }

  /**
   * Adds a stopped node with a fresh data directory, the state the AMI boots in; `rabbitmq` gives it
   * another release line than the cluster's (an image of another version), `image` what another
   * image ships: configuration lines (etc/conf.d/50-image.conf) and its own Erlang cookie.
   */
  async addNode(options: { rabbitmq?: RabbitMqLine; image?: { rabbitmqConf?: string; erlangCookie?: string } } = {}): Promise<SandboxNode> {
    // reserved before any await: instances of one ASG boot concurrently
    const index = ++this.lastIndex;
    const { root } = options.rabbitmq === undefined || options.rabbitmq === this.rabbitmq ? await this.runtime : await prepareRabbitMq(options.rabbitmq);
    await this.prepare();
    const ip = this.mode === 'namespaces' ? `10.213.${this.subnet}.${10 + index}` : '127.0.0.1';
    const hostname = this.mode === 'namespaces' ? `ip-${ip.replace(/\./g, '-')}` : 'localhost';
    const name = this.mode === 'namespaces' ? `rabbit@${hostname}` : `rabbit-${index}@localhost`;
    const dir = join(this.dir, `node${index}`);
    for (const sub of ['home', 'etc/conf.d', 'mnesia', 'log', 'ssm']) mkdirSync(join(dir, sub), { recursive: true });
    copyFileSync(join(NODE_CONFIG_DIR, 'rabbitmq.conf'), join(dir, 'etc/rabbitmq.conf'));
    copyFileSync(join(NODE_CONFIG_DIR, 'enabled_plugins'), join(dir, 'etc/enabled_plugins'));
    const cookieFile = join(dir, 'home/.erlang.cookie');
    // an image with a cookie of its own makes nodes that the cluster's nodes refuse to talk to
    writeFileSync(cookieFile, options.image?.erlangCookie ?? this.cookie);
    if (options.image?.rabbitmqConf) {
      const lines = options.image.rabbitmqConf;
      writeFileSync(join(dir, 'etc/conf.d/50-image.conf'), lines.endsWith('\n') ? lines : `${lines}\n`);
    }
    chmodSync(cookieFile, 0o400);
    const offset = this.mode === 'loopback' ? index : 0;
    const amqpPort = 5672 + offset;
    const managementPort = 15672 + offset;
    const env: Record<string, string> = {
      HOME: join(dir, 'home'),
      // root runs the CLI directly: the /usr/sbin wrappers would switch to the rabbitmq user and its home
      PATH: `${RABBITMQ_BIN}:${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'}`,
      LANG: 'C.UTF-8',
      RABBITMQ_NODENAME: name,
      RABBITMQ_CONF_ENV_FILE: '/dev/null',
      RABBITMQ_CONFIG_FILE: join(dir, 'etc/rabbitmq.conf'),
      RABBITMQ_CONFIG_FILES: join(dir, 'etc/conf.d'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'etc/enabled_plugins'),
      RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(dir, 'log'),
      RABBITMQ_PID_FILE: join(dir, 'rabbit.pid'),
      WARREN_ERLANG_COOKIE_FILE: cookieFile,
      ...this.imageVariables,
    };
    if (this.mode === 'loopback') {
      Object.assign(env, {
        RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
        RABBITMQ_NODE_PORT: String(amqpPort),
        RABBITMQ_DIST_PORT: String(25672 + offset),
      });
      // conf.d is read after rabbitmq.conf, so these win over the AMI's fixed ports
      writeFileSync(
        join(dir, 'etc/conf.d/10-sandbox-ports.conf'),
        `listeners.tcp.default = 127.0.0.1:${amqpPort}\nmanagement.tcp.port = ${managementPort}\nmanagement.tcp.ip = 127.0.0.1\n`,
      );
    }
    const node: SandboxNode = { index, name, hostname, ip, dir, env, amqpPort, managementPort, root };
    if (this.mode === 'namespaces') node.namespace = await createNamespace(this.run, index, ip);
    this.nodes.push(node);
    if (this.mode === 'namespaces') {
      writeHostsFiles(
        this.nodes.map((n) => n.namespace!),
        this.nodes.map((n) => ({ ip: n.ip, hostname: n.hostname })),
      );
    }
    return node;
  }

  /** Runs a program on the node (inside its namespace) with the node's environment. */
  exec(
    node: SandboxNode,
    command: string,
    args: string[],
    options: { timeoutMs?: number; cwd?: string; env?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<ProcessResult> {
    const env = { ...node.env, ...options.env };
    const [program, argv] = !node.namespace
      ? [command, args]
      : node.root
        ? ['bash', [IN_ROOT, node.namespace, node.root, RUNS_DIR, command, ...args]]
        : ['ip', ['netns', 'exec', node.namespace, command, ...args]];
    return runProcess(program, argv as string[], { env, cwd: options.cwd, timeoutMs: options.timeoutMs ?? 120_000, signal: options.signal });
  }

  async rabbitmqctl(node: SandboxNode, args: string[]): Promise<ProcessResult> {
    return this.exec(node, 'rabbitmqctl', ['--node', node.name, ...args]);
  }

  /** rabbitmqctl --formatter json; throws when the command fails. */
  async rabbitmqctlJson<T = unknown>(node: SandboxNode, args: string[]): Promise<T> {
    const result = await this.rabbitmqctl(node, ['-q', '--formatter', 'json', ...args]);
    if (result.exitCode !== 0) throw new Error(`rabbitmqctl ${args.join(' ')} on ${node.name} failed: ${result.stderr.trim()}`);
    return JSON.parse(result.stdout) as T;
  }

  /**
   * Runs an SSM document's script on the node the way the agent does: parameters checked against
   * allowedPattern first (a refusal throws InvalidDocumentParameters and runs nothing), exported as
   * SSM_<Name>, script run by bash, output truncated to what SSM keeps.
   */
  async runDocument(node: SandboxNode, document: string, params: Record<string, string> = {}, options: { signal?: AbortSignal } = {}): Promise<ProcessResult> {
    const doc = loadDocument(document);
    const ssmEnv = parameterEnvironment(doc, params);
    const workDir = join(node.dir, 'ssm', `${++this.documentRuns}-${document}`);
    mkdirSync(workDir, { recursive: true });
    const scriptFile = join(workDir, '_script.sh');
    writeFileSync(scriptFile, doc.script, { mode: 0o700 });
    const result = await this.exec(node, 'bash', [scriptFile], { cwd: workDir, env: ssmEnv, timeoutMs: doc.timeoutSeconds * 1000, signal: options.signal });
    return { exitCode: result.exitCode, ...truncateLikeSsm(result) };
  }

  /** Declares a durable queue on the node (no AMQP client needed: the node evaluates the declare). */
  async declareQueue(node: SandboxNode, queue: string, type: 'quorum' | 'classic' | 'stream'): Promise<void> {
    if (!/^[A-Za-z0-9_.-]+$/.test(queue)) throw new Error(`queue name ${queue} is not a plain name`);
    const expression = `rabbit_amqqueue:declare(rabbit_misc:r(<<"/">>, queue, <<"${queue}">>), true, false, [{<<"x-queue-type">>, longstr, <<"${type}">>}], none, <<"warren-sandbox">>).`;
    const result = await this.rabbitmqctl(node, ['eval', expression]);
    if (result.exitCode !== 0 || !/^\{(new|existing),/.test(result.stdout.trim())) {
      throw new Error(`declaring ${queue} on ${node.name} failed: ${result.stdout}${result.stderr}`);
    }
  }

  /** Members (replicas) of each quorum queue and stream on the vhost (default "/"), as the node reports them. */
  async replicaMembers(node: SandboxNode, vhost = '/'): Promise<Record<string, string[]>> {
    const queues = await this.rabbitmqctlJson<Array<{ name: string; type: string; members?: string[] }>>(node, [
      'list_queues',
      '-p',
      vhost,
      'name',
      'type',
      'members',
    ]);
    return Object.fromEntries(queues.filter((q) => q.type === 'quorum' || q.type === 'stream').map((q) => [q.name, [...(q.members ?? [])].sort()]));
  }

  /** Starts the node's RabbitMQ from whatever data it has and waits until its app runs. */
  async startNode(node: SandboxNode, timeoutSeconds = 60): Promise<void> {
    const started = await this.exec(node, 'rabbitmq-server', ['-detached']);
    if (started.exitCode !== 0) throw new Error(`rabbitmq-server on ${node.name} failed: ${started.stderr}`);
    await this.waitRunning(node, timeoutSeconds);
  }

  async waitRunning(node: SandboxNode, timeoutSeconds = 60): Promise<void> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    for (;;) {
      const ready = await this.exec(node, 'rabbitmq-diagnostics', ['--node', node.name, '-q', 'check_running']);
      if (ready.exitCode === 0) return;
      if (Date.now() > deadline) throw new Error(`${node.name} did not start within ${timeoutSeconds}s: ${ready.stderr.trim()}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  /** Stops the whole Erlang node gracefully (the instance keeps running). */
  async stopNode(node: SandboxNode): Promise<void> {
    await this.rabbitmqctl(node, ['shutdown']);
  }

  /** Kills every process of the node at once, like an instance that vanished. */
  async killNode(node: SandboxNode): Promise<void> {
    if (node.namespace) {
      const pids = (await runProcess('ip', ['netns', 'pids', node.namespace])).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    } else {
      await this.rabbitmqctl(node, ['eval', 'erlang:halt(137).']);
    }
  }

  /** Cuts or restores the node's network (namespaces mode only). */
  async setNetwork(node: SandboxNode, up: boolean): Promise<void> {
    if (this.mode !== 'namespaces') throw new Error('network faults need namespaces mode (root)');
    await setLinkUp(this.run, node.index, up);
  }

  /** Boots a node with a fresh data dir through NodeJoin, exactly like the launch workflow does. */
  async bootWithPeers(node: SandboxNode, peers: string[], timeoutSeconds = 90): Promise<ProcessResult> {
    const result = await this.runDocument(node, 'NodeJoin', { Peers: peers.join(','), GrowQuorum: 'false', TimeoutSeconds: String(timeoutSeconds) });
    if (result.exitCode !== 0) throw new Error(`NodeJoin on ${node.name} failed: ${result.stderr.trim()}`);
    return result;
  }

  async destroy(): Promise<void> {
    for (const node of this.nodes) {
      if (node.namespace) await deleteNamespace(node.namespace);
      else await this.killNode(node).catch(() => undefined);
    }
    if (this.bridgeCreated) await deleteBridge(this.run);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A running cluster of `size` nodes: the first founds it, the rest boot in parallel with it as
 * their peer (RabbitMQ's own cluster formation joins them), the launch path the design prefers.
 */
export async function startCluster(options: ClusterOptions & { size: number }): Promise<NodeCluster> {
  const cluster = NodeCluster.create(options);
  try {
    const nodes: SandboxNode[] = [];
    for (let i = 0; i < options.size; i++) nodes.push(await cluster.addNode());
    const [founder, ...others] = nodes;
    if (founder) await cluster.bootWithPeers(founder, [founder.name]);
    await Promise.all(others.map((node) => cluster.bootWithPeers(node, [founder!.name])));
    return cluster;
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
}
