import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { integer, rabbitmqLine } from '../cli/options';
import type { RabbitMqLine } from '../nodes';
import { timelineSvg } from '../timeline';
import { formatReport } from './report';
import { runSoak } from './soak';

/**
 * `npm run chaos -- --rounds N --seed S [--report FILE] [--rabbitmq 3.10|4.0|4.3]`: the chaos soak on the
 * sandbox. Writes the JSON report to FILE and the markdown summary next to it (FILE with .md); exits
 * non-zero when a confirmed quorum-queue message is missing or an invariant was violated.
 */

async function main(): Promise<void> {
  const options = new Command('chaos')
    .description('inject faults into the sandbox cluster round after round and check that warren heals it without losing a confirmed message')
    .option('--rounds <n>', 'rounds of faults (each: one cluster fault and --control-faults control-plane faults)', integer(1, 10_000), 10)
    .option('--control-faults <n>', 'control-plane faults drawn a round, all of different kinds', integer(1, 7), 3)
    .option('--until-faults <n>', 'stop after the round in which this many faults have taken effect', integer(1, 100_000))
    .option('--seed <n>', 'seed of the fault schedule', integer(0, 2 ** 31 - 1), 1)
    .option('--report <file>', 'write the JSON report here, and the markdown summary next to it')
    .option('--rabbitmq <line>', 'RabbitMQ 3.10 (classic queues mirrored), 4.0 or 4.3; default: the newest available', rabbitmqLine)
    .option('--max-nodes <n>', 'scale-out stops here', integer(3, 9), 5)
    .parse()
    .opts<{ rounds: number; controlFaults: number; untilFaults?: number; seed: number; report?: string; rabbitmq?: RabbitMqLine; maxNodes: number }>();
  // the soak's own lines replace the functions' JSON logs; WARREN_CHAOS_LOGS=1 brings them back
  if (process.env.WARREN_CHAOS_LOGS !== '1') process.env.POWERTOOLS_LOG_LEVEL ??= 'CRITICAL';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const began = Date.now();
  // Ctrl-C (or SIGTERM) ends the soak after the round under way, still with the message check and the report
  let stop = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stop) process.exit(130);
      stop = true;
      process.stdout.write(`\n${signal}: stopping after this round (again to abort)\n`);
    });
  }
  const report = await runSoak({
    stopRequested: () => stop,
    rounds: options.rounds,
    untilFaults: options.untilFaults,
    controlFaults: options.controlFaults,
    seed: options.seed,
    rabbitmq: options.rabbitmq,
    maxNodes: options.maxNodes,
    log: (line) => process.stdout.write(`[+${((Date.now() - began) / 1000).toFixed(0).padStart(5)} s] ${line}\n`),
  });
  const markdown = formatReport(report);
  if (options.report) {
    mkdirSync(dirname(options.report), { recursive: true });
    writeFileSync(options.report, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(`${options.report.replace(/\.json$/, '')}.md`, markdown);
    if (report.timeline) {
      const title = `chaos soak: seed ${report.seed}, ${report.rounds} rounds, RabbitMQ ${report.rabbitmq}, ${report.startedAt}`;
      writeFileSync(`${options.report.replace(/\.json$/, '')}.svg`, timelineSvg(report.timeline, title));
    }
  }
  process.stdout.write(`\n${markdown}`);
  const failed = report.messages.quorum.missing > 0 || report.violations.length > 0;
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  process.stderr.write(`chaos: ${(error as Error).stack ?? error}\n`);
  process.exit(2);
});
