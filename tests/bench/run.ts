import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { rabbitmqLine } from '../../infra/sandbox/cli/options';
import { RABBITMQ_LINES, type RabbitMqLine } from '../../infra/sandbox/nodes';
import type { Figure, Goal, Section, SectionResult } from './figures';

/**
 * `npm run bench [-- --json FILE] [--runs N] [--quick] [--only a,b]`: measures warren against the
 * floor on this machine and prints a table; the JSON holds every sample.
 */

const SECTIONS: Record<string, () => Promise<Section>> = {
  'cold-start': async () => (await import('./cold-start')).coldStart,
  'api-calls': async () => (await import('./api-calls')).apiCalls,
  sandbox: async () => (await import('./sandbox')).sandboxHealing,
  'event-isolation': async () => (await import('./event-isolation')).eventIsolation,
  'node-status': async () => (await import('./node-status')).nodeStatusCost,
  roll: async () => (await import('./roll')).rollingReplacement,
};

function formatValue(value: number, unit: Figure['unit']): string {
  if (!Number.isFinite(value)) return '-';
  switch (unit) {
    case 'ms':
      return `${value.toFixed(value < 10 ? 1 : 0)} ms`;
    case 's':
      return `${value.toFixed(1)} s`;
    case 'bytes':
      return value >= 1024 * 1024 ? `${(value / 1024 / 1024).toFixed(2)} MB` : `${(value / 1024).toFixed(0)} KB`;
    case 'ratio':
      return value.toFixed(2);
    default:
      return String(Math.round(value * 100) / 100);
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function report(figures: Figure[], goals: Goal[]): string {
  const figureRows = [
    ['section', 'figure', 'median', 'min', 'max', 'runs'],
    ...figures.map((f) => [f.section, f.name, formatValue(f.median, f.unit), formatValue(f.min, f.unit), formatValue(f.max, f.unit), String(f.samples.length)]),
  ];
  const goalRows = [
    ['section', 'goal', 'measured', 'at most', 'met'],
    ...goals.map((g) => [g.section, g.name, g.measured.toFixed(2), g.atMost.toFixed(2), g.met ? 'yes' : `NO: ${g.why ?? ''}`]),
  ];
  return `${table(figureRows)}\n\n${table(goalRows)}`;
}

async function main(): Promise<void> {
  const positive = (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 50) throw new InvalidArgumentError('expected a whole number from 1 to 50');
    return n;
  };
  const options = new Command('bench')
    .description(
      "warren against the floor: cold start, AWS calls per reconcile, healing on real RabbitMQ nodes, isolation from other fleets' EC2 events on virtual time",
    )
    .option('--json <file>', 'also write every figure, sample and goal as JSON')
    .option('--runs <n>', 'runs per figure (medians of these)', positive, 5)
    .option('--quick', 'one run at the smallest sizes: the CI smoke, no goal is judged on it')
    .option('--rabbitmq <line>', `RabbitMQ release line of the nodes: ${RABBITMQ_LINES.join(', ')}`, rabbitmqLine, '3.10' as RabbitMqLine)
    .option('--only <sections>', `comma-separated subset of: ${Object.keys(SECTIONS).join(', ')}`)
    .parse()
    .opts<{ json?: string; runs: number; quick?: boolean; only?: string; rabbitmq: RabbitMqLine }>();
  const chosen = options.only ? options.only.split(',').map((s) => s.trim()) : Object.keys(SECTIONS);
  const unknown = chosen.filter((name) => !(name in SECTIONS));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown section(s): ${unknown.join(', ')}`);

  const quick = options.quick === true;
  const runs = quick ? 1 : options.runs;
  const figures: Figure[] = [];
  const goals: Goal[] = [];
  const started = Date.now();
  for (const name of chosen) {
    const section = await SECTIONS[name]!();
    const sectionStarted = Date.now();
    process.stderr.write(`bench: ${name} (${runs} run${runs === 1 ? '' : 's'})\n`);
    const result: SectionResult = await section({ runs, quick, rabbitmq: options.rabbitmq, log: (line) => process.stderr.write(`  ${name}: ${line}\n`) });
    figures.push(...result.figures);
    goals.push(...result.goals);
    process.stderr.write(`bench: ${name} done in ${Math.round((Date.now() - sectionStarted) / 1000)} s\n`);
  }
  process.stdout.write(`${report(figures, goals)}\n`);
  if (options.json) {
    const machine = { node: process.version, cpus: (await import('node:os')).cpus().length, at: new Date().toISOString() };
    writeFileSync(
      options.json,
      `${JSON.stringify({ quick, runs, rabbitmq: options.rabbitmq, seconds: Math.round((Date.now() - started) / 1000), machine, figures, goals }, null, 2)}\n`,
    );
    process.stderr.write(`bench: figures written to ${options.json}\n`);
  }
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
