import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { majorVersion } from '../../../shared/rabbitmq/operations';
import { runProcess } from './process';

/**
 * The RabbitMQ generations the sandbox and the tests can run. 3 is the host's Debian 12 package
 * (3.10.8); 4 comes from Debian 13's archive (4.0.5) in a root that build-root.sh debootstraps once
 * into .warren/roots and that every 4.x node then runs from with chroot (in-root.sh).
 */
export const RABBITMQ_MAJORS = [3, 4] as const;
export type RabbitMqMajor = (typeof RABBITMQ_MAJORS)[number];
/** The newest generation; the sandbox's default. */
export const NEWEST_RABBITMQ: RabbitMqMajor = 4;

const HOST_RABBITMQ_BIN = '/usr/lib/rabbitmq/bin';
/** Reused across runs and sessions; ignored by git. */
export const ROOTS_DIR = join(__dirname, '..', '..', '..', '.warren', 'roots');
const ROOT_OF: Record<Exclude<RabbitMqMajor, 3>, string> = { 4: join(ROOTS_DIR, 'trixie-rabbitmq') };

export interface RabbitMqRuntime {
  major: RabbitMqMajor;
  /** the Debian package version, e.g. 3.10.8-1.1 or 4.0.5-6 */
  version: string;
  /** the root the nodes run from with chroot; absent for the host's own package */
  root?: string;
}

export function parseRabbitMqMajor(value: string | number): RabbitMqMajor {
  const major = Number(value);
  if (!RABBITMQ_MAJORS.includes(major as RabbitMqMajor)) throw new Error(`RabbitMQ ${value} is not available: choose one of ${RABBITMQ_MAJORS.join(', ')}`);
  return major as RabbitMqMajor;
}

/** Fails loudly when the one thing the harness cannot install for itself is missing. */
export function assertRabbitMqInstalled(): void {
  if (!existsSync(join(HOST_RABBITMQ_BIN, 'rabbitmq-server'))) {
    throw new Error(`rabbitmq-server is not installed (${HOST_RABBITMQ_BIN}/rabbitmq-server missing); install the Debian package rabbitmq-server`);
  }
}

function hostRuntime(): RabbitMqRuntime {
  assertRabbitMqInstalled();
  const version = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'rabbitmq-server'], { encoding: 'utf8' }).trim();
  if (majorVersion(version) !== 3) throw new Error(`the host's rabbitmq-server is ${version}, not 3.x`);
  return { major: 3, version };
}

/** The root of a 4.x node, built on first use (about a minute, needs Debian's archive). */
async function rootRuntime(major: 4): Promise<RabbitMqRuntime> {
  if (process.getuid?.() !== 0) throw new Error(`RabbitMQ ${major} nodes run from a Debian 13 root with chroot, which needs root`);
  const root = ROOT_OF[major];
  const built = await runProcess('bash', [join(__dirname, 'build-root.sh'), root], { timeoutMs: 15 * 60_000 });
  if (built.exitCode !== 0) throw new Error(`cannot prepare RabbitMQ ${major}: ${built.stderr.trim()}`);
  const version = built.stdout.trim();
  if (majorVersion(version) !== major) throw new Error(`the root at ${root} has RabbitMQ ${version}, not ${major}.x`);
  return { major, version, root };
}

/** The runtime of one generation, ready to start nodes. */
export function prepareRabbitMq(major: RabbitMqMajor): Promise<RabbitMqRuntime> {
  return major === 3 ? Promise.resolve().then(hostRuntime) : rootRuntime(major);
}

/**
 * The generation to run: the one asked for, else the newest this machine can prepare. A default that
 * cannot be prepared (no network for the first build, not root) falls back to 3 and says why.
 */
export async function chooseRabbitMq(requested?: RabbitMqMajor): Promise<{ runtime: RabbitMqRuntime; note?: string }> {
  if (requested !== undefined) return { runtime: await prepareRabbitMq(requested) };
  try {
    return { runtime: await prepareRabbitMq(NEWEST_RABBITMQ) };
  } catch (error) {
    return { runtime: await prepareRabbitMq(3), note: `RabbitMQ ${NEWEST_RABBITMQ} is not available here (${(error as Error).message}); running RabbitMQ 3` };
  }
}
