import { deployed } from '../support/deployed';
import { LATENCY_MS, runTraffic, type Routing, type TrafficResult } from '../support/event-traffic';
import { figure, goal, type Figure, type Goal, type Section } from './figures';

/**
 * What other fleets' EC2 events cost the cluster, on virtual time (no real node, seconds to run): an
 * hour with N foreign events at random times (seeded by the run) beside a steady stream of the group's
 * own lifecycle actions, through the old routing (every EC2 event into the cluster's FIFO group, each
 * a heal invocation with its DescribeInstances) and the new one (the triage step's batches; foreign
 * events never reach the FIFO group). The AWS calls' latencies are the named constants of
 * tests/support/event-traffic.ts (LATENCY_MS).
 */

const SECTION = 'event-isolation';
const RATES = [1_000, 10_000, 100_000];
const QUICK_RATES = [1_000];
/** the goals: foreign events add at most this to any lifecycle action, and cost at most this share of a heal invocation each */
const MAX_ADDED_P99_S = 1;
const MAX_COST_PER_EVENT_IN_HEAL_INVOCATIONS = 0.1;

const ROUTINGS: Record<Routing, string> = { 'fifo-only': 'old (FIFO only)', triage: 'new (triage)' };

/** Nearest rank; an action never completed counts as infinitely late. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const latencies = (run: TrafficResult) =>
  run.lifecycle.map((action) => (action.completedAt === undefined ? Number.POSITIVE_INFINITY : action.completedAt - action.sentAt));
const billed = (invocations: TrafficResult['heal']) => invocations.reduce((sum, invocation) => sum + invocation.billedMs, 0);

interface RunFigures {
  addedP50Ms: number;
  addedP99Ms: number;
  healOnForeign: number;
  healOnForeignBilledS: number;
  notContinued: number;
  ownEc2P99Ms: number;
  triageInvocations: number;
  triageBilledMs: number;
}

/** One routing at one rate against the same seed's quiet hour: what the foreign events added. */
function compare(quiet: TrafficResult, busy: TrafficResult): RunFigures {
  const base = latencies(quiet);
  const added = latencies(busy).map((latency, n) => latency - (base[n] ?? 0));
  const foreignHeals = busy.heal.filter((invocation) => invocation.foreignOnly);
  return {
    addedP50Ms: percentile(added, 50),
    addedP99Ms: percentile(added, 99),
    healOnForeign: foreignHeals.length,
    healOnForeignBilledS: billed(foreignHeals) / 1000,
    notContinued: busy.lifecycle.filter((action) => action.result !== 'CONTINUE').length,
    ownEc2P99Ms: percentile(
      busy.ownEc2.map((event) => (event.handledAt ?? Number.POSITIVE_INFINITY) - event.sentAt),
      99,
    ),
    triageInvocations: busy.triage.length - quiet.triage.length,
    triageBilledMs: billed(busy.triage) - billed(quiet.triage),
  };
}

export const eventIsolation: Section = async ({ runs, quick, log }) => {
  const rates = quick ? QUICK_RATES : RATES;
  const figures: Figure[] = [];
  const goals: Goal[] = [];
  const perRun = new Map<string, RunFigures[]>();
  const healBilledPerForeignEvent: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const seed = 1_000 + run;
    for (const routing of Object.keys(ROUTINGS) as Routing[]) {
      const quiet = await runTraffic({ routing, foreignPerHour: 0, seed });
      for (const rate of rates) {
        const busy = await runTraffic({ routing, foreignPerHour: rate, seed });
        const figuresOfRun = compare(quiet, busy);
        perRun.set(`${routing}:${rate}`, [...(perRun.get(`${routing}:${rate}`) ?? []), figuresOfRun]);
        if (routing === 'fifo-only') healBilledPerForeignEvent.push((figuresOfRun.healOnForeignBilledS * 1000) / figuresOfRun.healOnForeign);
        log(
          `run ${run + 1}, ${ROUTINGS[routing]}, ${rate}/h: added p99 ${(figuresOfRun.addedP99Ms / 1000).toFixed(3)} s, ${figuresOfRun.healOnForeign} heal invocations on foreign events`,
        );
      }
    }
  }

  const oneHealMs = healBilledPerForeignEvent.reduce((a, b) => a + b, 0) / healBilledPerForeignEvent.length;
  const windowS = deployed.triage.batchingWindowSeconds;
  for (const rate of rates) {
    for (const routing of Object.keys(ROUTINGS) as Routing[]) {
      const samples = perRun.get(`${routing}:${rate}`)!;
      const name = (what: string) => `${what}, ${rate}/h, ${ROUTINGS[routing]}`;
      figures.push(
        figure(
          SECTION,
          name('added latency of a lifecycle action, median'),
          's',
          samples.map((s) => s.addedP50Ms / 1000),
        ),
        figure(
          SECTION,
          name('added latency of a lifecycle action, p99'),
          's',
          samples.map((s) => s.addedP99Ms / 1000),
        ),
        figure(
          SECTION,
          name('heal invocations on foreign events'),
          'calls',
          samples.map((s) => s.healOnForeign),
        ),
        figure(
          SECTION,
          name('heal billed s on foreign events'),
          's',
          samples.map((s) => s.healOnForeignBilledS),
        ),
        figure(
          SECTION,
          name('lifecycle actions not continued'),
          'calls',
          samples.map((s) => s.notContinued),
        ),
        figure(
          SECTION,
          name("group's own EC2 event to heal, p99"),
          's',
          samples.map((s) => s.ownEc2P99Ms / 1000),
        ),
      );
      if (routing !== 'triage') continue;
      figures.push(
        figure(
          SECTION,
          name('triage invocations per 1,000 foreign events'),
          'calls',
          samples.map((s) => (s.triageInvocations / rate) * 1000),
        ),
        figure(
          SECTION,
          name('triage billed ms per 1,000 foreign events'),
          'ms',
          samples.map((s) => (s.triageBilledMs / rate) * 1000),
        ),
      );
      goals.push(
        goal(
          SECTION,
          `foreign events add <= ${MAX_ADDED_P99_S} s p99 to a lifecycle action, ${rate}/h (s)`,
          MAX_ADDED_P99_S,
          samples.map((s) => s.addedP99Ms / 1000),
        ),
        goal(
          SECTION,
          `triage cost per foreign event <= ${MAX_COST_PER_EVENT_IN_HEAL_INVOCATIONS} heal invocation (billed ms), ${rate}/h`,
          MAX_COST_PER_EVENT_IN_HEAL_INVOCATIONS,
          samples.map((s) => s.triageBilledMs / rate / oneHealMs),
          `at ${rate}/h a ${windowS} s batching window gathers about ${((rate / 3600) * windowS + 1).toFixed(1)} events: each batch costs one call, so the cost per event falls as the churn rises`,
        ),
        goal(
          SECTION,
          `triage invocations <= one per ${windowS} s batching window whatever the churn, ${rate}/h (share of the bound)`,
          1,
          samples.map((s) => s.triageInvocations / (3600 / windowS)),
        ),
      );
    }
  }
  figures.push(
    figure(SECTION, 'one heal invocation on a foreign event (old routing), billed', 'ms', healBilledPerForeignEvent, `modelled: ${JSON.stringify(LATENCY_MS)}`),
  );
  return { figures, goals };
};
