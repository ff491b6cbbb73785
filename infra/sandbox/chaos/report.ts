import type { QueueResult, SoakReport } from './soak';

/** The short markdown summary of a soak: what was injected, how the cluster came back, what was lost, what broke. */
export function formatReport(report: SoakReport): string {
  const lines: string[] = [];
  lines.push(`# Chaos soak: seed ${report.seed}, ${report.rounds} rounds, ${report.faults.tookEffectTotal} faults took effect`);
  lines.push('');
  lines.push(
    `RabbitMQ ${report.rabbitmq} (${report.network}), started ${report.startedAt}, ${Math.round(report.durationSeconds / 60)} min` +
      `${report.stoppedEarly ? '; stopped early when asked (Ctrl-C / SIGTERM), after the last round shown' : ''}.`,
  );
  lines.push('');
  lines.push('| fault | drawn | took effect |');
  lines.push('|---|---|---|');
  for (const kind of Object.keys(report.faults.drawn)) lines.push(`| ${kind} | ${report.faults.drawn[kind]} | ${report.faults.tookEffect[kind] ?? 0} |`);
  lines.push(`| **total** | **${report.faults.drawnTotal}** | **${report.faults.tookEffectTotal}** |`);
  lines.push('');
  lines.push('| result | value |');
  lines.push('|---|---|');
  lines.push(`| rounds converged | ${report.roundsConverged} of ${report.roundLog.length} |`);
  lines.push(`| convergence, median | ${report.medianConvergenceSeconds} s |`);
  lines.push(`| slowest convergence | ${report.slowestConvergence.seconds} s (round ${report.slowestConvergence.round}) |`);
  for (const queue of [report.messages.quorum, report.messages.classic]) lines.push(queueRow(queue));
  lines.push(`| dead letters | ${report.deadLetters.length} (${report.deadLetters.filter((d) => !d.explainedBy).length} unexplained) |`);
  lines.push(`| invariant violations | ${report.violations.length} |`);
  if (report.violations.length > 0) {
    lines.push('');
    lines.push('| round | invariant | detail |');
    lines.push('|---|---|---|');
    for (const v of report.violations) lines.push(`| ${v.round} | ${v.invariant} | ${v.detail.replace(/\|/g, '\\|').slice(0, 300)} |`);
  }
  return `${lines.join('\n')}\n`;
}

function queueRow(queue: QueueResult): string {
  const kind = queue.type === 'quorum' ? 'quorum queue' : queue.replicated ? 'classic mirrored queue' : 'classic queue (no replicas on 4.x)';
  return (
    `| ${kind} \`${queue.queue}\` | confirmed ${queue.confirmed}, consumed ${queue.consumed} (duplicates ${queue.duplicates}), ` +
    `**missing ${queue.missing}**; unconfirmed ${queue.unconfirmed}; reconnects ${queue.publisherReconnects} + ${queue.consumerReconnects} |`
  );
}
