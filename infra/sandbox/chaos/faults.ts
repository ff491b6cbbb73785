import { unsafeUniformIntDistribution, type RandomGenerator } from 'pure-rand';

/**
 * The faults of the chaos soak. Each round draws one fault that changes the cluster (what AWS or the
 * machines do to it) and three that disturb how warren hears about it and acts on it (what the
 * control plane does). Everything is drawn from the seed; the timing of real nodes is not, so a
 * seed reproduces the schedule of faults, not every interleaving.
 */
export const CLUSTER_FAULTS = ['asg-termination', 'crash', 'scale-out', 'scale-in', 'partition', 'alarm-burst'] as const;
export const CONTROL_FAULTS = [
  'ssm-failure',
  'ssm-timeout',
  'api-throttling',
  'api-5xx',
  'duplicate-event',
  'late-event',
  'missed-event',
  'api-silent',
  'api-not-visible',
] as const;
/** control faults a round unless told otherwise */
export const CONTROL_FAULTS_PER_ROUND = 3;
export type ClusterFault = (typeof CLUSTER_FAULTS)[number];
export type ControlFault = (typeof CONTROL_FAULTS)[number];
export type FaultKind = ClusterFault | ControlFault;
export const FAULT_KINDS: readonly FaultKind[] = [...CLUSTER_FAULTS, ...CONTROL_FAULTS];

/** The events a delivery fault can hit, by the warren workflow that handles them. */
export type EventTarget = 'launch' | 'terminate' | 'state-change';
/** The node operations an SSM fault can hit (document names without the prefix). */
export type DocumentTarget = 'NodeJoin' | 'NodeLeave' | 'NodeForget' | 'NodeStatus';
/**
 * AWS operations an API fault can hit, as the API reference names them. The local AWS endpoint
 * answers the fault, so the SDK's retries (5 attempts) absorb a short one and a long one reaches warren.
 */
export const API_OPERATIONS = [
  'DescribeAutoScalingGroups',
  'DescribeInstances',
  'CreateTags',
  'CompleteLifecycleAction',
  'RecordLifecycleActionHeartbeat',
  'RegisterTargets',
  'DeregisterTargets',
  'DescribeTargetHealth',
  'SendCommand',
  'DescribeInstanceInformation',
] as const;
export type ApiOperation = (typeof API_OPERATIONS)[number];
/** Operations AWS answers with a "not visible yet" error right after a launch (eventual consistency). */
export const NOT_YET_VISIBLE_OPERATIONS = ['CreateTags', 'SendCommand', 'RegisterTargets'] as const satisfies readonly ApiOperation[];

export type PlannedFault =
  | { kind: 'asg-termination' | 'crash'; victim: number }
  | { kind: 'scale-out'; by: number }
  | { kind: 'scale-in'; by: number }
  | { kind: 'partition'; victim: number; cutSeconds: number }
  | { kind: 'alarm-burst'; nodeAlarms: number; clusterAlarms: number; victim: number }
  | { kind: 'ssm-failure' | 'ssm-timeout'; document: DocumentTarget; times: number; effect: 'fail' | 'timeout' | 'undeliverable' }
  | { kind: 'api-throttling' | 'api-5xx' | 'api-silent' | 'api-not-visible'; operation: ApiOperation; times: number }
  | { kind: 'duplicate-event' | 'missed-event'; event: EventTarget }
  | { kind: 'late-event'; event: EventTarget; delaySeconds: number };

export interface RoundPlan {
  round: number;
  faults: PlannedFault[];
}

export interface DrawLimits {
  desiredCapacity: number;
  minCapacity: number;
  maxCapacity: number;
  /** partitions need network namespaces */
  partitions: boolean;
}

/** Which events and documents the round's cluster fault sets in motion: where a control fault can land. */
const REACHES: Record<ClusterFault, { events: EventTarget[]; documents: DocumentTarget[] }> = {
  'asg-termination': { events: ['terminate', 'launch', 'state-change'], documents: ['NodeLeave', 'NodeForget', 'NodeJoin'] },
  crash: { events: ['state-change', 'launch'], documents: ['NodeForget', 'NodeJoin'] },
  'scale-out': { events: ['launch'], documents: ['NodeJoin', 'NodeStatus'] },
  'scale-in': { events: ['terminate', 'state-change'], documents: ['NodeLeave', 'NodeForget'] },
  // a cut machine stays InService and running: no lifecycle or state event, only reconcile's status
  partition: { events: [], documents: ['NodeStatus'] },
  'alarm-burst': { events: ['terminate', 'launch'], documents: ['NodeLeave', 'NodeJoin', 'NodeForget'] },
};

/** Weights of the cluster faults: the ones that replace a node most often, as in production. */
const CLUSTER_WEIGHTS: Record<ClusterFault, number> = { 'asg-termination': 3, crash: 3, 'scale-out': 2, 'scale-in': 2, partition: 2, 'alarm-burst': 1 };

export class FaultPlanner {
  constructor(
    private readonly rng: RandomGenerator,
    private readonly controlPerRound = CONTROL_FAULTS_PER_ROUND,
  ) {}

  private int(from: number, to: number): number {
    return unsafeUniformIntDistribution(from, to, this.rng);
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  /** One round: a cluster fault that fits the limits, then different control faults (three by default) aimed at what it sets in motion. */
  draw(round: number, limits: DrawLimits): RoundPlan {
    const allowed = CLUSTER_FAULTS.filter((kind) => {
      if (kind === 'scale-in') return limits.desiredCapacity > limits.minCapacity;
      if (kind === 'scale-out') return limits.desiredCapacity < limits.maxCapacity;
      if (kind === 'partition') return limits.partitions;
      return true;
    });
    const weighted = allowed.flatMap((kind) => Array<ClusterFault>(CLUSTER_WEIGHTS[kind]).fill(kind));
    const kind = this.pick(weighted);
    const cluster = this.clusterFault(kind, limits);
    const control: PlannedFault[] = [];
    const reach = REACHES[kind];
    // an event fault needs an event to hit
    const kinds = CONTROL_FAULTS.filter((k) => reach.events.length > 0 || !/-event$/.test(k));
    const count = Math.min(this.controlPerRound, kinds.length);
    for (let i = 0; i < count; i++) {
      const chosen = kinds.splice(this.int(0, kinds.length - 1), 1)[0]!;
      control.push(this.controlFault(chosen, reach));
    }
    return { round, faults: [cluster, ...control] };
  }

  private clusterFault(kind: ClusterFault, limits: DrawLimits): PlannedFault {
    // victims are drawn as an index into the InService instances at the time, so the draw does not depend on ids
    switch (kind) {
      case 'asg-termination':
      case 'crash':
        return { kind, victim: this.int(0, 1000) };
      case 'scale-out':
        return { kind, by: this.int(1, Math.min(2, limits.maxCapacity - limits.desiredCapacity)) };
      case 'scale-in':
        return { kind, by: 1 };
      case 'partition':
        // shorter than net_ticktime's detection (45-75 s) is a blip RabbitMQ never sees; longer pauses the minority
        return { kind, victim: this.int(0, 1000), cutSeconds: this.int(10, 90) };
      case 'alarm-burst':
        return { kind, nodeAlarms: this.int(2, 4), clusterAlarms: this.int(2, 4), victim: this.int(0, 1000) };
    }
  }

  private controlFault(kind: ControlFault, reach: { events: EventTarget[]; documents: DocumentTarget[] }): PlannedFault {
    switch (kind) {
      case 'ssm-failure':
        return { kind, document: this.pick(reach.documents), times: this.int(1, 2), effect: 'fail' };
      case 'ssm-timeout':
        return { kind, document: this.pick(reach.documents), times: 1, effect: this.pick(['timeout', 'undeliverable'] as const) };
      case 'api-throttling':
      case 'api-5xx':
        // up to one more than the SDK's attempts: some are ridden out by its retries, some reach warren
        return { kind, operation: this.pick(API_OPERATIONS), times: this.int(1, 6) };
      case 'api-silent':
        // each silent request costs the SDK a socket timeout (8 s) before its next attempt
        return { kind, operation: this.pick(API_OPERATIONS), times: this.int(1, 2) };
      case 'api-not-visible':
        return { kind, operation: this.pick(NOT_YET_VISIBLE_OPERATIONS), times: this.int(1, 6) };
      case 'duplicate-event':
      case 'missed-event':
        return { kind, event: this.pick(reach.events) };
      case 'late-event':
        return { kind, event: this.pick(reach.events), delaySeconds: this.int(5, 40) };
    }
  }
}

/** A one-line description for the progress log and the report. */
export function describeFault(fault: PlannedFault): string {
  switch (fault.kind) {
    case 'asg-termination':
    case 'crash':
      return fault.kind;
    case 'scale-out':
    case 'scale-in':
      return `${fault.kind} by ${fault.by}`;
    case 'partition':
      return `partition for ${fault.cutSeconds} s`;
    case 'alarm-burst':
      return `alarm burst (${fault.nodeAlarms} node, ${fault.clusterAlarms} cluster)`;
    case 'ssm-failure':
    case 'ssm-timeout':
      return `${fault.kind} ${fault.document} x${fault.times} (${fault.effect})`;
    case 'api-throttling':
    case 'api-5xx':
    case 'api-silent':
    case 'api-not-visible':
      return `${fault.kind} ${fault.operation} x${fault.times}`;
    case 'duplicate-event':
    case 'missed-event':
      return `${fault.kind} (${fault.event})`;
    case 'late-event':
      return `late-event (${fault.event}, ${fault.delaySeconds} s)`;
  }
}
