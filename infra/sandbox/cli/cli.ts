import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { addOperatorCommands, roll } from '../../operate/commands';
import { NEWEST_RABBITMQ, removeLeftovers, type RabbitMqLine } from '../nodes';
import { processLives, type ProcessResult } from '../nodes/process';
import { SANDBOX_CLUSTER } from '../sandbox';
import type { SandboxStatus } from '../status';
import { callDaemon, NOT_RUNNING, runningDaemon, statePaths, type StatePaths } from './control';
import type { DaemonOptions } from './daemon';
import { integer, rabbitmqLine } from './options';
import { formatStatus, progressPrinter } from './view';

/** `warren sandbox ...`: every command but `up`, `down` and `logs` is one request to the daemon. */

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const paths = statePaths();
const collect = (value: string, previous: string[]) => [...previous, value];
const stderr = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A request to the running daemon, with the hint to start one when there is none. */
async function ask<T>(route: string, body: unknown = {}, onProgress?: (reasons: string[]) => void): Promise<T> {
  const pid = runningDaemon(paths);
  if (pid === undefined) throw new UsageError(NOT_RUNNING);
  try {
    return await callDaemon<T>(paths, route, body, onProgress);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      throw new UsageError(
        `the sandbox daemon (pid ${pid}) does not answer on ${paths.socket}: look at \`npx warren sandbox logs\`, or remove it with \`npx warren sandbox down\``,
      );
    }
    throw error;
  }
}

function printStatus(status: SandboxStatus, json: boolean): void {
  process.stdout.write(json ? `${JSON.stringify(status, null, 2)}\n` : `${formatStatus(status)}\n`);
}

function logTail(p: StatePaths, lines = 20): string {
  return existsSync(p.log) ? readFileSync(p.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(no log)';
}

async function up(options: {
  nodes: number;
  network?: string;
  rabbitmq?: RabbitMqLine;
  amqpPort?: number;
  managementPort?: number;
  tls?: boolean;
  json?: boolean;
  timeout: number;
}): Promise<void> {
  const running = runningDaemon(paths);
  if (running !== undefined) throw new UsageError(`a sandbox is already running (daemon pid ${running}): stop it with \`npx warren sandbox down\``);
  const isRoot = process.getuid?.() === 0;
  if (options.network === 'netns' && !isRoot) throw new UsageError('--network netns needs root (network namespaces); run as root or use --network loopback');
  if (options.rabbitmq !== undefined && options.rabbitmq !== '3.10' && (!isRoot || options.network === 'loopback')) {
    throw new UsageError(`--rabbitmq ${options.rabbitmq} runs nodes chrooted in network namespaces: it needs root and --network netns`);
  }
  const network = options.network === 'loopback' || !isRoot ? 'loopback' : 'namespaces';
  if (existsSync(paths.dir)) {
    // a daemon that died leaves its state dir and, perhaps, nodes behind
    const removed = await removeLeftovers();
    rmSync(paths.dir, { recursive: true, force: true });
    stderr(`removed what an earlier sandbox left behind${removed.length ? ` (runs ${removed.join(', ')})` : ''}`);
  }
  mkdirSync(paths.dir, { recursive: true });
  stderr(
    network === 'namespaces'
      ? `network: namespaces (running as root): each instance gets its own network namespace and private IP`
      : `network: loopback${isRoot ? '' : ' (not root)'}: nodes share 127.0.0.1 on distinct ports; partition/reconnect are unavailable`,
  );
  const daemonOptions: DaemonOptions = {
    nodes: options.nodes,
    network,
    // loopback mode can only run the host's own RabbitMQ
    rabbitmq: options.rabbitmq ?? (network === 'loopback' ? '3.10' : undefined),
    amqpPort: options.amqpPort,
    managementPort: options.managementPort,
    tls: options.tls === true,
    convergeTimeoutMs: options.timeout * 1000,
  };
  const log = openSync(paths.log, 'a');
  const env: NodeJS.ProcessEnv = { ...process.env, WARREN_SANDBOX_DIR: paths.dir };
  // EMF documents would drown the log in metric lines nobody reads locally
  if (process.env.WARREN_SANDBOX_METRICS !== '1') env.POWERTOOLS_METRICS_DISABLED = 'true';
  const daemon = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), join(__dirname, 'daemon.ts'), JSON.stringify(daemonOptions)], {
    detached: true,
    stdio: ['ignore', log, log],
    env,
  });
  closeSync(log);
  let exited: number | null | undefined;
  daemon.on('exit', (code) => (exited = code));
  daemon.unref();
  stderr(`booting ${options.nodes} instances (daemon pid ${daemon.pid}, log ${paths.log})`);
  const deadline = Date.now() + 30_000;
  while (!existsSync(paths.socket)) {
    if (exited !== undefined) throw new UsageError(`the sandbox daemon exited (code ${exited}) before it was ready:\n${logTail(paths)}`);
    if (Date.now() > deadline) throw new UsageError(`the sandbox daemon did not open ${paths.socket} within 30 s:\n${logTail(paths)}`);
    await sleep(100);
  }
  let status: SandboxStatus;
  try {
    status = await callDaemon<SandboxStatus>(paths, '/ready', {}, progressPrinter('up'));
  } catch (error) {
    const alive = runningDaemon(paths) !== undefined;
    throw new UsageError(
      alive
        ? `${(error as Error).message}\nthe sandbox is still running so you can look: \`npx warren sandbox status\`, \`npx warren sandbox logs\`; remove it with \`npx warren sandbox down\``
        : `${(error as Error).message}\nthe sandbox daemon stopped; last log lines:\n${logTail(paths)}`,
    );
  }
  stderr(
    `RabbitMQ ${status.rabbitmq}${options.rabbitmq === undefined && !status.rabbitmq.startsWith(NEWEST_RABBITMQ) && network === 'namespaces' ? ` (RabbitMQ ${NEWEST_RABBITMQ} is not available here: \`npx warren sandbox logs\` says why)` : ''}`,
  );
  stderr(`converged: ${status.instances.filter((i) => i.lifecycleState === 'InService').length} instances InService, running members and healthy targets`);
  printStatus(status, options.json === true);
}

async function down(): Promise<void> {
  const pid = runningDaemon(paths);
  if (pid !== undefined) {
    stderr(`stopping the sandbox (daemon pid ${pid})`);
    try {
      await callDaemon(paths, '/down');
    } catch (error) {
      stderr(`the daemon did not stop cleanly (${(error as Error).message}); ending it`);
      process.kill(pid, 'SIGTERM');
    }
    if (!(await exited(pid, 60_000))) {
      stderr(`daemon pid ${pid} still lives after 60 s; killing it`);
      process.kill(pid, 'SIGKILL');
      await exited(pid, 5_000);
    }
  }
  // the daemon removes its own nodes; this covers a daemon that crashed or was killed
  const removed = await removeLeftovers();
  rmSync(paths.dir, { recursive: true, force: true });
  if (pid === undefined) stderr(`no sandbox was running${removed.length ? `; removed leftovers of runs ${removed.join(', ')}` : ''}`);
  stderr(`removed ${paths.dir}`);
}

async function exited(pid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!processLives(pid)) return true;
    await sleep(200);
  }
  return false;
}

async function logs(options: { follow?: boolean }): Promise<void> {
  if (!existsSync(paths.log)) throw new UsageError(`no daemon log at ${paths.log}: ${NOT_RUNNING}`);
  let offset = 0;
  const drain = () => {
    const size = statSync(paths.log).size;
    if (size <= offset) return;
    const fd = openSync(paths.log, 'r');
    const buffer = Buffer.alloc(size - offset);
    readSync(fd, buffer, 0, buffer.length, offset);
    closeSync(fd);
    offset = size;
    process.stdout.write(buffer);
  };
  drain();
  while (options.follow && existsSync(paths.log)) {
    await sleep(500);
    drain();
  }
}

async function readEvent(source: string): Promise<Record<string, unknown>> {
  let text: string;
  if (source === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    if (!existsSync(source)) throw new UsageError(`no such file: ${source}`);
    text = readFileSync(source, 'utf8');
  }
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the event is not JSON: ${(error as Error).message}`);
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) throw new UsageError('an EventBridge event is one JSON object');
  return event as Record<string, unknown>;
}

export function program(): Command {
  const warren = new Command('warren').description('warren: keeps a RabbitMQ cluster in an EC2 Auto Scaling group healthy').showHelpAfterError();
  const sandbox = warren.command('sandbox').description('the local sandbox: real RabbitMQ nodes in a local model of EC2, Auto Scaling, SSM and an NLB');
  const print = (value: unknown): void => {
    process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value)}\n`);
  };

  sandbox
    .command('up')
    .description('start the sandbox in the background; returns once every instance is InService, a running member and a healthy target')
    .option('--nodes <n>', 'instances in the Auto Scaling group', integer(1, 9), 3)
    .option('--network <mode>', 'netns (root: one network namespace per instance) or loopback')
    .option(
      '--rabbitmq <line>',
      'RabbitMQ 3.10 (Debian 12: 3.10.8), 4.0 (Debian 13: 4.0.5) or 4.3 (Debian 14: 4.3.6; their roots built once into .warren/roots); default: the newest available',
      rabbitmqLine,
    )
    .option('--amqp-port <port>', 'the load balancer AMQP listener port (0: any free port)', integer(0, 65535))
    .option('--management-port <port>', 'the load balancer management listener port (0: any free port)', integer(0, 65535))
    .option('--tls', 'also TLS listeners (amqps://, https://) with a generated certificate; status shows their CA file')
    .option('--timeout <seconds>', 'how long to wait for convergence', integer(1, 3600), 300)
    .option('--json', 'print the status as JSON')
    .action(async (options) => {
      if (options.network !== undefined && !['netns', 'loopback'].includes(options.network)) throw new UsageError('--network is netns or loopback');
      await up(options);
    });
  sandbox
    .command('status')
    .description('instances, cluster members, load balancer addresses, desired capacity')
    .option('--json', 'print the status contract as JSON')
    .action(async (options) => printStatus(await ask<SandboxStatus>('/status'), options.json === true));
  sandbox
    .command('scale <n>')
    .description("set the Auto Scaling group's desired capacity")
    .action(async (n: string) => print(`desired capacity ${await ask('/scale', { capacity: integer(0, 100)(n) })}; follow with \`npx warren sandbox wait\``));
  sandbox
    .command('terminate <id>')
    .description('TerminateInstanceInAutoScalingGroup: the terminate hook runs and a replacement launches')
    .option('--decrement', 'shrink the desired capacity instead of replacing the instance')
    .action(async (id: string, options) => print(`${id}: ${await ask('/terminate', { id, decrement: options.decrement === true })}`));
  sandbox
    .command('crash <id>')
    .description('the machine dies at once: no hook, only the EC2 state-change event')
    .action(async (id: string) => print(`${id}: ${await ask('/crash', { id })}`));
  sandbox
    .command('partition <id>')
    .description("cut the instance's network (it keeps running)")
    .action(async (id: string) => print(`${id}: ${await ask('/network', { id, up: false })}`));
  sandbox
    .command('reconnect <id>')
    .description("restore the instance's network")
    .action(async (id: string) => print(`${id}: ${await ask('/network', { id, up: true })}`));
  sandbox
    .command('alarm <name>')
    .description('a CloudWatch alarm state change to ALARM (names warren-sandbox-node-* replace the instance, warren-sandbox-cluster-* reconcile)')
    .option('--instance <id>', 'the InstanceId dimension of the alarm metric')
    .action(async (name: string, options) => print(`event ${await ask('/alarm', { name, instance: options.instance })}`));
  sandbox
    .command('event <file>')
    .description('deliver a raw EventBridge event (a JSON file, or - for stdin) exactly as EventBridge would')
    .action(async (file: string) => print(`delivered ${(await ask('/event', { event: await readEvent(file) })) ?? '(event without id)'}`));
  sandbox
    .command('exec <id> <command...>')
    .description('run a command on the instance with its login environment, e.g. exec i-... -- rabbitmqctl cluster_status')
    .action(async (id: string, command: string[]) => {
      const [program, ...args] = command;
      const result = await ask<ProcessResult>('/exec', { id, command: program, args });
      process.stdout.write(result.stdout);
      process.stderr.write(result.stderr);
      process.exitCode = result.exitCode;
    });
  sandbox.command('logs').description("the daemon's log (Powertools JSON lines)").option('-f, --follow', 'keep printing new lines').action(logs);
  sandbox
    .command('wait')
    .description('exit 0 once converged; otherwise non-zero with the reasons')
    .option('--timeout <seconds>', 'how long to wait', integer(1, 3600), 300)
    .action(async (options) => {
      await ask('/wait', { timeoutMs: options.timeout * 1000 }, progressPrinter('wait'));
      print('converged');
    });
  sandbox
    .command('roll')
    .description('`warren roll` against the sandbox: every instance replaced, one at a time, by an image with a changed node setting')
    .option('--launch-template-change <line>', 'a rabbitmq.conf line the new image adds, e.g. "channel_max = 1024" (repeatable)', collect, [])
    .option('--broken', 'an image whose nodes cannot join (another Erlang cookie): the refresh fails and rolls back')
    .option('--dry-run', 'print the requests and why; send nothing')
    .option('--json', 'print JSON')
    .action(async (options: { launchTemplateChange: string[]; broken?: boolean; dryRun?: boolean; json?: boolean }) => {
      const { aws } = await ask<SandboxStatus>('/status');
      const changed = options.launchTemplateChange.length > 0 || options.broken === true;
      const imageId = changed ? await ask<string>('/image', { rabbitmqConf: options.launchTemplateChange, broken: options.broken === true }) : undefined;
      // the sandbox's account, as the AWS CLI would be pointed at it
      process.env.AWS_ACCESS_KEY_ID = aws.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = aws.secretAccessKey;
      await roll({
        cluster: SANDBOX_CLUSTER,
        region: aws.region,
        endpointUrl: aws.endpoint,
        timeout: 120,
        imageId,
        dryRun: options.dryRun,
        json: options.json,
      });
    });
  sandbox.command('down').description('stop the sandbox and remove everything it created (also after the daemon crashed)').action(down);
  addOperatorCommands(warren);
  return warren;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (error) {
    stderr(`warren: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}

if (require.main === module) void main();
