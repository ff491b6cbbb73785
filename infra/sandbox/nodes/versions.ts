import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { majorVersion } from '../../../shared/rabbitmq/operations';
import { runProcess } from './process';

/**
 * The RabbitMQ release lines the sandbox and the tests can run. 3.10 is the host's Debian 12 package
 * (3.10.8, Mnesia); 4.0 comes from Debian 13's archive (4.0.5, Mnesia), 4.3 from Debian 14's (4.3.6,
 * Khepri), each in a root that build-root.sh debootstraps once into .warren/roots and that every node
 * of that line then runs from with chroot (in-root.sh).
 */
export const RABBITMQ_LINES = ['3.10', '4.0', '4.3'] as const;
export type RabbitMqLine = (typeof RABBITMQ_LINES)[number];
/** The newest line; the sandbox's default. */
export const NEWEST_RABBITMQ: RabbitMqLine = '4.3';

const HOST_RABBITMQ_BIN = '/usr/lib/rabbitmq/bin';
/** Reused across runs and sessions; ignored by git. */
export const ROOTS_DIR = join(__dirname, '..', '..', '..', '.warren', 'roots');
/** The Debian suite each chrooted line comes from, and its root. */
const ROOT_OF: Record<Exclude<RabbitMqLine, '3.10'>, { suite: string; dir: string }> = {
  '4.0': { suite: 'trixie', dir: join(ROOTS_DIR, 'trixie-rabbitmq') },
  '4.3': { suite: 'forky', dir: join(ROOTS_DIR, 'forky-rabbitmq') },
};

export interface RabbitMqRuntime {
  line: RabbitMqLine;
  /** 3 or 4: what the policy and the documents' choices depend on */
  major: number;
  /** the Debian package version, e.g. 3.10.8-1.1 or 4.0.5-6 */
  version: string;
  /** the root the nodes run from with chroot; absent for the host's own package */
  root?: string;
}

export function parseRabbitMqLine(value: string): RabbitMqLine {
  if (!RABBITMQ_LINES.includes(value as RabbitMqLine)) throw new Error(`RabbitMQ ${value} is not available: choose one of ${RABBITMQ_LINES.join(', ')}`);
  return value as RabbitMqLine;
}

/** The line a package version belongs to: 4.3.6-1 -> 4.3. */
const lineOf = (version: string) => version.split('.').slice(0, 2).join('.');

/** Fails loudly when the one thing the harness cannot install for itself is missing. */
export function assertRabbitMqInstalled(): void {
  if (!existsSync(join(HOST_RABBITMQ_BIN, 'rabbitmq-server'))) {
    throw new Error(`rabbitmq-server is not installed (${HOST_RABBITMQ_BIN}/rabbitmq-server missing); install the Debian package rabbitmq-server`);
  }
}

function hostRuntime(): RabbitMqRuntime {
  assertRabbitMqInstalled();
  const version = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'rabbitmq-server'], { encoding: 'utf8' }).trim();
  if (lineOf(version) !== '3.10') throw new Error(`the host's rabbitmq-server is ${version}, not 3.10`);
  return { line: '3.10', major: 3, version };
}

/** The root of a chrooted line, built on first use (about a minute, needs Debian's archive). */
async function rootRuntime(line: Exclude<RabbitMqLine, '3.10'>): Promise<RabbitMqRuntime> {
  if (process.getuid?.() !== 0) throw new Error(`RabbitMQ ${line} nodes run from a Debian root with chroot, which needs root`);
  const { suite, dir } = ROOT_OF[line];
  const built = await runProcess('bash', [join(__dirname, 'build-root.sh'), dir, suite], { timeoutMs: 15 * 60_000 });
  if (built.exitCode !== 0) throw new Error(`cannot prepare RabbitMQ ${line}: ${built.stderr.trim()}`);
  const version = built.stdout.trim();
  if (lineOf(version) !== line) throw new Error(`the root at ${dir} has RabbitMQ ${version}, not ${line}`);
  return { line, major: majorVersion(version), version, root: dir };
}

/** The runtime of one line, ready to start nodes. */
export function prepareRabbitMq(line: RabbitMqLine): Promise<RabbitMqRuntime> {
  return line === '3.10' ? Promise.resolve().then(hostRuntime) : rootRuntime(line);
}

/**
 * The line to run: the one asked for, else the newest this machine can prepare. A default that cannot
 * be prepared (no network for the first build, not root) falls back to 3.10 and says why.
 */
export async function chooseRabbitMq(requested?: RabbitMqLine): Promise<{ runtime: RabbitMqRuntime; note?: string }> {
  if (requested !== undefined) return { runtime: await prepareRabbitMq(requested) };
  try {
    return { runtime: await prepareRabbitMq(NEWEST_RABBITMQ) };
  } catch (error) {
    return {
      runtime: await prepareRabbitMq('3.10'),
      note: `RabbitMQ ${NEWEST_RABBITMQ} is not available here (${(error as Error).message}); running RabbitMQ 3.10`,
    };
  }
}
