import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox, SANDBOX_ALARM_PREFIX } from '../sandbox';
import { sandboxStatus, type SandboxStatus } from '../status';
import { ConfirmedPublisher } from './confirmed-publisher';
import { TimelineRecorder, timelineSvg } from '../timeline';
import { formatStatus, formatTimeline, progressPrinter, shortOutcome } from './view';

/**
 * `npm start`: the whole story on one machine. The Sandbox runs in this process (no daemon): a
 * 3-node cluster, then scale out, safe scale-in, a crash, an alarm that replaces a node, each
 * followed by convergence, while a client publishes with confirms through the local load balancer.
 * At the end every confirmed message must come back. `--keep` leaves the sandbox running.
 */

const QUEUE = 'warren-demo';
const ALARM = `${SANDBOX_ALARM_PREFIX}node-status-check`;
const CONVERGE_TIMEOUT_MS = 300_000;
const began = Date.now();
/** where the demo writes its timeline picture (ignored by git) */
const DEMO_DIR = join(__dirname, '..', '..', '..', '.warren', 'demo');
const clock = () => `+${((Date.now() - began) / 1000).toFixed(1).padStart(6)} s`;
const say = (line: string) => process.stdout.write(`[${clock()}] ${line}\n`);

/** The live view: every event the local EventBridge carries and every heal as it finishes. */
function watch(sandbox: Sandbox): () => void {
  const unsubscribe = sandbox.bus.subscribe((event) => {
    const detail = event.detail as Record<string, any>;
    const instance = detail.EC2InstanceId ?? detail['instance-id'] ?? detail.configuration?.metrics?.[0]?.metricStat?.metric?.dimensions?.InstanceId ?? '';
    const state = detail.state && typeof detail.state === 'string' ? ` ${detail.state}` : '';
    say(`event   ${event['detail-type']} ${instance}${state}`.trimEnd());
  });
  let shown = 0;
  const timer = setInterval(() => {
    for (const record of sandbox.timeline.slice(shown)) {
      say(
        `healed  ${[record.kind, record.instanceId].filter(Boolean).join(' ')} in ${(record.durationMs / 1000).toFixed(1)} s: ${shortOutcome(record.outcome)}`,
      );
    }
    shown = sandbox.timeline.length;
  }, 250);
  return () => {
    unsubscribe();
    clearInterval(timer);
  };
}

async function converge(sandbox: Sandbox, step: string): Promise<SandboxStatus> {
  const started = Date.now();
  const status = await sandbox.waitConverged(
    CONVERGE_TIMEOUT_MS,
    progressPrinter(step, (line) => process.stdout.write(`[${clock()}] waiting ${line}`)),
  );
  const inService = status.instances.filter((i) => i.lifecycleState === 'InService');
  say(
    `converged after ${step} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${inService.length} InService, running ${status.members.running.join(', ')}`,
  );
  return status;
}

/**
 * The instance whose node holds the client's connection, so each fault takes the client's node away
 * and the client must reconnect through the load balancer; any InService instance when unknown.
 */
async function clientsInstance(sandbox: Sandbox, status: SandboxStatus): Promise<string> {
  const inService = status.instances.filter((i) => i.lifecycleState === 'InService');
  for (const instance of inService) {
    // the table form, because the JSON formatter prints a pid without its node name
    const listed = await sandbox.host.rabbitmqctl(instance.id, ['-q', '--no-table-headers', 'list_connections', 'pid', 'user']).catch(() => undefined);
    if (listed?.exitCode !== 0) continue;
    const pid = listed.stdout
      .split('\n')
      .map((line) => line.split('\t'))
      .find(([, user]) => user?.trim() === sandbox.credentials.user)?.[0];
    // a connection's pid names its node: <rabbit@host.1234.5678.0>
    const node = pid?.match(/^<(.*)\.\d+\.\d+\.\d+>$/)?.[1];
    const owner = node && sandbox.host.instanceOfNode(node);
    if (owner && inService.some((i) => i.id === owner)) return owner;
    break;
  }
  return inService[inService.length - 1]!.id;
}

async function main(): Promise<void> {
  const keep = process.argv.includes('--keep');
  // the live view replaces the JSON logs; WARREN_DEMO_LOGS=1 brings them back
  if (process.env.WARREN_DEMO_LOGS !== '1') process.env.POWERTOOLS_LOG_LEVEL ??= 'CRITICAL';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

  say('starting the local cloud and a 3-node RabbitMQ cluster (the Sandbox runs in this process)');
  const sandbox = await Sandbox.start({ nodes: 3, reconcileEveryMs: 30_000 });
  say(`network mode: ${sandbox.mode === 'namespaces' ? 'network namespaces (root)' : 'loopback (not root: no namespaces)'}`);
  say(`RabbitMQ ${sandbox.rabbitmq.version}${sandbox.rabbitmqNote ? ` (${sandbox.rabbitmqNote})` : ''}`);
  const stopWatching = watch(sandbox);
  let failed = false;
  let publisher: ConfirmedPublisher | undefined;
  const recorder = new TimelineRecorder(sandbox, () => publisher?.confirmed.size ?? 0).start();
  const step = (label: string, line: string) => {
    recorder.mark(label);
    say(line);
  };
  try {
    let status = await converge(sandbox, 'boot');
    publisher = new ConfirmedPublisher(status.loadBalancer.amqpUrl, QUEUE, (reason) => say(`client  reconnecting through the load balancer (${reason})`));
    await publisher.start();
    say(`client  publishing to quorum queue ${QUEUE} with publisher confirms through ${status.loadBalancer.amqp}`);

    step('scale out to 5', 'step 1: scale out to 5 (SetDesiredCapacity 5)');
    sandbox.group.setDesiredCapacity(5);
    status = await converge(sandbox, 'scale out');

    const leaving = await clientsInstance(sandbox, status);
    step('scale in', `step 2: safe scale-in: terminate ${leaving} through the Auto Scaling group (the client's node; terminate hook runs, capacity 5 -> 4)`);
    sandbox.group.terminateInstance(leaving, true);
    status = await converge(sandbox, 'scale in');

    const crashed = await clientsInstance(sandbox, status);
    step('crash', `step 3: crash ${crashed}, the client's node (no hook runs; only EC2 reports it gone)`);
    await sandbox.ec2.crash(crashed);
    status = await converge(sandbox, 'crash');

    const failing = await clientsInstance(sandbox, status);
    step('alarm', `step 4: alarm ${ALARM} on ${failing}, the client's node: the runbook replaces the instance`);
    sandbox.raiseAlarm(ALARM, failing);
    await waitUntil(() => sandbox.group.member(failing)?.lifecycleState !== 'InService', 60_000);
    status = await converge(sandbox, 'alarm');

    await publisher.stop();
    const result = await publisher.drain();
    say(
      `client  published ${publisher.published}, confirmed ${publisher.confirmed.size}, unconfirmed ${publisher.unconfirmed}, ` +
        `reconnects ${publisher.reconnects}; consumed ${result.received} (duplicates ${result.duplicates})`,
    );
    if (result.lost.length > 0) {
      failed = true;
      say(`LOST ${result.lost.length} confirmed messages: ${result.lost.slice(0, 20).join(', ')}${result.lost.length > 20 ? ', ...' : ''}`);
    } else {
      say('no confirmed message was lost');
    }

    stopWatching();
    process.stdout.write(
      `\n${formatStatus(await sandboxStatus(sandbox))}\n\nheals (time since the demo began)\n${formatTimeline(sandbox.timeline, began)}\n\n`,
    );
  } catch (error) {
    failed = true;
    stopWatching();
    say(`the demo stopped: ${(error as Error).message}`);
  } finally {
    await publisher?.stop();
    const svg = join(DEMO_DIR, 'timeline.svg');
    mkdirSync(DEMO_DIR, { recursive: true });
    writeFileSync(svg, timelineSvg(recorder.stop(), `npm start: RabbitMQ ${sandbox.rabbitmq.version}, ${new Date(began).toISOString()}`));
    say(`timeline: ${svg} (open it in a browser)`);
  }

  if (keep) {
    const status = await sandboxStatus(sandbox);
    say(`--keep: the sandbox stays up; AMQP through the load balancer: ${status.loadBalancer.amqpUrl}`);
    say(`management: ${status.loadBalancer.managementUrl}; press Ctrl-C to tear it down`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
  say('tearing down');
  await sandbox.stop();
  say(failed ? 'done, with failures (see above)' : 'done');
  process.exit(failed ? 1 : 0);
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`nothing happened within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

void main();
