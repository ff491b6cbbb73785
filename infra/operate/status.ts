import { planReconcile, type ObservedCluster, type ReconcileFinding } from '../../shared/cluster/reconcile-plan';
import type { Config } from '../../shared/config';
import type { NodeStatus } from '../../shared/rabbitmq/operations';
import type { Deps } from '../../shared/workflows/deps';
import { observeMembers } from '../../shared/workflows/reconcile';
import type { SandboxStatus } from '../sandbox/status';
import type { RefreshStatus } from './roll';

/**
 * `warren status --json` for a deployed cluster: a contract scripts rely on (keys are only ever added),
 * shaped like `warren sandbox status --json` where the two show the same thing. Everything in it is what
 * a reconcile tick observes (the group, EC2, target health, NodeStatus on every InService instance), plus
 * the heal queue's depth.
 */
export interface ClusterStatus {
  cluster: string;
  region: string;
  autoScalingGroupName: string;
  desiredCapacity: number;
  minSize: number;
  maxSize: number;
  /** the note of the group's warren:paused tag while warren is paused, else null */
  paused: string | null;
  /** the RabbitMQ version the cluster's members report; null when none answered */
  rabbitmq: string | null;
  /** mnesia or khepri, as the members report it; null when none answered */
  metadataStore: string | null;
  /** the sandbox's instance keys but its namespace, and what the group and NodeStatus say besides */
  instances: Array<
    Omit<SandboxStatus['instances'][number], 'namespace'> & {
      healthStatus: string;
      /** NodeStatus: the RabbitMQ app runs; null when the instance was not asked or did not answer */
      running: boolean | null;
      /** why NodeStatus did not answer, when it did not */
      statusError: string | null;
    }
  >;
  /** the cluster as its main view's members see it (the largest set of running members any node reports) */
  members: { all: string[]; running: string[]; partitions: Record<string, string[]> };
  /** Khepri only: fewer than a majority of its members run (the cluster changes nothing); null on Mnesia or unknown */
  majorityLost: boolean | null;
  quorumQueues: { total: number; degraded: number; leaderless: number } | null;
  /** what reconcile sees and deliberately leaves alone (its findings) */
  findings: ReconcileFinding[];
  /** events waiting or in flight in the heal queue, and its dead letters; null where the function has no such queue */
  queue: { depth: number | null; inFlight: number | null; deadLetters: number | null; url: string | null; deadLetterUrl: string | null };
  targetGroups: { amqp: string; management: string };
  /** the group's newest instance refresh (`warren roll`), null when it never had one; `warren status` reads it besides what reconcile observes */
  refresh?: RefreshStatus | null;
}

export interface QueueDepths {
  depth: number;
  inFlight: number;
  deadLetters: number | null;
}

/** The status, computed from what was observed; pure. */
export function clusterStatusOf(observed: ObservedCluster, config: Config, region: string, queue: QueueDepths | undefined): ClusterStatus {
  const plan = planReconcile(observed, config);
  const { group, instances, statuses, targets } = observed;
  const inGroup = new Map(group.instances.map((i) => [i.instanceId, i]));
  const inEc2 = new Map(instances.map((i) => [i.instanceId, i]));
  // an instance that left the group stays in view while EC2 still describes it running or stopping
  const ids = [...new Set([...inGroup.keys(), ...instances.filter((i) => i.state !== 'terminated').map((i) => i.instanceId)])];
  const answered = [...statuses].filter((entry): entry is [string, NodeStatus] => !(entry[1] instanceof Error));
  const main = answered.find(([, s]) => s.running && plan.runningMembers.includes(s.node))?.[1];
  return {
    cluster: config.clusterName,
    region,
    autoScalingGroupName: group.name,
    desiredCapacity: group.desiredCapacity,
    minSize: group.minSize,
    maxSize: group.maxSize,
    paused: group.paused ?? null,
    rabbitmq: plan.clusterVersion ?? null,
    metadataStore: main?.metadataStore || null,
    instances: ids.map((id) => {
      const member = inGroup.get(id);
      const ec2 = inEc2.get(id);
      const status = statuses.get(id);
      return {
        id,
        privateIp: ec2?.privateIp ?? null,
        hostname: ec2?.privateDnsName ?? null,
        availabilityZone: member?.availabilityZone ?? '',
        lifecycleState: member?.lifecycleState ?? 'Detached',
        healthStatus: member?.healthStatus ?? '-',
        ec2State: ec2?.state ?? 'unknown',
        node: (status instanceof Error ? undefined : status?.node) ?? ec2?.nodeName ?? null,
        running: status === undefined || status instanceof Error ? null : status.running,
        statusError: status instanceof Error ? status.message.split('\n')[0]!.slice(0, 300) : null,
        targets: { amqp: targets.amqp.get(id) ?? 'unused', management: targets.management.get(id) ?? 'unused' },
      };
    }),
    members: {
      all: main ? [...main.members.all].sort() : [],
      running: [...plan.runningMembers].sort(),
      partitions: Object.fromEntries(answered.flatMap(([, s]) => Object.entries(s.partitions).filter(([, cut]) => cut.length > 0))),
    },
    majorityLost: plan.gauges.metadataMajorityLost === undefined ? null : plan.gauges.metadataMajorityLost > 0,
    quorumQueues: plan.gauges.quorumQueues ?? null,
    findings: plan.findings,
    queue: {
      depth: queue?.depth ?? null,
      inFlight: queue?.inFlight ?? null,
      deadLetters: queue?.deadLetters ?? null,
      url: config.healQueueUrl ?? null,
      deadLetterUrl: config.healDeadLetterQueueUrl ?? null,
    },
    targetGroups: { ...config.targetGroups },
  };
}

/** Reads what a reconcile tick reads, read-only (NodeStatus is the only node operation sent), and the queue's depth. */
export async function readClusterStatus(
  deps: Pick<Deps, 'config' | 'inventory' | 'targets' | 'nodes' | 'clock' | 'deadline'>,
  region: string,
  queue: { depths(): Promise<QueueDepths> } | undefined,
): Promise<ClusterStatus> {
  const group = await deps.inventory.describeGroup();
  const instances = await deps.inventory.describeGroupInstances();
  const observed = await observeMembers(group, instances, deps);
  return clusterStatusOf(observed, deps.config, region, await queue?.depths());
}
