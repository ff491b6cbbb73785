import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../../../infra/sandbox/nodes/process';
import { parseRabbitMqLine } from '../../../infra/sandbox/nodes';

const BUILD_ROOT = join(__dirname, '../../../infra/sandbox/nodes/build-root.sh');

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
