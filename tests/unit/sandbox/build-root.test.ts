import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../../../infra/sandbox/nodes/process';
import { parseRabbitMqMajor } from '../../../infra/sandbox/nodes';

const BUILD_ROOT = join(__dirname, '../../../infra/sandbox/nodes/build-root.sh');

describe('the RabbitMQ 4.x root', () => {
  it('fails with a clear message, and leaves no half-built root, when Debian\'s archive cannot be reached', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-root-'));
    try {
      const root = join(dir, 'trixie-rabbitmq');

      const result = await runProcess('bash', [BUILD_ROOT, root], { env: { ...process.env, WARREN_DEBIAN_MIRROR: 'http://127.0.0.1:9/debian' }, timeoutMs: 120_000 });

      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain('debootstrap of trixie from http://127.0.0.1:9/debian failed (is Debian\'s archive reachable?)');
      expect(existsSync(join(root, '.warren-root'))).toBe(false);
      expect(existsSync(root)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the generations it can run', () => {
    expect(parseRabbitMqMajor('4')).toBe(4);
    expect(() => parseRabbitMqMajor('5')).toThrow('RabbitMQ 5 is not available: choose one of 3, 4');
  });
});
