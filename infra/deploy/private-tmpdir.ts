import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Runs `run` with an environment whose TMPDIR is a fresh directory, removed afterwards, whatever
 * `run` does. For `serverless package` and `serverless deploy`: serverless-esbuild 1.57 stages each
 * function's zip in a directory under the OS temp dir and never removes it (its cleanup is a
 * non-recursive remove whose error it swallows, floydspace/serverless-esbuild#589), about 11 MB per
 * function per run.
 */
export function withPrivateTmpdir<T>(run: (env: NodeJS.ProcessEnv) => T): T {
  const scratch = mkdtempSync(join(tmpdir(), 'warren-tmp-'));
  try {
    return run({ ...process.env, TMPDIR: scratch });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
