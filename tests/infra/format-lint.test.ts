import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/*
 * Biome formats and lints the TypeScript and JavaScript of the repository (biome.jsonc): `biome ci`
 * changes nothing and fails on any file not formatted as it would write it, or on any lint finding.
 * `npm run format` fixes what it can; `npm run lint` is this check.
 */
const ROOT = join(__dirname, '..', '..');
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');
const biome = (cwd: string, args: string[]) => spawnSync(BIOME, [args[0]!, '--colors=off', ...args.slice(1)], { cwd, encoding: 'utf8' });

describe('biome', () => {
  it('finds every file formatted and no lint finding (biome ci)', () => {
    const run = biome(ROOT, ['ci', '--max-diagnostics=20', '.']);

    expect({ exitCode: run.status, findings: run.status === 0 ? '' : `${run.stdout}${run.stderr}`.slice(0, 6000) }).toEqual({ exitCode: 0, findings: '' });
  });

  it('with the same configuration, refuses a badly formatted file with lint findings and passes a clean one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-biome-'));
    try {
      mkdirSync(join(dir, 'shared'));
      copyFileSync(join(ROOT, 'biome.jsonc'), join(dir, 'biome.jsonc'));
      // the configuration reads what git ignores
      copyFileSync(join(ROOT, '.gitignore'), join(dir, '.gitignore'));
      writeFileSync(join(dir, 'shared', 'bad.ts'), 'export function f(a:any){return a==1}\n');
      writeFileSync(join(dir, 'shared', 'clean.ts'), 'export function f(a: number) {\n  return a === 1;\n}\n');

      const bad = biome(dir, ['ci', 'shared/bad.ts']);
      const clean = biome(dir, ['ci', 'shared/clean.ts']);

      expect(bad.status).not.toBe(0);
      expect(`${bad.stdout}${bad.stderr}`).toEqual(expect.stringContaining('lint/suspicious/noExplicitAny'));
      expect(`${bad.stdout}${bad.stderr}`).toEqual(expect.stringContaining('lint/suspicious/noDoubleEquals'));
      expect(`${bad.stdout}${bad.stderr}`).toEqual(expect.stringContaining('format'));
      expect({ exitCode: clean.status, output: clean.status === 0 ? '' : clean.stdout + clean.stderr }).toEqual({ exitCode: 0, output: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
