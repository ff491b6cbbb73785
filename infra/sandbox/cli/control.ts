import { processLives } from '../nodes/process';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

/**
 * The control protocol between `warren sandbox ...` and the daemon: HTTP over a unix socket in the
 * state dir. Every response is newline-delimited JSON: any number of progress lines, then exactly one
 * final line, so long requests (startup, wait) show what they are waiting for while they wait.
 */

export type ControlLine = { progress: string[] } | { ok: true; result: unknown } | { ok: false; error: string };

export interface StatePaths {
  dir: string;
  pid: string;
  socket: string;
  log: string;
  snapshot: string;
}

export const NOT_RUNNING = 'no sandbox is running: start one with `npx warren sandbox up`';

export function statePaths(env: NodeJS.ProcessEnv = process.env): StatePaths {
  const dir = env.WARREN_SANDBOX_DIR || '/tmp/warren-sandbox';
  return { dir, pid: join(dir, 'daemon.pid'), socket: join(dir, 'control.sock'), log: join(dir, 'daemon.log'), snapshot: join(dir, 'sandbox.json') };
}

/** The daemon's pid when its process lives; a pid file left by a crashed daemon counts as none. */
export function runningDaemon(paths: StatePaths): number | undefined {
  if (!existsSync(paths.pid)) return undefined;
  const pid = Number(readFileSync(paths.pid, 'utf8'));
  return Number.isInteger(pid) && pid > 0 && processLives(pid) ? pid : undefined;
}

/** Raised with the daemon's own message when a request fails on its side. */
export class ControlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlError';
  }
}

/**
 * One request to the daemon. Progress lines go to onProgress; resolves with the final result, throws
 * ControlError with the daemon's message, or the socket error when nothing listens.
 */
export function callDaemon<T>(paths: StatePaths, path: string, body: unknown = {}, onProgress?: (reasons: string[]) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request(
      { socketPath: paths.socket, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        let buffered = '';
        let settled = false;
        const take = (line: string) => {
          if (!line.trim()) return;
          const message = JSON.parse(line) as ControlLine;
          if ('progress' in message) onProgress?.(message.progress);
          else if (message.ok) {
            settled = true;
            resolve(message.result as T);
          } else {
            settled = true;
            reject(new ControlError(message.error));
          }
        };
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
            take(buffered.slice(0, newline));
            buffered = buffered.slice(newline + 1);
          }
        });
        res.on('end', () => {
          take(buffered);
          if (!settled) reject(new ControlError('the daemon closed the connection without an answer; see `npx warren sandbox logs`'));
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
