import type { SQSEvent } from 'aws-lambda';
import { unsafeUniformIntDistribution, xoroshiro128plus } from 'pure-rand';
import { schedulerOn, type Scheduler } from '../../infra/sandbox/cloud/scheduler';
import { healQueueOptions, LocalQueue, triageQueueOptions, type BatchFunction } from '../../infra/sandbox/queue';
import { answerTriage, type TriageWiring } from '../../shared/workflows/triage';
import { createObservability } from '../../shared/observability';
import type { HealQueue, Inventory, Lifecycle } from '../../shared/ports';
import { answerLambda, type Wiring } from '../../shared/workflows/invocation';
import { instanceEvent, type InstanceEventKind } from '../events/instance-events';
import { healQueueOnModel } from './model-heal-queue';
import { loadFixture } from '../events/load';
import { GROUP } from './config';
import { FakeCloud } from './fake-cloud';
import { deployed } from './deployed';

/**
 * An hour of an account's EC2 events on virtual time: a steady stream of the cluster's own lifecycle
 * actions (with the EC2 events of its own departures) and N events of other fleets at random times,
 * through the real invocation shell of the heal function behind the sandbox's FIFO queue, and, on the
 * new routing, the real triage workflow behind the sandbox's standard queue, over the fake cloud.
 *
 * The fake cloud answers at once; what an AWS call costs is modelled by the constants below, on the
 * calls the foreign events make (the calls of the lifecycle workflows are the same in both routings).
 */

/** Modelled latencies (ms), typical of one region; each is charged on the virtual clock. */
export const LATENCY_MS = {
  /** DescribeInstances of up to 200 ids by filter: the heal workflow's lookup, or the triage's one call per batch */
  describeInstances: 30,
  /** SendMessageBatch of up to 10 entries into the FIFO queue */
  sendMessageBatch: 15,
  /** Lambda's SQS poller handing a received batch to a warm function: before the function starts, unbilled */
  invoke: 20,
  /** the poller deleting what the function acknowledged: a FIFO group's next message waits for it, unbilled */
  deleteMessages: 10,
  /** the function's own work per invocation (parse, log lines, metrics), billed */
  handlerWork: 1,
} as const;

export type Routing = 'fifo-only' | 'triage';

export interface TrafficOptions {
  routing: Routing;
  foreignPerHour: number;
  seed: number;
  /** one lifecycle action of the group this often: launches and terminations by turns */
  lifecycleEveryMs?: number;
  durationMs?: number;
}

export interface LifecycleAction {
  instanceId: string;
  hook: 'launch' | 'terminate';
  sentAt: number;
  completedAt?: number;
  result?: 'CONTINUE' | 'ABANDON';
}

/** One function invocation: when it started, how long it was billed, and whether it served only other fleets. */
export interface Invocation {
  at: number;
  billedMs: number;
  records: number;
  foreignOnly: boolean;
}

export interface TrafficResult {
  lifecycle: LifecycleAction[];
  heal: Invocation[];
  triage: Invocation[];
  /** the group's own EC2 events: when EventBridge sent each, and when the heal function started on it */
  ownEc2: Array<{ eventId: string; sentAt: number; handledAt?: number }>;
  /** bodies that entered the cluster's FIFO group and were about other fleets' instances */
  foreignInFifo: number;
  foreignSent: number;
}

const HOUR_MS = 3_600_000;
const FOREIGN_KINDS: InstanceEventKind[] = ['shutting-down', 'terminated', 'spot-interruption', 'rebalance-recommendation'];
/** EC2's order for a departing instance of the group, after its terminate hook completed */
const DEPARTURE = [
  { state: 'shutting-down', afterMs: 2_000 },
  { state: 'terminated', afterMs: 40_000 },
] as const;

const hex = (n: number, width = 17) => n.toString(16).padStart(width, '0');

export async function runTraffic(options: TrafficOptions): Promise<TrafficResult> {
  const durationMs = options.durationMs ?? HOUR_MS;
  const lifecycleEveryMs = options.lifecycleEveryMs ?? 60_000;
  const cloud = new FakeCloud();
  const clock = cloud.clock;
  const scheduler = schedulerOn(clock);
  const start = clock.now();
  const rng = xoroshiro128plus(options.seed);
  for (const n of [1, 2, 3]) cloud.addMember(`i-0a${hex(n, 15)}`, '3.10.8', 'both');

  // another fleet of the account (EKS nodes, batch workers): about two events per instance
  const foreignIds = Array.from({ length: Math.max(1, Math.ceil(options.foreignPerHour / 2)) }, (_, n) => `i-0f${hex(n, 15)}`);
  for (const id of foreignIds) cloud.addInstance(id, 'InService').group = 'other-fleet';
  const foreign = new Set(foreignIds);
  const foreignAt = Array.from({ length: options.foreignPerHour }, () => unsafeUniformIntDistribution(0, durationMs - 1, rng)).sort((a, b) => a - b);

  const result: TrafficResult = { lifecycle: [], heal: [], triage: [], ownEc2: [], foreignInFifo: 0, foreignSent: foreignAt.length };
  const parsed = new Map<string, { id: string; instanceId: string }>();
  const factsOf = (body: string) => {
    let facts = parsed.get(body);
    if (!facts) {
      const raw = JSON.parse(body);
      facts = { id: String(raw.id), instanceId: String(raw.detail?.['instance-id'] ?? raw.detail?.EC2InstanceId ?? '') };
      parsed.set(body, facts);
    }
    return facts;
  };
  const telemetry = silentTelemetry(cloud.config.clusterName);

  const inventory: Inventory = {
    ...cloud.inventory,
    describeInstances: async (ids) => {
      await clock.sleep(LATENCY_MS.describeInstances);
      return cloud.inventory.describeInstances(ids);
    },
    groupMembersAmong: async (ids) => {
      await clock.sleep(LATENCY_MS.describeInstances);
      return cloud.inventory.groupMembersAmong(ids);
    },
  };
  const lifecycle: Lifecycle = {
    ...cloud.lifecycle,
    complete: async (ref, outcome) => {
      const answer = await cloud.lifecycle.complete(ref, outcome);
      const action = result.lifecycle.find((a) => a.instanceId === ref.instanceId && a.completedAt === undefined);
      if (answer === 'completed' && action) {
        Object.assign(action, { completedAt: clock.now() - start, result: outcome });
        if (action.hook === 'terminate') departs(ref.instanceId);
      }
      return answer;
    },
  };

  /** A Lambda invocation through its event source mapping: the poller's hand-over, the billed run, the delete. */
  const invocation = (into: Invocation[], run: (event: SQSEvent) => Promise<unknown>) => async (event: SQSEvent) => {
    await clock.sleep(LATENCY_MS.invoke);
    const started = clock.now();
    try {
      return await run(event);
    } finally {
      const foreignOnly = event.Records.every((record) => foreign.has(factsOf(record.body).instanceId));
      into.push({ at: started - start, billedMs: Math.ceil(clock.now() - started + LATENCY_MS.handlerWork), records: event.Records.length, foreignOnly });
      // the function's own work, then the poller's delete: one timer for both, the same timeline
      await clock.sleep(LATENCY_MS.handlerWork + LATENCY_MS.deleteMessages);
    }
  };

  const timeoutMs = deployed.functionTimeoutSeconds.heal! * 1000;
  let fifo: LocalQueue;
  const heal = invocation(result.heal, (event) => {
    for (const record of event.Records) {
      const { id, instanceId } = factsOf(record.body);
      if (foreign.has(instanceId)) result.foreignInFifo += 1;
      const own = result.ownEc2.find((e) => e.eventId === id && e.handledAt === undefined);
      if (own) own.handledAt = clock.now() - start;
    }
    const { log: _log, deadline: _deadline, ...ports } = cloud.deps();
    const wiring: Wiring = {
      ...ports,
      inventory,
      lifecycle,
      queue: healQueueOnModel(fifo),
      metrics: cloud.metrics,
      telemetry,
      accepts: ['launch', 'terminate', 'gone', 'interruption', 'reconcile', 'alarm', 'refresh-succeeded'],
    };
    const began = clock.now();
    return answerLambda(event, wiring, () => timeoutMs - (clock.now() - began));
  });
  fifo = new LocalQueue(scheduler, healQueueOptions(cloud.config.clusterName), heal);

  const forwardingQueue: HealQueue = new Proxy(healQueueOnModel(fifo), {
    get: (target, property, receiver) =>
      property === 'forward'
        ? async (events: Parameters<HealQueue['forward']>[0]) => {
            await clock.sleep(LATENCY_MS.sendMessageBatch * Math.ceil(events.length / 10));
            return target.forward(events);
          }
        : Reflect.get(target, property, receiver),
  });
  const triage = triageFunction(scheduler, { config: cloud.config, inventory, queue: forwardingQueue, metrics: cloud.metrics, telemetry }, (run) =>
    invocation(result.triage, run),
  );

  /** EventBridge: lifecycle actions straight into the FIFO group; EC2 events by the routing under test. */
  const sendEc2 = (event: Record<string, any>) => (options.routing === 'triage' ? triage.send(JSON.stringify(event)) : fifo.send(JSON.stringify(event)));
  let ownEvents = 0;
  function departs(instanceId: string): void {
    for (const { state, afterMs } of DEPARTURE) {
      scheduler.after(afterMs, () => {
        cloud.terminateInEc2(instanceId, state);
        ownEvents += 1;
        const event = instanceEvent(state, instanceId, `own-${ownEvents}`, clock.now());
        result.ownEc2.push({ eventId: event.id, sentAt: clock.now() - start });
        sendEc2(event);
      });
    }
  }

  const lifecycleEvent = (hook: 'launch' | 'terminate', instanceId: string, n: number) => {
    const event = loadFixture(hook === 'launch' ? 'asg-launch-lifecycle-action' : 'asg-terminate-lifecycle-action');
    Object.assign(event, { id: `lifecycle-${n}`, time: new Date(clock.now()).toISOString() });
    Object.assign(event.detail, { EC2InstanceId: instanceId, AutoScalingGroupName: GROUP, LifecycleHookName: cloud.config.lifecycleHooks[hook] });
    return event;
  };

  // scale out and in by turns; a scale-in takes the oldest InService instance, as the ASG's default policy does
  const inService = () => [...cloud.instances.values()].filter((i) => i.group === GROUP && i.lifecycle === 'InService').map((i) => i.id);
  const lifecycleStream = (async () => {
    for (let n = 0; (n + 1) * lifecycleEveryMs < durationMs; n += 1) {
      await clock.sleep(start + (n + 1) * lifecycleEveryMs - clock.now());
      const hook = n % 2 === 0 || inService().length < 2 ? 'launch' : 'terminate';
      const instanceId = hook === 'launch' ? `i-0b${hex(n, 15)}` : inService()[0]!;
      if (hook === 'launch') cloud.addLaunching(instanceId, 5_000);
      else cloud.startTerminating(instanceId);
      result.lifecycle.push({ instanceId, hook, sentAt: clock.now() - start });
      fifo.send(JSON.stringify(lifecycleEvent(hook, instanceId, n)));
    }
  })();

  const foreignStream = (async () => {
    for (const [n, at] of foreignAt.entries()) {
      if (start + at > clock.now()) await clock.sleep(start + at - clock.now());
      const kind = FOREIGN_KINDS[unsafeUniformIntDistribution(0, FOREIGN_KINDS.length - 1, rng)]!;
      const instanceId = foreignIds[unsafeUniformIntDistribution(0, foreignIds.length - 1, rng)]!;
      sendEc2(instanceEvent(kind, instanceId, `foreign-${n}`, clock.now()));
    }
  })();

  await Promise.all([lifecycleStream, foreignStream]);
  // the hour is over: what is still queued is drained, and the last departures' EC2 events are sent
  const settled = () => result.lifecycle.every((action) => action.completedAt !== undefined) && result.ownEc2.every((e) => e.handledAt !== undefined);
  // bounded: an action whose event was dead-lettered never completes, and is reported so
  do {
    await clock.sleep(DEPARTURE[DEPARTURE.length - 1]!.afterMs + deployed.triage.batchingWindowSeconds * 1000);
    await triage.idle();
    await fifo.idle();
  } while (!settled() && clock.now() - start < 24 * HOUR_MS);
  triage.stop();
  fifo.stop();
  return result;
}

/** The functions' logger reads its level when it is built: a hundred thousand invocations' lines would drown the run. */
function silentTelemetry(cluster: string) {
  const level = process.env.POWERTOOLS_LOG_LEVEL;
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  try {
    return createObservability(cluster, {});
  } finally {
    if (level === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
    else process.env.POWERTOOLS_LOG_LEVEL = level;
  }
}

/** The triage function's workflow behind its standard queue, in process; `invoke` stands for Lambda between the two. */
function triageFunction(scheduler: Scheduler, wiring: TriageWiring, invoke: (run: BatchFunction) => BatchFunction): LocalQueue {
  return new LocalQueue(
    scheduler,
    triageQueueOptions(),
    invoke((event) => answerTriage(event, wiring)),
  );
}
