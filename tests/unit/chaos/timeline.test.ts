import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { type Timeline, timelineSvg } from '../../../infra/sandbox/timeline';

/** A run of 60 s: 3 instances, one scaled out to 4, a crash that takes one away for 20 s, a client at 50 msg/s. */
const run: Timeline = {
  samples: Array.from({ length: 61 }, (_, s) => ({
    t: s * 1000,
    desired: s < 10 ? 3 : 4,
    inService: s < 20 ? 3 : s < 30 ? 4 : s < 50 ? 3 : 4,
    serving: s < 22 ? 3 : s < 30 ? 4 : s < 52 ? 3 : 4,
    confirmedPerSecond: s === 0 ? 0 : s >= 30 && s < 33 ? 0 : 50,
  })),
  marks: [
    { t: 10_000, label: 'scale out to 4' },
    { t: 30_000, label: 'crash <i-1>' },
  ],
  heals: [
    { t: 12_000, kind: 'launch', outcome: 'continued' },
    { t: 35_000, kind: 'gone', outcome: 'acted' },
  ],
};

describe('the SVG timeline of a sandbox run', () => {
  const svg = timelineSvg(run, 'a run & its faults');
  const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(svg).svg;
  const polylines = parsed.polyline as Array<{ stroke: string; points: string }>;
  const points = (colour: string) =>
    polylines
      .find((p) => p.stroke === colour)!
      .points.split(' ')
      .map((p) => p.split(',').map(Number) as [number, number]);

  it('is well-formed XML, standalone, with the title escaped', () => {
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(parsed.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(svg).toContain('a run &amp; its faults');
    expect(svg).toContain('crash &lt;i-1&gt;');
  });

  it('draws desired, InService and serving as steps, and the message rate, over the whole width', () => {
    expect(polylines.map((p) => p.stroke)).toEqual(['#999', '#1f77b4', '#2ca02c', '#9467bd']);
    const inService = points('#1f77b4');
    // a step line: two points a sample but the last
    expect(inService).toHaveLength(61 * 2 - 1);
    const xs = inService.map(([x]) => x);
    expect(Math.min(...xs)).toBe(60);
    expect(Math.max(...xs)).toBe(980);
    // one instance fewer from 30 s to 50 s: lower on the plot (SVG y grows downwards)
    const at = (seconds: number) => inService.find(([x]) => x >= 60 + (seconds / 60) * 920)![1];
    expect(at(40)).toBeGreaterThan(at(25));
    expect(at(55)).toBe(at(25));
    expect(points('#9467bd')).toHaveLength(61);
  });

  it('marks each fault or step and each heal', () => {
    expect(svg.match(/stroke="#d33" stroke-dasharray/g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(2);
    expect(svg).toContain('<title>gone: acted</title>');
  });

  it('draws an empty run without failing', () => {
    expect(XMLValidator.validate(timelineSvg({ samples: [], marks: [], heals: [] }, 'nothing'))).toBe(true);
  });
});
