import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processLives, runProcess } from '../../../infra/sandbox/nodes/process';

describe('a program run for a document script', () => {
  it('is killed with the children it started when its command is cancelled', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-cancel-'));
    try {
      const cancel = new AbortController();
      // the script starts a child that would outlive it, writes its pid, and waits
      const running = runProcess('bash', ['-c', `sleep 60 & echo $! > ${dir}/child; wait`], { signal: cancel.signal });
      for (let n = 0; n < 100 && !readFileSafe(join(dir, 'child')); n++) await new Promise((resolve) => setTimeout(resolve, 20));
      const child = Number(readFileSafe(join(dir, 'child')));
      expect(processLives(child)).toBe(true);

      cancel.abort();
      const result = await running;

      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain('[cancelled]');
      for (let n = 0; n < 50 && processLives(child); n++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(processLives(child)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs to completion when its command is not cancelled', async () => {
    const result = await runProcess('bash', ['-c', 'echo done'], { signal: new AbortController().signal });

    expect(result).toEqual({ exitCode: 0, stdout: 'done\n', stderr: '' });
  });
});

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}
