import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../../infra/sandbox/nodes/process';
import type { Figure, Goal } from './figures';

// The CI smoke of `npm run bench`: every section runs once at its smallest size and reports every
// figure it promises. It judges no goal and asserts no timing: the figures come from `npm run bench`.
jest.setTimeout(900_000);

it('npm run bench -- --quick measures every section and writes the figures', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warren-bench-'));
  try {
    const file = join(dir, 'bench.json');

    const result = await runProcess('npx', ['tsx', join(__dirname, 'run.ts'), '--quick', '--json', file], { timeoutMs: 840_000 });

    expect(result.stderr).not.toContain('bench failed');
    expect(result.exitCode).toBe(0);
    const written = JSON.parse(readFileSync(file, 'utf8')) as { quick: boolean; figures: Figure[]; goals: Goal[] };
    expect(written.quick).toBe(true);
    expect(new Set(written.figures.map((f) => f.section))).toEqual(new Set(['cold-start', 'api-calls', 'sandbox', 'event-isolation', 'node-status', 'roll']));
    for (const f of written.figures) {
      expect({ figure: f.name, finite: f.samples.length > 0 && f.samples.every(Number.isFinite) }).toEqual({ figure: f.name, finite: true });
    }
    for (const g of written.goals) expect({ goal: g.name, finite: Number.isFinite(g.measured) }).toEqual({ goal: g.name, finite: true });
    expect(written.goals.map((g) => g.name)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^launch to member/),
        expect.stringMatching(/^scale-out/),
        expect.stringMatching(/^cleanup/),
        expect.stringMatching(/^cold start heal/),
        expect.stringMatching(/^roll 1 nodes/),
      ]),
    );
    // the table is printed on stdout
    expect(result.stdout).toContain('section');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
