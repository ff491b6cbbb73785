import { xoroshiro128plus } from 'pure-rand';
import {
  CLUSTER_FAULTS,
  CONTROL_FAULTS,
  CONTROL_FAULTS_PER_ROUND,
  FAULT_KINDS,
  FaultPlanner,
  type DrawLimits,
  type RoundPlan,
} from '../../../infra/sandbox/chaos/faults';

const limits: DrawLimits = { desiredCapacity: 4, minCapacity: 3, maxCapacity: 5, partitions: true };
const schedule = (seed: number, rounds: number, given: DrawLimits = limits): RoundPlan[] => {
  const planner = new FaultPlanner(xoroshiro128plus(seed));
  return Array.from({ length: rounds }, (_, i) => planner.draw(i + 1, given));
};

describe('the chaos soak fault planner', () => {
  it('draws as many different control faults as asked, at most the kinds that can hit', () => {
    const planner = new FaultPlanner(xoroshiro128plus(9), 4);
    for (let round = 1; round <= 100; round++) {
      const [, ...control] = planner.draw(round, limits).faults;
      expect(control).toHaveLength(4);
      expect(new Set(control.map((f) => f.kind)).size).toBe(4);
    }
    const all = new FaultPlanner(xoroshiro128plus(9), 9);
    for (let round = 1; round <= 100; round++) {
      const [cluster, ...control] = all.draw(round, limits).faults;
      // a partition sets no event in motion: only the six call and command faults can hit it
      expect(control).toHaveLength(cluster!.kind === 'partition' ? 6 : 9);
    }
  });

  it('draws the same schedule from the same seed, and another from another seed', () => {
    expect(schedule(42, 60)).toEqual(schedule(42, 60));
    expect(schedule(42, 60)).not.toEqual(schedule(43, 60));
  });

  it('draws one cluster fault and three different control faults a round', () => {
    for (const plan of schedule(7, 200)) {
      const [cluster, ...control] = plan.faults;
      expect(CLUSTER_FAULTS).toContain(cluster!.kind);
      expect(control).toHaveLength(CONTROL_FAULTS_PER_ROUND);
      for (const fault of control) expect(CONTROL_FAULTS).toContain(fault.kind);
      expect(new Set(control.map((f) => f.kind)).size).toBe(control.length);
    }
  });

  it('draws every kind of fault of the issue within 100 rounds', () => {
    const drawn = new Set(schedule(1, 100).flatMap((plan) => plan.faults.map((f) => f.kind)));
    expect([...drawn].sort()).toEqual([...FAULT_KINDS].sort());
  });

  it('keeps the group within its size limits and draws no partition without namespaces', () => {
    const atMin = schedule(3, 200, { ...limits, desiredCapacity: 3 }).map((p) => p.faults[0]!.kind);
    const atMax = schedule(3, 200, { ...limits, desiredCapacity: 5 }).map((p) => p.faults[0]!.kind);
    const loopback = schedule(3, 200, { ...limits, partitions: false }).map((p) => p.faults[0]!.kind);
    expect(atMin).not.toContain('scale-in');
    expect(atMax).not.toContain('scale-out');
    expect(loopback).not.toContain('partition');
    for (const plan of schedule(5, 200, { ...limits, desiredCapacity: 4 })) {
      const fault = plan.faults[0]!;
      if (fault.kind === 'scale-out') expect(fault.by).toBe(1);
    }
  });

  it('aims control faults at what the cluster fault sets in motion', () => {
    for (const plan of schedule(11, 300)) {
      const [cluster, ...control] = plan.faults;
      for (const fault of control) {
        if (cluster!.kind === 'scale-out' && 'event' in fault) expect(fault.event).toBe('launch');
        if (cluster!.kind === 'scale-in' && 'document' in fault) expect(['NodeLeave', 'NodeForget']).toContain(fault.document);
      }
    }
  });
});
