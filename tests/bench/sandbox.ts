// Powertools writes to stdout: silenced before the sandbox creates its logger (the table goes there).
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeLeftovers, type SandboxNode } from '../../infra/sandbox/nodes';
import { Sandbox, type HealRecord } from '../../infra/sandbox/sandbox';
import { DETAIL_TYPES, SOURCES } from '../../shared/events';
import { figure, goal, type Figure, type Goal, type Section } from './figures';

/**
 * Healing on real RabbitMQ nodes in the sandbox, each figure next to its floor measured in the same
 * run on the same cluster: a bare node booted with the same peer list at the moment of the launch
 * event (RabbitMQ's own peer discovery), and a bare forget_cluster_node.
 */

const SECTION = 'sandbox';
const CONVERGE_MS = 300_000;

interface LaunchSample {
  instanceId: string;
  /** the launch event → NodeJoin ended with a verified member (policy applied, replicas grown) */
  launchToMemberMs: number;
  /** the bare node: rabbitmq-server started → "Server startup complete" (a running member) */
  floorMs: number;
  registrationToHealthyMs: number;
  eventToHookCompletedMs: number;
  /** the bare node, stopped afterwards: its forget is the floor of the cleanup figure */
  floorNode: string;
}

const now = () => Date.now();

/** The node's own log says when it was a running member: no polling in the floor's figure. */
async function startupCompleteAt(node: SandboxNode, timeoutMs: number): Promise<number> {
  const file = join(node.dir, 'log', `${node.name}.log`);
  const until = now() + timeoutMs;
  for (;;) {
    const line = existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .find((l) => l.includes('Server startup complete'))
      : undefined;
    const stamp = line?.match(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3})\d*([+-]\d\d:\d\d)/);
    if (stamp) return Date.parse(`${stamp[1]}T${stamp[2]}${stamp[3]}`);
    if (now() > until) throw new Error(`${node.name} did not log its startup within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function runningMembers(sandbox: Sandbox): string[] {
  return sandbox.group
    .describe()
    .instances.filter((i) => i.lifecycleState === 'InService')
    .map((i) => sandbox.host.nodeOf(i.instanceId)!.name);
}

function activityAt(sandbox: Sandbox, instanceId: string, to: string): number | undefined {
  return sandbox.group.activities.find((a) => a.instanceId === instanceId && a.to === to)?.at;
}

function joinEndedAt(sandbox: Sandbox, instanceId: string): number {
  const sent = sandbox.runCommand.sent.filter((c) => c.DocumentName.endsWith('NodeJoin') && c.InstanceIds.includes(instanceId));
  const ends = sent
    .map((c) => sandbox.runCommand.getCommandInvocation(c.CommandId, instanceId))
    .filter((i) => i.Status === 'Success')
    .map((i) => i.ExecutionEndDateTime!);
  if (ends.length === 0) throw new Error(`no successful NodeJoin on ${instanceId}`);
  return Math.min(...ends);
}

/** Resolves with the instance and the moment of the next launch lifecycle event of an instance not in `known`. */
function nextLaunchEvents(sandbox: Sandbox, known: ReadonlySet<string>, count: number): Promise<Array<{ instanceId: string; at: number }>> {
  return new Promise((resolve) => {
    const seen: Array<{ instanceId: string; at: number }> = [];
    const off = sandbox.bus.subscribe((event) => {
      const id = (event.detail as { EC2InstanceId?: string }).EC2InstanceId;
      if (event['detail-type'] !== DETAIL_TYPES.launchLifecycleAction || !id || known.has(id) || seen.some((s) => s.instanceId === id)) return;
      seen.push({ instanceId: id, at: now() });
      if (seen.length === count) {
        off();
        resolve(seen);
      }
    });
  });
}

/** Both target groups healthy for the instance: the first registration and the moment both were healthy. */
function watchTargets(sandbox: Sandbox, instanceId: string): { registeredAt?: number; healthyAt?: number; stop: () => void } {
  const watch: { registeredAt?: number; healthyAt?: number; stop: () => void } = { stop: () => undefined };
  const healthy = new Set<string>();
  const offs = (['amqp', 'management'] as const).map((key) =>
    sandbox.nlb.groups[key].onChange((change) => {
      if (change.instanceId !== instanceId) return;
      if (change.to === 'initial') watch.registeredAt ??= now();
      if (change.to === 'healthy') healthy.add(key);
      if (healthy.size === 2) watch.healthyAt ??= now();
    }),
  );
  watch.stop = () => {
    for (const off of offs) off();
  };
  return watch;
}

/** One more instance, and at the moment of its launch event a bare node booted with the same peers. */
async function launchPair(sandbox: Sandbox): Promise<LaunchSample> {
  const known = new Set(sandbox.group.activities.map((a) => a.instanceId));
  const peers = runningMembers(sandbox);
  const floor = await sandbox.host.cluster.addNode();
  writeFileSync(
    join(floor.dir, 'etc/conf.d/90-warren-peers.conf'),
    ['cluster_formation.peer_discovery_backend = classic_config', ...peers.map((p, i) => `cluster_formation.classic_config.nodes.${i + 1} = ${p}`), ''].join(
      '\n',
    ),
  );
  const launched = nextLaunchEvents(sandbox, known, 1);
  sandbox.group.setDesiredCapacity(sandbox.group.describe().desiredCapacity + 1);
  const [{ instanceId, at: eventAt }] = (await launched) as [{ instanceId: string; at: number }];
  const targets = watchTargets(sandbox, instanceId);
  const floorStarted = now();
  const started = await sandbox.host.cluster.exec(floor, 'rabbitmq-server', ['-detached']);
  if (started.exitCode !== 0) throw new Error(`the floor node did not start: ${started.stderr}`);
  const floorMs = (await startupCompleteAt(floor, 120_000)) - floorStarted;
  // not waitConverged: the floor node is a member outside the group until it stops below
  await waitUntil(`${instanceId} InService`, () => activityAt(sandbox, instanceId, 'InService') !== undefined && targets.healthyAt !== undefined);
  targets.stop();
  // the floor node leaves cleanly; forgetting it is the bare forget_cluster_node of the cleanup figure
  await sandbox.host.cluster.stopNode(floor);
  await sandbox.host.cluster.killNode(floor);
  return {
    instanceId,
    launchToMemberMs: joinEndedAt(sandbox, instanceId) - eventAt,
    floorMs,
    registrationToHealthyMs: (targets.healthyAt ?? Number.NaN) - (targets.registeredAt ?? Number.NaN),
    eventToHookCompletedMs: (activityAt(sandbox, instanceId, 'Pending:Proceed') ?? Number.NaN) - eventAt,
    floorNode: floor.name,
  };
}

async function waitUntil(what: string, done: () => boolean): Promise<void> {
  const until = now() + CONVERGE_MS;
  while (!done()) {
    if (now() > until) throw new Error(`${what}: not reached within ${CONVERGE_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** forget_cluster_node of a node the cluster already sees stopped, as an operator would type it. */
async function bareForgetMs(sandbox: Sandbox, node: string): Promise<number> {
  const member = sandbox.group.describe().instances.find((i) => i.lifecycleState === 'InService')!.instanceId;
  const started = now();
  const result = await sandbox.host.rabbitmqctl(member, ['forget_cluster_node', node]);
  const ms = now() - started;
  if (result.exitCode !== 0) throw new Error(`forget_cluster_node ${node} failed: ${result.stderr}`);
  return ms;
}

/** A crash: from EC2's terminated state-change event to the gone heal that forgot the node. */
async function cleanupMs(sandbox: Sandbox, instanceId: string): Promise<number> {
  const terminated = new Promise<number>((resolve) => {
    const off = sandbox.bus.subscribe((event) => {
      const detail = event.detail as { 'instance-id'?: string; state?: string };
      if (event['detail-type'] === DETAIL_TYPES.instanceStateChange && detail['instance-id'] === instanceId && detail.state === 'terminated') {
        off();
        resolve(now());
      }
    });
  });
  await sandbox.ec2.crash(instanceId);
  const eventAt = await terminated;
  const until = now() + CONVERGE_MS;
  for (;;) {
    const forgot = sandbox.timeline.find((h) => h.kind === 'gone' && h.instanceId === instanceId && h.at + h.durationMs >= eventAt && h.outcome === 'acted');
    if (forgot) return forgot.at + forgot.durationMs - eventAt;
    if (now() > until) throw new Error(`${instanceId} was not forgotten: ${JSON.stringify(sandbox.timeline.filter((h) => h.instanceId === instanceId))}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** From the first launch event of the batch to the last new instance InService (verified, healthy, hook done). */
async function scaleOutMs(sandbox: Sandbox, to: number): Promise<number> {
  const known = new Set(sandbox.group.activities.map((a) => a.instanceId));
  const adding = to - sandbox.group.describe().desiredCapacity;
  const launched = nextLaunchEvents(sandbox, known, adding);
  sandbox.group.setDesiredCapacity(to);
  const events = await launched;
  await sandbox.waitConverged(CONVERGE_MS);
  const inService = events.map((e) => activityAt(sandbox, e.instanceId, 'InService') ?? Number.NaN);
  return Math.max(...inService) - Math.min(...events.map((e) => e.at));
}

async function scaleInTo(sandbox: Sandbox, size: number): Promise<void> {
  sandbox.group.setDesiredCapacity(size);
  await sandbox.waitConverged(CONVERGE_MS);
}

/**
 * SSM commands each heal sent, attributed by the heal's own time window (the FIFO queue runs one heal
 * at a time). A launch heal may join a batch: each instance that got a NodeJoin in the window counts the
 * commands sent to it, and "elsewhere" the commands to instances outside the batch.
 */
function commandsOfHeal(sandbox: Sandbox, heal: HealRecord): { perNode: number[]; elsewhere: number } {
  const inWindow = sandbox.runCommand.sent.filter((c) => c.RequestedDateTime >= heal.at && c.RequestedDateTime <= heal.at + heal.durationMs);
  const nodes =
    heal.kind === 'launch'
      ? [...new Set(inWindow.filter((c) => c.DocumentName.endsWith('NodeJoin')).flatMap((c) => c.InstanceIds))]
      : heal.instanceId !== undefined
        ? [heal.instanceId]
        : [];
  const perNode = nodes.map((id) => inWindow.filter((c) => c.InstanceIds.includes(id)).length);
  const elsewhere = inWindow.filter((c) => !c.InstanceIds.some((id) => nodes.includes(id))).length;
  return { perNode, elsewhere };
}

export const sandboxHealing: Section = async ({ runs, quick, rabbitmq, log }) => {
  await removeLeftovers();
  const started = now();
  const sandbox = await Sandbox.start({ nodes: 3, rabbitmq, reconcileEveryMs: 0 });
  const samples: Array<LaunchSample & { bareForgetMs: number; cleanupMs: number; scaleOutMs: number }> = [];
  const scaleTo = quick ? 5 : 7;
  // the founding boot is not measured: its first node founds the cluster (one more command)
  let measuredFrom = Number.POSITIVE_INFINITY;
  try {
    await sandbox.waitConverged(CONVERGE_MS);
    measuredFrom = now();
    log(`3 nodes of RabbitMQ ${sandbox.rabbitmq.version} converged in ${Math.round((now() - started) / 1000)} s`);
    for (let run = 1; run <= runs; run++) {
      const launch = await launchPair(sandbox);
      const bare = await bareForgetMs(sandbox, launch.floorNode);
      const cleanup = await cleanupMs(sandbox, launch.instanceId);
      // the group replaces the crashed instance; back to 3, then 3 -> scaleTo at once, then back again
      await scaleInTo(sandbox, 3);
      const scaleOut = await scaleOutMs(sandbox, scaleTo);
      await scaleInTo(sandbox, 3);
      samples.push({ ...launch, bareForgetMs: bare, cleanupMs: cleanup, scaleOutMs: scaleOut });
      log(
        `run ${run}: launch→member ${(launch.launchToMemberMs / 1000).toFixed(1)} s (floor ${(launch.floorMs / 1000).toFixed(1)} s), ` +
          `cleanup ${(cleanup / 1000).toFixed(1)} s (bare forget ${(bare / 1000).toFixed(1)} s), scale-out 3→${scaleTo} ${(scaleOut / 1000).toFixed(1)} s`,
      );
    }
    // one reconcile, to count its commands like the other heals'
    const reconciles = sandbox.timeline.filter((h) => h.kind === 'reconcile').length;
    sandbox.bus.publish(
      SOURCES.schedule,
      DETAIL_TYPES.scheduledEvent,
      [`arn:aws:events:${sandbox.bus.region}:${sandbox.bus.account}:rule/warren-reconcile`],
      {},
    );
    await waitUntil('the reconcile ran', () => sandbox.timeline.filter((h) => h.kind === 'reconcile').length > reconciles);
  } finally {
    await sandbox.stop();
  }

  const figures: Figure[] = [];
  const goals: Goal[] = [];
  const ms = (values: number[]) => values;
  const pick = <K extends keyof (typeof samples)[number]>(key: K) => samples.map((s) => s[key] as number);
  figures.push(
    figure(SECTION, 'launch event → verified member (policy applied)', 'ms', ms(pick('launchToMemberMs'))),
    figure(SECTION, 'floor: bare node booted with the peer list → member', 'ms', ms(pick('floorMs'))),
    figure(
      SECTION,
      'registration → healthy in both target groups',
      'ms',
      ms(pick('registrationToHealthyMs')),
      'bound by the health check: 1 s interval, 2 passes',
    ),
    figure(SECTION, 'launch event → hook completed (CONTINUE)', 'ms', ms(pick('eventToHookCompletedMs'))),
    figure(SECTION, `scale-out 3 → ${scaleTo}: first launch event → last InService`, 'ms', ms(pick('scaleOutMs'))),
    figure(SECTION, 'crash: terminated event → node forgotten', 'ms', ms(pick('cleanupMs'))),
    figure(SECTION, 'floor: bare forget_cluster_node', 'ms', ms(pick('bareForgetMs'))),
  );
  const launchRatios = samples.map((s) => s.launchToMemberMs / s.floorMs);
  const scaleRatios = samples.map((s) => s.scaleOutMs / s.launchToMemberMs);
  const cleanupRatios = samples.map((s) => s.cleanupMs / s.bareForgetMs);
  figures.push(
    figure(SECTION, 'launch→member / floor (pair by pair)', 'ratio', launchRatios),
    figure(SECTION, `scale-out 3→${scaleTo} / single launch→member`, 'ratio', scaleRatios),
    figure(SECTION, 'cleanup / bare forget', 'ratio', cleanupRatios),
  );
  goals.push(
    goal(
      SECTION,
      'launch to member <= 1.15 x peer discovery',
      1.15,
      launchRatios,
      'see docs/performance.md: the NodeJoin verification and policy calls after boot',
    ),
    goal(SECTION, `scale-out 3→${scaleTo} <= 1.5 x single launch`, 1.5, scaleRatios, 'see docs/performance.md'),
    goal(SECTION, 'cleanup <= 2 x bare forget', 2, cleanupRatios, 'see docs/performance.md: each rabbitmqctl call costs a CLI start'),
  );

  const heals = sandbox.timeline.filter((h) => h.at >= measuredFrom);
  // the limits: a launch at most 1 on the new node and 1 elsewhere; the others in all
  const totalLimits = { terminate: 2, gone: 1, reconcile: 1 } as const;
  for (const kind of ['launch', 'terminate', 'gone', 'reconcile'] as const) {
    // a repeated lifecycle event that finds its action completed is a no-op, not a heal
    const counted = heals
      .filter((h) => h.kind === kind && !h.outcome.startsWith('skipped') && !h.outcome.includes('lifecycle action already completed'))
      .map((h) => commandsOfHeal(sandbox, h));
    if (counted.length === 0) continue;
    const perNode = counted.flatMap((c) => c.perNode);
    const elsewhere = counted.map((c) => c.elsewhere);
    if (perNode.length > 0) figures.push(figure(SECTION, `SSM commands per ${kind}: on the node`, 'commands', perNode));
    figures.push(figure(SECTION, `SSM commands per ${kind}: elsewhere`, 'commands', elsewhere));
    if (kind === 'launch') {
      goals.push(goal(SECTION, 'SSM commands per launch on the new node <= 1 (max)', 1, [Math.max(...perNode)]));
      goals.push(goal(SECTION, 'SSM commands per launch elsewhere <= 1 (max)', 1, [Math.max(...elsewhere)]));
    } else {
      const totals = counted.map((c) => c.perNode.reduce((a, b) => a + b, 0) + c.elsewhere);
      goals.push(goal(SECTION, `SSM commands per ${kind} <= ${totalLimits[kind]} (max)`, totalLimits[kind], [Math.max(...totals)]));
    }
  }
  return { figures, goals };
};
