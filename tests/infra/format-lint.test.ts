import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/*
 * Biome formats and lints the TypeScript and JavaScript of the repository (biome.jsonc): `biome ci`
 * changes nothing and fails on any file not formatted as it would write it, or on any lint finding.
 * `npx biome check --write .` fixes what it can.
 */
const ROOT = join(__dirname, '..', '..');
const biome = (args: string[], input?: string) => spawnSync(join(ROOT, 'node_modules', '.bin', 'biome'), args, { cwd: ROOT, encoding: 'utf8', input });

describe('biome', () => {
  it('finds every file formatted and no lint finding (biome ci)', () => {
    const run = biome(['ci', '--colors=off', '--max-diagnostics=20', '.']);

    expect({ exitCode: run.status, findings: run.status === 0 ? '' : `${run.stdout}${run.stderr}`.slice(0, 6000) }).toEqual({ exitCode: 0, findings: '' });
  });

  it('checks the code: a badly formatted source with a lint finding is refused', () => {
    const refused = biome(['check', '--colors=off', '--stdin-file-path=shared/example.ts'], 'export function f(a:any){return a==1}\n');

    expect(refused.error).toBeUndefined();
    expect(refused.status).not.toBe(0);
    expect(`${refused.stdout}${refused.stderr}`).toMatch(/noExplicitAny|noDoubleEquals|format/);
  });
});
