import { xoroshiro128plus } from 'pure-rand';
import { policyParamsFor } from '../../../shared/cluster/policy';
import { ConfirmedPublisher } from '../cli/confirmed-publisher';
import { type Timeline, TimelineRecorder } from '../timeline';
import { shortOutcome } from '../cli/view';
import type { RabbitMqLine } from '../nodes';
import { Sandbox, SANDBOX_ALARM_PREFIX } from '../sandbox';
import { divergence, sandboxStatus, type SandboxStatus } from '../status';
import { TrackingConsumer } from './consumer';
import { ChaosControl, INJECTED, type Violation } from './control';
import { describeFault, FAULT_KINDS, FaultPlanner, type FaultKind, type PlannedFault } from './faults';

export interface SoakOptions {
  /** at most this many rounds */
  rounds: number;
  /** stop after the round in which this many faults have taken effect */
  untilFaults?: number;
  /** control-plane faults a round (default 3) */
  controlFaults?: number;
  /** asked before each round: true ends the soak there, with the end checks and the report as usual */
  stopRequested?: () => boolean;
  seed: number;
  rabbitmq?: RabbitMqLine;
  /** starting size; scale faults keep the group between minNodes and maxNodes */
  nodes?: number;
  minNodes?: number;
  maxNodes?: number;
  /** a round that has not converged after this long is a violation, and the soak goes on */
  convergeBoundMs?: number;
  reconcileEveryMs?: number;
  log?: (line: string) => void;
}

export interface QueueResult {
  queue: string;
  type: 'quorum' | 'classic';
  /** replicated: quorum always; classic only where the HA policy mirrors it (3.x) */
  replicated: boolean;
  published: number;
  confirmed: number;
  unconfirmed: number;
  consumed: number;
  duplicates: number;
  /** confirmed and never consumed */
  missing: number;
  missingIds: number[];
  publisherReconnects: number;
  consumerReconnects: number;
}

export interface RoundRecord {
  round: number;
  faults: string[];
  /** kinds that took effect this round */
  took: FaultKind[];
  converged: boolean;
  convergeSeconds: number;
  /** why it had not converged at the bound */
  reasons?: string[];
}

export interface SoakReport {
  seed: number;
  rounds: number;
  /** true when the soak was asked to stop before its rounds or its faults were done */
  stoppedEarly: boolean;
  rabbitmq: string;
  network: string;
  startedAt: string;
  durationSeconds: number;
  /** faults drawn per kind, and those that took effect (an event, call or command was hit) */
  faults: { drawn: Record<string, number>; tookEffect: Record<string, number>; drawnTotal: number; tookEffectTotal: number };
  roundsConverged: number;
  slowestConvergence: { round: number; seconds: number };
  medianConvergenceSeconds: number;
  messages: { quorum: QueueResult; classic: QueueResult };
  violations: Violation[];
  deadLetters: Array<{ round: number; error: string; explainedBy?: string }>;
  roundLog: RoundRecord[];
  /** instances and confirmed messages over time, each round's faults marked (reports before 2026-12 lack it) */
  timeline?: Timeline;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The chaos soak: a sandbox cluster with confirmed publishers and consumers on a quorum and a classic
 * queue, faults drawn from the seed round after round, convergence and the invariants checked after
 * each, and at the end every confirmed message looked for.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const began = Date.now();
  const minNodes = options.minNodes ?? 3;
  const maxNodes = options.maxNodes ?? 5;
  const bound = options.convergeBoundMs ?? 360_000;
  const control = new ChaosControl();
  const planner = new FaultPlanner(xoroshiro128plus(options.seed), options.controlFaults);
  const sandbox = await Sandbox.start({
    nodes: options.nodes ?? 3,
    rabbitmq: options.rabbitmq,
    reconcileEveryMs: options.reconcileEveryMs ?? 45_000,
  });
  control.attach(sandbox);
  const drawn: Record<string, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0]));
  const roundLog: RoundRecord[] = [];
  const deadLetters: SoakReport['deadLetters'] = [];
  const clients: Array<{ publisher: ConfirmedPublisher; consumer: TrackingConsumer }> = [];
  const recorder = new TimelineRecorder(sandbox, () => clients.reduce((sum, { publisher }) => sum + publisher.confirmed.size, 0)).start();
  try {
    log(`sandbox: RabbitMQ ${sandbox.rabbitmq.version}, ${sandbox.mode}; waiting for ${options.nodes ?? 3} nodes`);
    const first = await sandbox.waitConverged(bound);
    for (const type of ['quorum', 'classic'] as const) {
      const queue = `chaos-${type}`;
      const publisher = new ConfirmedPublisher(first.loadBalancer.amqpUrl, queue, () => undefined, type);
      await publisher.start();
      const consumer = new TrackingConsumer(first.loadBalancer.amqpUrl, queue, type);
      consumer.start();
      clients.push({ publisher, consumer });
    }
    log(`clients: publishing with confirms and consuming on chaos-quorum and chaos-classic through ${first.loadBalancer.amqp}`);

    let tookEffect = 0;
    for (let round = 1; round <= options.rounds && tookEffect < (options.untilFaults ?? Infinity); round++) {
      if (options.stopRequested?.()) {
        log(`stopping before round ${round}, as asked`);
        break;
      }
      control.round = round;
      const desired = sandbox.group.describe().desiredCapacity;
      const plan = planner.draw(round, { desiredCapacity: desired, minCapacity: minNodes, maxCapacity: maxNodes, partitions: sandbox.mode === 'namespaces' });
      for (const fault of plan.faults) drawn[fault.kind] = (drawn[fault.kind] ?? 0) + 1;
      log(`round ${round}: ${plan.faults.map(describeFault).join(' + ')}`);
      recorder.mark(`${round}: ${plan.faults.map((fault) => fault.kind).join(' + ')}`);
      const hitsBefore = control.hits.length;
      const activitiesBefore = sandbox.group.activities.length;
      const deadBefore = sandbox.queue.deadLetters.length;
      const healsBefore = sandbox.timeline.length;
      const roundStarted = Date.now();
      const [cluster, ...controlFaults] = plan.faults as [PlannedFault, ...PlannedFault[]];
      for (const fault of controlFaults) arm(sandbox, control, fault);
      await inject(sandbox, cluster, log);
      const settledFrom = Date.now();
      await sleep(3_000);
      const outcome = await converge(sandbox, control, bound);
      const seconds = (Date.now() - settledFrom) / 1000;
      control.disarm();
      sandbox.runCommand.clearFaults();

      // the cluster fault is applied directly; a control fault counts once it hit a call, an event or a command
      const took = [...new Set([cluster.kind, ...control.hits.slice(hitsBefore).map((hit) => hit.kind)])];
      tookEffect += took.length;
      roundLog.push({
        round,
        faults: plan.faults.map(describeFault),
        took,
        converged: outcome.converged,
        convergeSeconds: seconds,
        ...(outcome.converged ? {} : { reasons: outcome.reasons }),
      });
      if (!outcome.converged)
        control.violation('running members equal InService instances', `not converged after ${Math.round(bound / 1000)} s: ${outcome.reasons.join('; ')}`);
      checkRound(sandbox, control, activitiesBefore, cluster);
      for (const letter of sandbox.queue.deadLetters.slice(deadBefore)) {
        const explainedBy = control.explain(letter.error, round);
        deadLetters.push({ round, error: letter.error, ...(explainedBy ? { explainedBy } : {}) });
        if (!explainedBy) control.violation('every DLQ entry explained', letter.error);
      }
      for (const heal of sandbox.timeline.slice(healsBefore)) {
        const at = ((heal.at - roundStarted) / 1000).toFixed(1);
        log(`    +${at} s ${heal.kind} ${heal.instanceId ?? ''} ${(heal.durationMs / 1000).toFixed(1)} s: ${shortOutcome(heal.outcome, 160)}`);
      }
      log(
        `round ${round}: ${outcome.converged ? `converged in ${seconds.toFixed(1)} s` : `NOT converged: ${outcome.reasons.join('; ')}`}; took effect: ${took.join(', ') || 'none'}`,
      );
    }

    const messages = await finishClients(sandbox, clients, log);
    const perKind: Record<string, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0]));
    for (const record of roundLog) for (const kind of record.took) perKind[kind] = (perKind[kind] ?? 0) + 1;
    const times = roundLog.map((r) => r.convergeSeconds).sort((a, b) => a - b);
    const slowest = roundLog.reduce((worst, r) => (r.convergeSeconds > worst.convergeSeconds ? r : worst), roundLog[0] ?? { round: 0, convergeSeconds: 0 });
    return {
      seed: options.seed,
      rounds: roundLog.length,
      stoppedEarly: options.stopRequested?.() ?? false,
      rabbitmq: sandbox.rabbitmq.version,
      network: sandbox.mode,
      startedAt: new Date(began).toISOString(),
      durationSeconds: Math.round((Date.now() - began) / 1000),
      faults: {
        drawn,
        tookEffect: perKind,
        drawnTotal: Object.values(drawn).reduce((a, b) => a + b, 0),
        tookEffectTotal: tookEffect,
      },
      roundsConverged: roundLog.filter((r) => r.converged).length,
      slowestConvergence: { round: slowest.round, seconds: round1(slowest.convergeSeconds) },
      medianConvergenceSeconds: round1(times[Math.floor(times.length / 2)] ?? 0),
      messages,
      violations: control.violations,
      deadLetters,
      roundLog,
      timeline: recorder.stop(),
    };
  } finally {
    for (const { publisher, consumer } of clients) {
      await publisher.stop().catch(() => undefined);
      await consumer.stop().catch(() => undefined);
    }
    await sandbox.stop();
  }
}

/** The control faults wait for the calls, events and commands the cluster fault sets in motion. */
function arm(sandbox: Sandbox, control: ChaosControl, fault: PlannedFault): void {
  switch (fault.kind) {
    case 'ssm-failure':
    case 'ssm-timeout': {
      const effect = fault.effect === 'fail' ? { kind: 'fail' as const, stderr: `${INJECTED}: ${fault.document} failed`, exitCode: 1 } : { kind: fault.effect };
      sandbox.runCommand.injectFault({
        document: fault.document,
        times: fault.times,
        effect,
        onTaken: (instanceId) => control.hits.push({ round: control.round, kind: fault.kind, what: `${fault.document} on ${instanceId}` }),
      });
      return;
    }
    case 'api-throttling':
    case 'api-5xx':
    case 'api-silent':
    case 'api-not-visible':
      control.armApiFault(fault.kind, fault.operation, fault.times);
      return;
    case 'duplicate-event':
    case 'missed-event':
      control.armEventFault({ kind: fault.kind, event: fault.event });
      return;
    case 'late-event':
      control.armEventFault({ kind: fault.kind, event: fault.event, delayMs: fault.delaySeconds * 1000 });
      return;
    default:
      throw new Error(`${fault.kind} is not a control fault`);
  }
}

function inService(sandbox: Sandbox): string[] {
  return sandbox.group
    .describe()
    .instances.filter((i) => i.lifecycleState === 'InService')
    .map((i) => i.instanceId)
    .sort();
}

async function inject(sandbox: Sandbox, fault: PlannedFault, log: (line: string) => void): Promise<void> {
  const live = inService(sandbox);
  const victim = 'victim' in fault ? live[fault.victim % live.length]! : undefined;
  switch (fault.kind) {
    case 'asg-termination':
      log(`  TerminateInstanceInAutoScalingGroup ${victim} (replaced: desired stays)`);
      sandbox.group.terminateInstance(victim!, false);
      return;
    case 'crash':
      log(`  crash ${victim}`);
      await sandbox.ec2.crash(victim!);
      return;
    case 'scale-out':
    case 'scale-in': {
      const desired = sandbox.group.describe().desiredCapacity + (fault.kind === 'scale-out' ? fault.by : -fault.by);
      log(`  SetDesiredCapacity ${desired}`);
      sandbox.group.setDesiredCapacity(desired);
      return;
    }
    case 'partition':
      log(`  cut ${victim}'s network for ${fault.cutSeconds} s`);
      await sandbox.host.setNetwork(victim!, false);
      // a reconcile tick lands during the cut: it must neither forget, join nor register the cut node
      await sleep(Math.min(5_000, fault.cutSeconds * 500));
      await sandbox.healQueue.enqueueReconcile('chaos: a tick during the partition');
      await sleep(fault.cutSeconds * 1000 - Math.min(5_000, fault.cutSeconds * 500));
      // the instance may have been replaced meanwhile (a control fault, an alarm): reconnect only what still runs
      if (sandbox.host.isAlive(victim!)) await sandbox.host.setNetwork(victim!, true);
      log(`  reconnected ${victim}`);
      return;
    case 'alarm-burst': {
      const alarms = [
        ...Array.from(
          { length: fault.nodeAlarms },
          (_, i) => () => sandbox.raiseAlarm(`${SANDBOX_ALARM_PREFIX}node-status-check`, live[(fault.victim + i) % live.length]),
        ),
        ...Array.from({ length: fault.clusterAlarms }, () => () => sandbox.raiseAlarm(`${SANDBOX_ALARM_PREFIX}cluster-partitions`)),
      ];
      log(`  ${alarms.length} alarms within a second`);
      for (const raise of alarms) {
        raise();
        await sleep(150);
      }
      return;
    }
    default:
      throw new Error(`${fault.kind} is not a cluster fault`);
  }
}

/**
 * Converged, and stays so for a second look: the sandbox's divergence (InService = desired, running
 * members = InService nodes, targets, policy, no partition, nothing queued), no lifecycle action open,
 * no late event still on its way.
 */
async function converge(sandbox: Sandbox, control: ChaosControl, boundMs: number): Promise<{ converged: boolean; reasons: string[] }> {
  const until = Date.now() + boundMs;
  const policy = policyParamsFor(sandbox.config, sandbox.rabbitmq.version).params.PolicyName;
  let reasons: string[] = [];
  let clean = 0;
  while (Date.now() < until) {
    // what the local cloud knows costs nothing; only then ask a node (each rabbitmqctl is an Erlang VM
    // start, and polling them every second would take the CPU warren needs to converge)
    const waiting = cheapDivergence(sandbox, control);
    if (waiting.length > 0) {
      reasons = waiting;
      clean = 0;
      await sleep(1_000);
      continue;
    }
    const status: SandboxStatus = await sandboxStatus(sandbox);
    const member = status.instances.find((i) => i.lifecycleState === 'InService' && status.members.running.includes(i.node ?? ''));
    if (member) await sandbox.ensureClientUser(member.id).catch(() => undefined);
    reasons = [...divergence(status, policy), ...inFlight(sandbox, control)];
    clean = reasons.length === 0 ? clean + 1 : 0;
    if (clean >= 2) return { converged: true, reasons: [] };
    await sleep(1_000);
  }
  return { converged: false, reasons };
}

/** What is still under way beyond the sandbox's own divergence: open lifecycle actions, late events. */
function inFlight(sandbox: Sandbox, control: ChaosControl): string[] {
  const reasons: string[] = [];
  const open = sandbox.group.activeActions();
  if (open.length > 0) reasons.push(`lifecycle actions open: ${open.map((a) => `${a.instanceId} ${a.transition}`).join(', ')}`);
  const late = control.lateUntil.filter((at) => at > Date.now());
  if (late.length > 0) reasons.push(`${late.length} late events still on their way`);
  return reasons;
}

/** The part of convergence the local cloud answers without asking RabbitMQ. */
function cheapDivergence(sandbox: Sandbox, control: ChaosControl): string[] {
  const reasons = inFlight(sandbox, control);
  const group = sandbox.group.describe();
  const inService = group.instances.filter((i) => i.lifecycleState === 'InService');
  if (inService.length !== group.desiredCapacity) reasons.push(`${inService.length} InService instances, desired ${group.desiredCapacity}`);
  if (sandbox.queued() > 0) reasons.push(`${sandbox.queued()} events still queued`);
  for (const { instanceId } of inService) {
    const states = [sandbox.nlb.groups.amqp.stateOf(instanceId), sandbox.nlb.groups.management.stateOf(instanceId)];
    if (states.some((state) => state !== 'healthy')) reasons.push(`${instanceId} targets ${states.join('/')}`);
  }
  return reasons;
}

/** The invariants the round's history shows: no hook left to time out, alarm bursts rate-limited. */
function checkRound(sandbox: Sandbox, control: ChaosControl, activitiesBefore: number, cluster: PlannedFault): void {
  const activities = sandbox.group.activities.slice(activitiesBefore);
  for (const activity of activities.filter((a) => /lifecycle action timed out/.test(a.cause))) {
    control.violation('no lifecycle hook left open past its work', `${activity.instanceId}: ${activity.cause}`);
  }
  if (cluster.kind === 'alarm-burst') {
    const replaced = new Set(activities.filter((a) => a.to === 'Terminating' && /SetInstanceHealth/.test(a.cause)).map((a) => a.instanceId));
    if (replaced.size > 1) control.violation('alarm repairs rate-limited', `one burst replaced ${replaced.size} instances: ${[...replaced].join(', ')}`);
  }
}

async function finishClients(
  sandbox: Sandbox,
  clients: Array<{ publisher: ConfirmedPublisher; consumer: TrackingConsumer }>,
  log: (line: string) => void,
): Promise<SoakReport['messages']> {
  const results: QueueResult[] = [];
  for (const { publisher } of clients) await publisher.stop();
  for (const { publisher, consumer } of clients) {
    const missingIds = await consumer.catchUp(publisher.confirmed, 15_000, 120_000);
    await consumer.stop();
    const type = consumer.queueType;
    const result: QueueResult = {
      queue: publisher.queue,
      type,
      replicated: type === 'quorum' || sandbox.rabbitmq.major === 3,
      published: publisher.published,
      confirmed: publisher.confirmed.size,
      unconfirmed: publisher.unconfirmed,
      consumed: consumer.seen.size,
      duplicates: consumer.duplicates,
      missing: missingIds.length,
      missingIds: missingIds.slice(0, 100),
      publisherReconnects: publisher.reconnects,
      consumerReconnects: consumer.reconnects,
    };
    log(`${publisher.queue}: confirmed ${result.confirmed}, consumed ${result.consumed} (duplicates ${result.duplicates}), missing ${result.missing}`);
    results.push(result);
  }
  return { quorum: results[0]!, classic: results[1]! };
}

const round1 = (n: number) => Math.round(n * 10) / 10;
