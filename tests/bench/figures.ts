import type { RabbitMqLine } from '../../infra/sandbox/nodes';

/**
 * What a benchmark section reports: figures measured over several runs (median, min, max), and
 * goals, each a ratio computed pair by pair within one run (this machine is shared and noisy, so a
 * ratio of medians taken at different moments would mislead).
 */

export interface Figure {
  section: string;
  name: string;
  unit: 'ms' | 's' | 'bytes' | 'calls' | 'commands' | 'ratio';
  samples: number[];
  median: number;
  min: number;
  max: number;
  note?: string;
}

export interface Goal {
  section: string;
  name: string;
  /** the goal holds when the measured median is at most this */
  atMost: number;
  /** median of the per-run values (ratios pair by pair, or counts) */
  measured: number;
  met: boolean;
  /** why it misses, when it does: the part of the figure that cannot be cut, measured */
  why?: string;
}

export interface SectionResult {
  figures: Figure[];
  goals: Goal[];
}

export interface SectionOptions {
  runs: number;
  /** the CI smoke: one run, smallest sizes; proves every measurement path works, asserts no timing */
  quick: boolean;
  /** RabbitMQ generation of the sections that run real nodes */
  rabbitmq: RabbitMqLine;
  log: (line: string) => void;
}

export type Section = (options: SectionOptions) => Promise<SectionResult>;

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function figure(section: string, name: string, unit: Figure['unit'], samples: number[], note?: string): Figure {
  return { section, name, unit, samples, median: median(samples), min: Math.min(...samples), max: Math.max(...samples), ...(note ? { note } : {}) };
}

export function goal(section: string, name: string, atMost: number, perRun: number[], why?: string): Goal {
  const measured = median(perRun);
  const met = measured <= atMost;
  return { section, name, atMost, measured, met, ...(met || !why ? {} : { why }) };
}
