// Powertools writes straight to stdout: silenced before any logger exists (E2E_LOGS=1 keeps them for a diagnosis).
if (!process.env.E2E_LOGS) process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';

import { connect, type ChannelModel } from 'amqplib';
import type { LifecycleState } from '../../infra/sandbox/cloud/autoscaling';
import type { TargetState } from '../../shared/ports';
import { removeLeftovers, type RabbitMqLine } from '../../infra/sandbox/nodes';
import { Sandbox, type HealRecord } from '../../infra/sandbox/sandbox';
import { sandboxStatus, type SandboxStatus } from '../../infra/sandbox/status';

/**
 * What the e2e stories look at: the cluster as rabbitmqctl on a node reports it, the load balancer's
 * target states, the Auto Scaling group's lifecycle history, and traffic through the listener.
 */

export const CONVERGE_MS = 240_000;

/**
 * A sandbox with the scheduled reconcile off, so each story proves that its events alone heal; on
 * RabbitMQ 3.10 unless a story is about another release line.
 */
export async function startConverged(nodes: number, rabbitmq: RabbitMqLine = '3.10', reconcileEveryMs = 0): Promise<Sandbox> {
  await removeLeftovers();
  const sandbox = await Sandbox.start({ nodes, rabbitmq, reconcileEveryMs });
  try {
    await sandbox.waitConverged(CONVERGE_MS);
  } catch (error) {
    await sandbox.stop();
    throw error;
  }
  return sandbox;
}

/** Polls `probe` every half second until it returns a value; the bound's error carries the last observation. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, describe?: () => unknown): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= until) {
      const detail = describe ? ` (last seen: ${JSON.stringify(await describe())})` : '';
      throw new Error(`${what}: not reached within ${Math.round(timeoutMs / 1000)} s${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export function inService(sandbox: Sandbox): string[] {
  return sandbox.group
    .describe()
    .instances.filter((i) => i.lifecycleState === 'InService')
    .map((i) => i.instanceId);
}

export function nodeName(sandbox: Sandbox, instanceId: string): string {
  const node = sandbox.host.nodeOf(instanceId);
  if (!node) throw new Error(`${instanceId} never booted a node`);
  return node.name;
}

export interface ClusterSeen {
  /** disk and ram nodes: every member the cluster still lists, running or not */
  all: string[];
  running: string[];
}

/** cluster_status from the node of `instanceId`, as an operator with a shell on it would see it. */
export async function clusterSeenFrom(sandbox: Sandbox, instanceId: string): Promise<ClusterSeen> {
  const result = await sandbox.host.rabbitmqctl(instanceId, ['--formatter', 'json', 'cluster_status']);
  if (result.exitCode !== 0) throw new Error(`cluster_status on ${instanceId} failed: ${result.stderr}`);
  const parsed = JSON.parse(result.stdout) as { disk_nodes?: string[]; ram_nodes?: string[]; running_nodes?: string[] };
  return { all: [...(parsed.disk_nodes ?? []), ...(parsed.ram_nodes ?? [])].sort(), running: (parsed.running_nodes ?? []).slice().sort() };
}

export function targetStates(sandbox: Sandbox, instanceId: string): { amqp: TargetState; management: TargetState } {
  return { amqp: sandbox.nlb.groups.amqp.stateOf(instanceId), management: sandbox.nlb.groups.management.stateOf(instanceId) };
}

/** The lifecycle states the group moved the instance through, in order. */
export function lifecyclePath(sandbox: Sandbox, instanceId: string): LifecycleState[] {
  return sandbox.group.activities.filter((a) => a.instanceId === instanceId).map((a) => a.to);
}

export function healsOf(sandbox: Sandbox, instanceId: string, kind?: HealRecord['kind']): HealRecord[] {
  return sandbox.timeline.filter((h) => h.instanceId === instanceId && (kind === undefined || h.kind === kind));
}

/** Instances that were never seen before `known`: the group's launches since then. */
export function launchedSince(sandbox: Sandbox, known: ReadonlySet<string>): string[] {
  return [...new Set(sandbox.group.activities.filter((a) => a.to === 'Pending' && !known.has(a.instanceId)).map((a) => a.instanceId))];
}

export function everInstance(sandbox: Sandbox): Set<string> {
  return new Set(sandbox.group.activities.map((a) => a.instanceId));
}

/** The converged status, with the assertions every story ends on: the cluster is exactly the InService nodes. */
export async function expectConvergedCluster(sandbox: Sandbox): Promise<SandboxStatus> {
  await sandbox.waitConverged(CONVERGE_MS);
  const status = await sandboxStatus(sandbox);
  const nodes = inService(sandbox)
    .map((id) => nodeName(sandbox, id))
    .sort();
  const seen = await clusterSeenFrom(sandbox, inService(sandbox)[0]!);
  expect(seen.running).toEqual(nodes);
  expect(seen.all).toEqual(nodes);
  return status;
}

/** A connection through the load balancer's AMQP listener, as a client of the cluster. */
export async function connectThroughLoadBalancer(sandbox: Sandbox): Promise<ChannelModel> {
  const { host, port } = sandbox.nlb.endpoints().amqp;
  const { user, password } = sandbox.credentials;
  const connection = await connect({ protocol: 'amqp', hostname: host, port, username: user, password, heartbeat: 5 });
  // a node dying under the connection is expected in these stories; an unhandled 'error' would crash jest
  connection.on('error', () => undefined);
  return connection;
}

/** Seconds since `startedAt`, for the per-story durations the report lists. */
export function secondsSince(startedAt: number): number {
  return Math.round((Date.now() - startedAt) / 1000);
}

/** The heals as lines (seconds from the first), the evidence a failing story is read with. */
export function timelineText(sandbox: Sandbox | undefined): string {
  const first = sandbox?.timeline[0]?.at ?? 0;
  return (sandbox?.timeline ?? [])
    .map((h) => `+${((h.at - first) / 1000).toFixed(1)}s ${h.kind} ${h.instanceId ?? '-'} ${(h.durationMs / 1000).toFixed(1)}s ${h.outcome}`)
    .join('\n');
}

/**
 * One sandbox for a test file: started converged before the first story, each story's duration
 * recorded, the sandbox stopped and the durations and heal timeline printed at the end.
 */
export function sharedSandbox(title: string, nodes: number, use: (sandbox: Sandbox) => void, rabbitmq: RabbitMqLine = '3.10', reconcileEveryMs = 0): void {
  let sandbox: Sandbox | undefined;
  const durations: string[] = [];
  let storyStarted = 0;
  beforeAll(async () => {
    const started = Date.now();
    sandbox = await startConverged(nodes, rabbitmq, reconcileEveryMs);
    use(sandbox);
    durations.push(`start ${nodes} nodes of RabbitMQ ${sandbox.rabbitmq.version} converged: ${secondsSince(started)} s`);
  }, CONVERGE_MS + 60_000);
  beforeEach(() => {
    storyStarted = Date.now();
  });
  afterEach(() => {
    durations.push(`${expect.getState().currentTestName}: ${secondsSince(storyStarted)} s`);
  });
  afterAll(async () => {
    await sandbox?.stop();
    console.log(`${title} durations\n${durations.join('\n')}\n\ntimeline\n${timelineText(sandbox)}`);
  });
}
