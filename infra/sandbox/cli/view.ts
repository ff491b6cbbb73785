import type { HealRecord } from '../sandbox';
import type { SandboxStatus } from '../status';

/** What people read: the status as a table, the timeline of heals, progress lines. */

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, column) => Math.max(h.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function formatStatus(status: SandboxStatus): string {
  const partitions = Object.keys(status.members.partitions).length === 0 ? 'none' : JSON.stringify(status.members.partitions);
  const instances = table(
    ['INSTANCE', 'PRIVATE IP', 'HOSTNAME', 'AZ', 'LIFECYCLE', 'EC2', 'NODE', 'NAMESPACE', 'AMQP', 'MANAGEMENT'],
    status.instances.map((i) => [
      i.id,
      i.privateIp ?? '-',
      i.hostname ?? '-',
      i.availabilityZone,
      i.lifecycleState,
      i.ec2State,
      i.node ?? '-',
      i.namespace ?? '-',
      i.targets.amqp,
      i.targets.management,
    ]),
  );
  return [
    `cluster ${status.cluster}   RabbitMQ ${status.rabbitmq}   network ${status.network}   auto scaling group ${status.autoScalingGroupName}   desired capacity ${status.desiredCapacity}`,
    `load balancer   amqp ${status.loadBalancer.amqp}   management ${status.loadBalancer.management}`,
    `                ${status.loadBalancer.amqpUrl}`,
    ...(status.loadBalancer.tls
      ? [
          `tls             amqps ${status.loadBalancer.tls.amqps}   https ${status.loadBalancer.tls.https}   CA file ${status.loadBalancer.tls.caFile}`,
          `                ${status.loadBalancer.tls.amqpsUrl}`,
        ]
      : []),
    '',
    instances,
    '',
    `members ${status.members.all.length} (running ${status.members.running.length}: ${status.members.running.join(', ') || 'none'})   partitions ${partitions}`,
    status.replicatedQueues === null
      ? 'quorum queues and streams: could not be listed'
      : `quorum queues and streams ${status.replicatedQueues.length}${status.replicatedQueues.map((q) => `   ${q.type === 'stream' ? 'stream ' : ''}${q.vhost === '/' ? '' : `${q.vhost}/`}${q.name}: ${q.online.length}/${q.members.length} replicas running, leader ${q.leader || 'none'}`).join('')}`,
    `heal queue depth ${status.queue.depth}, dead letters ${status.queue.deadLetters}`,
    ...(status.paused === null
      ? []
      : [
          `warren is PAUSED (warren:paused tag on the group${status.paused ? `: ${status.paused}` : ''}): events are acknowledged unacted, reconcile repairs nothing`,
        ]),
  ].join('\n');
}

/** A failed heal's outcome carries the node's whole stderr; a table row shows its first line. */
export function shortOutcome(outcome: string, max = 140): string {
  const line = outcome.split('\n')[0]!.trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

export function formatTimeline(records: readonly HealRecord[], since = 0): string {
  return table(
    ['AT', 'KIND', 'INSTANCE', 'DURATION', 'OUTCOME'],
    records.map((r) => [
      `+${((r.at - since) / 1000).toFixed(1)} s`,
      r.kind,
      r.instanceId ?? '-',
      `${(r.durationMs / 1000).toFixed(1)} s`,
      shortOutcome(r.outcome),
    ]),
  );
}

/** Prints divergence reasons to stderr when they change, with the time since the wait began. */
export function progressPrinter(label: string, write: (line: string) => void = (line) => process.stderr.write(line)): (reasons: string[]) => void {
  const began = Date.now();
  let last = '';
  return (reasons) => {
    const text = reasons.join('; ');
    if (text === last) return;
    last = text;
    write(`[${label} +${Math.round((Date.now() - began) / 1000)} s] ${text || 'converged'}\n`);
  };
}
