import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../../../infra/sandbox/nodes/process';
import { parseRabbitMqLine } from '../../../infra/sandbox/nodes';

const BUILD_ROOT = join(__dirname, '../../../infra/sandbox/nodes/build-root.sh');
/** The list build-root.sh debootstraps with: infra/node/packages.txt without its comments, comma-separated. */
const PACKAGES = readFileSync(join(__dirname, '../../../infra/node/packages.txt'), 'utf8')
  .replace(/\n$/, '')
  .split('\n')
  .filter((line) => !line.startsWith('#'))
  .join(',');
const UNREACHABLE = { ...process.env, WARREN_DEBIAN_MIRROR: 'http://127.0.0.1:9/debian' };

/** A root as build-root.sh leaves it (no Debian inside: only its marker, and the list it was built from when given). */
function fakeRoot(dir: string, builtWith?: string): string {
  const root = join(dir, 'trixie-rabbitmq');
  mkdirSync(root);
  writeFileSync(join(root, '.warren-root'), '4.0.5-6');
  if (builtWith !== undefined) writeFileSync(join(root, '.warren-packages'), builtWith);
  return root;
}

describe('the RabbitMQ roots of Debian 13 and 14', () => {
  it("fails with a clear message, and leaves no half-built root, when Debian's archive cannot be reached", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-root-'));
    try {
      const root = join(dir, 'trixie-rabbitmq');

      const result = await runProcess('bash', [BUILD_ROOT, root], {
        env: { ...process.env, WARREN_DEBIAN_MIRROR: 'http://127.0.0.1:9/debian' },
        timeoutMs: 120_000,
      });

      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain("debootstrap of trixie from http://127.0.0.1:9/debian failed (is Debian's archive reachable?)");
      expect(existsSync(join(root, '.warren-root'))).toBe(false);
      expect(existsSync(root)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reuses a root built from the packages of infra/node/packages.txt, and removes an older root nothing runs in', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-root-'));
    try {
      const root = fakeRoot(dir, PACKAGES);
      mkdirSync(`${root}.old.12345`);

      const result = await runProcess('bash', [BUILD_ROOT, root], { env: UNREACHABLE, timeoutMs: 60_000 });

      expect(result).toMatchObject({ exitCode: 0, stdout: '4.0.5-6', stderr: '' });
      expect(existsSync(`${root}.old.12345`)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['another package list', 'rabbitmq-server,jq,coreutils', '(rabbitmq-server,jq,coreutils)'],
    ['no recorded list (built before lists were recorded)', undefined, '(not recorded)'],
  ])('builds a root of %s again, and keeps it while its successor cannot be built', async (_, builtWith, said) => {
    expect(PACKAGES).toContain('curl');
    const dir = mkdtempSync(join(tmpdir(), 'warren-root-'));
    try {
      const root = fakeRoot(dir, builtWith);

      const result = await runProcess('bash', [BUILD_ROOT, root], { env: UNREACHABLE, timeoutMs: 120_000 });

      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(`the root in ${root} was built from other packages than ${PACKAGES} ${said}: building it again`);
      expect(result.stderr).toContain('debootstrap of trixie from http://127.0.0.1:9/debian failed');
      expect(readFileSync(join(root, '.warren-root'), 'utf8')).toBe('4.0.5-6');
      expect(readdirSync(dir).filter((name) => name.includes('.building.'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the release lines it can run', () => {
    expect(parseRabbitMqLine('4.3')).toBe('4.3');
    expect(() => parseRabbitMqLine('4')).toThrow('RabbitMQ 4 is not available: choose one of 3.10, 4.0, 4.3');
  });

  it('refuses a Debian suite it has no root for, and builds nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-root-'));
    try {
      const result = await runProcess('bash', [BUILD_ROOT, join(dir, 'bookworm-rabbitmq'), 'bookworm']);

      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain("no root for Debian suite 'bookworm' (trixie or forky)");
      expect(existsSync(join(dir, 'bookworm-rabbitmq'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
