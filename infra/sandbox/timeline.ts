import type { Sandbox } from './sandbox';

/*
 * A picture of a sandbox run, for a reader who would rather look than read: the demo and the chaos soak
 * sample the cluster every second and write an SVG timeline next to their report. Instances InService
 * and healthy AMQP targets (the verified members serving) over time, the client's confirmed messages per
 * second, each fault or step marked, each heal marked by its kind.
 */

export interface TimelineSample {
  /** ms since the run began */
  t: number;
  desired: number;
  inService: number;
  /** instances whose AMQP target is healthy on the load balancer: verified members that serve */
  serving: number;
  /** confirmed messages per second since the last sample, over every publisher */
  confirmedPerSecond: number;
}

export interface TimelineMark {
  t: number;
  label: string;
}

export interface Timeline {
  samples: TimelineSample[];
  /** faults injected, or the demo's steps */
  marks: TimelineMark[];
  /** heals as the heal function answered them: kind and outcome */
  heals: Array<{ t: number; kind: string; outcome: string }>;
}

/** Samples a running sandbox in memory (no node command: it reads the local cloud's own state). */
export class TimelineRecorder {
  private readonly samples: TimelineSample[] = [];
  private readonly marks: TimelineMark[] = [];
  private readonly began = Date.now();
  private lastConfirmed = 0;
  private lastAt = this.began;
  private timer?: NodeJS.Timeout;

  /** `confirmed` counts every confirmed message so far, over every publisher. */
  constructor(
    private readonly sandbox: Sandbox,
    private readonly confirmed: () => number,
  ) {}

  start(everyMs = 1000): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
    return this;
  }

  mark(label: string): void {
    this.marks.push({ t: Date.now() - this.began, label });
  }

  /** Stops sampling; the timeline so far, heals included. */
  stop(): Timeline {
    clearInterval(this.timer);
    this.sample();
    const heals = this.sandbox.timeline
      .filter((heal) => heal.at >= this.began)
      .map((heal) => ({ t: heal.at - this.began, kind: heal.kind, outcome: heal.outcome.split('\n')[0]!.slice(0, 80) }));
    return { samples: [...this.samples], marks: [...this.marks], heals };
  }

  private sample(): void {
    const now = Date.now();
    const group = this.sandbox.group.describe();
    const inService = group.instances.filter((i) => i.lifecycleState === 'InService');
    const confirmed = this.confirmed();
    const seconds = Math.max((now - this.lastAt) / 1000, 0.001);
    this.samples.push({
      t: now - this.began,
      desired: group.desiredCapacity,
      inService: inService.length,
      serving: group.instances.filter((i) => this.sandbox.nlb.groups.amqp.stateOf(i.instanceId) === 'healthy').length,
      confirmedPerSecond: this.samples.length === 0 ? 0 : Math.max(0, (confirmed - this.lastConfirmed) / seconds),
    });
    this.lastConfirmed = confirmed;
    this.lastAt = now;
  }
}

const WIDTH = 1000;
const PLOT = { left: 60, right: 20, top: 30 };
const LANE = 150;
const GAP = 40;

const escapeXml = (text: string) => text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

/** The timeline as a standalone SVG: the nodes lane (desired, InService, serving), the messages lane, marks and heals. */
export function timelineSvg(timeline: Timeline, title: string): string {
  const end = Math.max(1, ...timeline.samples.map((s) => s.t), ...timeline.marks.map((m) => m.t), ...timeline.heals.map((h) => h.t));
  const plotWidth = WIDTH - PLOT.left - PLOT.right;
  const x = (t: number) => PLOT.left + (t / end) * plotWidth;
  const nodesTop = PLOT.top;
  const messagesTop = nodesTop + LANE + GAP;
  const height = messagesTop + LANE + 70;
  const maxNodes = Math.max(1, ...timeline.samples.map((s) => Math.max(s.desired, s.inService, s.serving)));
  const maxRate = Math.max(1, ...timeline.samples.map((s) => s.confirmedPerSecond));
  const yNodes = (n: number) => nodesTop + LANE - (n / maxNodes) * LANE;
  const yRate = (r: number) => messagesTop + LANE - (r / maxRate) * LANE;
  // a step line: the value holds until the next sample
  const steps = (value: (s: TimelineSample) => number, y: (v: number) => number) =>
    timeline.samples
      .map((s, i) => {
        const next = timeline.samples[i + 1];
        const here = `${x(s.t).toFixed(1)},${y(value(s)).toFixed(1)}`;
        return next ? `${here} ${x(next.t).toFixed(1)},${y(value(s)).toFixed(1)}` : here;
      })
      .join(' ');
  const line = (points: string, colour: string, dash = '') =>
    `<polyline fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${points}"/>`;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${WIDTH}" height="${height}" fill="white"/>`);
  out.push(`<text x="${PLOT.left}" y="18" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  for (const [top, label, max] of [
    [nodesTop, 'instances', maxNodes],
    [messagesTop, 'confirmed msg/s', Math.round(maxRate)],
  ] as const) {
    out.push(`<rect x="${PLOT.left}" y="${top}" width="${plotWidth}" height="${LANE}" fill="none" stroke="#ccc"/>`);
    out.push(`<text x="${PLOT.left - 6}" y="${top + 10}" text-anchor="end">${max}</text>`);
    out.push(`<text x="${PLOT.left - 6}" y="${top + LANE}" text-anchor="end">0</text>`);
    out.push(`<text x="12" y="${top + LANE / 2}" transform="rotate(-90 12 ${top + LANE / 2})" text-anchor="middle">${label}</text>`);
  }
  for (const mark of timeline.marks) {
    out.push(
      `<line x1="${x(mark.t).toFixed(1)}" x2="${x(mark.t).toFixed(1)}" y1="${nodesTop}" y2="${messagesTop + LANE}" stroke="#d33" stroke-dasharray="3 3"/>`,
    );
    out.push(`<text x="${(x(mark.t) + 3).toFixed(1)}" y="${nodesTop + 10}" fill="#d33">${escapeXml(mark.label)}<title>${escapeXml(mark.label)}</title></text>`);
  }
  out.push(
    line(
      steps((s) => s.desired, yNodes),
      '#999',
      '6 3',
    ),
  );
  out.push(
    line(
      steps((s) => s.inService, yNodes),
      '#1f77b4',
    ),
  );
  out.push(
    line(
      steps((s) => s.serving, yNodes),
      '#2ca02c',
      '2 2',
    ),
  );
  out.push(line(timeline.samples.map((s) => `${x(s.t).toFixed(1)},${yRate(s.confirmedPerSecond).toFixed(1)}`).join(' '), '#9467bd'));
  for (const heal of timeline.heals) {
    const cx = x(heal.t).toFixed(1);
    out.push(`<circle cx="${cx}" cy="${nodesTop + LANE + GAP / 2}" r="4" fill="#ff7f0e"><title>${escapeXml(`${heal.kind}: ${heal.outcome}`)}</title></circle>`);
  }
  const axis = messagesTop + LANE + 16;
  for (let i = 0; i <= 5; i++) {
    const t = (end * i) / 5;
    out.push(`<text x="${x(t).toFixed(1)}" y="${axis}" text-anchor="middle">${Math.round(t / 1000)} s</text>`);
  }
  const legend = [
    ['#999', 'desired capacity'],
    ['#1f77b4', 'InService'],
    ['#2ca02c', 'serving (healthy AMQP target)'],
    ['#9467bd', 'confirmed messages per second'],
    ['#ff7f0e', 'heal (hover: kind and outcome)'],
    ['#d33', 'fault or step'],
  ];
  legend.forEach(([colour, label], i) => {
    const lx = PLOT.left + (i % 3) * 300;
    const ly = axis + 20 + Math.floor(i / 3) * 16;
    out.push(`<rect x="${lx}" y="${ly - 8}" width="12" height="8" fill="${colour}"/><text x="${lx + 16}" y="${ly}">${label}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
