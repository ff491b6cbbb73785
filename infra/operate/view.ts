import type { PartitionDecision } from '../../shared/cluster/partition';
import type { ReconcileAction, ReconcileFinding } from '../../shared/cluster/reconcile-plan';
import type { OrphanedHook } from '../../shared/cluster/orphaned-hooks';
import { table } from '../sandbox/cli/view';
import type { ClusterStatus } from './status';

/** What an operator reads: a deployed cluster's status, and the plan of a dry-run reconcile. */

/** One action or finding on one line: its kind, then its facts. */
export function describeStep(step: ReconcileAction | ReconcileFinding): string {
  const { kind, ...facts } = step as { kind: string } & Record<string, unknown>;
  const text = Object.entries(facts).map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return [kind, ...text].join(' ');
}

const pausedLine = (note: string, what: string) => `warren is PAUSED (warren:paused tag on the group${note ? `: ${note}` : ''}): ${what}`;

export function formatClusterStatus(status: ClusterStatus): string {
  const partitions = Object.keys(status.members.partitions).length === 0 ? 'none' : JSON.stringify(status.members.partitions);
  const instances = table(
    ['INSTANCE', 'PRIVATE IP', 'AZ', 'LIFECYCLE', 'HEALTH', 'EC2', 'NODE', 'APP', 'AMQP', 'MANAGEMENT'],
    status.instances.map((i) => [
      i.id,
      i.privateIp ?? '-',
      i.availabilityZone || '-',
      i.lifecycleState,
      i.healthStatus,
      i.ec2State,
      i.node ?? '-',
      i.running === null ? (i.statusError ? 'no answer' : '-') : i.running ? 'running' : 'stopped',
      i.targets.amqp,
      i.targets.management,
    ]),
  );
  const inService = status.instances.filter((i) => i.lifecycleState === 'InService').length;
  const queue =
    status.queue.depth === null
      ? 'heal queue: not configured on the heal function'
      : `heal queue depth ${status.queue.depth} (in flight ${status.queue.inFlight}), dead letters ${status.queue.deadLetters ?? 'unknown'}`;
  return [
    `cluster ${status.cluster}   region ${status.region}   RabbitMQ ${status.rabbitmq ?? 'unknown'}${status.metadataStore ? ` (${status.metadataStore})` : ''}   auto scaling group ${status.autoScalingGroupName}`,
    `desired capacity ${status.desiredCapacity} (min ${status.minSize}, max ${status.maxSize}), ${inService} InService`,
    '',
    instances,
    '',
    `members ${status.members.all.length} (running ${status.members.running.length}: ${status.members.running.join(', ') || 'none'})   partitions ${partitions}`,
    ...(status.majorityLost === null
      ? []
      : [`Khepri majority ${status.majorityLost ? 'LOST: the cluster changes nothing until it is recovered (docs/operations.md)' : 'held'}`]),
    ...(status.quorumQueues === null
      ? []
      : [`quorum queues ${status.quorumQueues.total} (degraded ${status.quorumQueues.degraded}, leaderless ${status.quorumQueues.leaderless})`]),
    queue,
    ...(status.findings.length === 0 ? ['findings: none'] : ['findings:', ...status.findings.map((f) => `  ${describeStep(f)}`)]),
    ...(status.paused === null ? [] : [pausedLine(status.paused, 'events are acknowledged unacted, reconcile repairs nothing')]),
  ].join('\n');
}

/** `warren plan --json`: what a dry-run reconcile reported. */
export interface PlanReport {
  cluster: string;
  region: string;
  paused: string | null;
  /** in the order reconcile runs them */
  actions: ReconcileAction[];
  findings: ReconcileFinding[];
  partition: PartitionDecision | null;
  /** lifecycle hooks whose event never came: reconcile would take them over */
  orphanedHooks: OrphanedHook[];
}

export function formatPlan(plan: PlanReport): string {
  const lines = [`reconcile plan for cluster ${plan.cluster} in ${plan.region} (dry run: nothing was changed)`];
  if (plan.paused !== null) lines.push(pausedLine(plan.paused, 'a reconcile tick would carry out none of this until the tag is removed'));
  if (plan.actions.length === 0 && plan.orphanedHooks.length === 0) lines.push('nothing to do: reconcile would change nothing');
  if (plan.actions.length > 0)
    lines.push(`actions, in the order reconcile runs them:`, ...plan.actions.map((action, n) => `  ${n + 1}. ${describeStep(action)}`));
  if (plan.orphanedHooks.length > 0)
    lines.push(
      'lifecycle hooks it would take over (their event never came):',
      ...plan.orphanedHooks.map((hook) => `  ${hook.transition} hook of ${hook.instanceId}`),
    );
  if (plan.partition) {
    const { sides, hold, detail } = plan.partition;
    lines.push(
      `partition: sides ${JSON.stringify(sides)}, ${hold ? `restarts held (${hold}${detail ? `: ${detail}` : ''})` : `losing side restarted: ${plan.partition.losers.join(', ')}`}`,
    );
  }
  lines.push(...(plan.findings.length === 0 ? ['findings: none'] : ['findings (seen, left alone):', ...plan.findings.map((f) => `  ${describeStep(f)}`)]));
  return lines.join('\n');
}
