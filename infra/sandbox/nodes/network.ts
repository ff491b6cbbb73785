import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mustRun, processLives, runProcess } from './process';

/**
 * Network namespaces for sandbox nodes (root only): one bridge per run (wrnbr-<run>), one namespace
 * per node (wrn-<run>-<n>) with a veth on the bridge, and /etc/netns/<ns>/hosts so every node
 * resolves every other node's EC2-style hostname.
 */

export const NAMESPACE_PREFIX = 'wrn-';
export const BRIDGE_PREFIX = 'wrnbr-';
/** Every sandbox run keeps its files under here, one folder per run. */
export const RUNS_DIR = '/tmp/warren-nodes';

export const bridgeName = (run: string) => `${BRIDGE_PREFIX}${run}`;
export const namespaceName = (run: string, index: number) => `${NAMESPACE_PREFIX}${run}-${index}`;
const hostVethName = (run: string, index: number) => `${NAMESPACE_PREFIX}${run}-${index}h`;

export function canUseNamespaces(): boolean {
  return process.getuid?.() === 0 && ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip'].some((path) => existsSync(path));
}

/** The host's address on a run's bridge: the one address of the host its nodes reach. */
export const bridgeAddress = (subnet: number) => `10.213.${subnet}.1`;

export async function createBridge(run: string, subnet: number): Promise<void> {
  const bridge = bridgeName(run);
  await mustRun('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await mustRun('ip', ['addr', 'add', `${bridgeAddress(subnet)}/24`, 'dev', bridge]);
  await mustRun('ip', ['link', 'set', bridge, 'up']);
}

export async function createNamespace(run: string, index: number, ip: string): Promise<string> {
  const ns = namespaceName(run, index);
  const veth = hostVethName(run, index);
  await mustRun('ip', ['netns', 'add', ns]);
  await mustRun('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await mustRun('ip', ['link', 'set', veth, 'master', bridgeName(run), 'up']);
  await mustRun('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  await mustRun('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  await mustRun('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  mkdirSync(`/etc/netns/${ns}`, { recursive: true });
  return ns;
}

/**
 * Writes the hosts file of every namespace of the run. Written in place (same inode) because
 * `ip netns exec` bind-mounts the file: running nodes see the new entries without a restart.
 */
export function writeHostsFiles(namespaces: string[], hosts: Array<{ ip: string; hostname: string }>): void {
  const content = ['127.0.0.1 localhost', ...hosts.map((h) => `${h.ip} ${h.hostname}`), ''].join('\n');
  for (const ns of namespaces) writeFileSync(`/etc/netns/${ns}/hosts`, content);
}

/** Cuts (or restores) a node's network link, for partition tests. */
export async function setLinkUp(run: string, index: number, up: boolean): Promise<void> {
  await mustRun('ip', ['link', 'set', hostVethName(run, index), up ? 'up' : 'down']);
}

async function killNamespaceProcesses(ns: string): Promise<void> {
  const pids = (await runProcess('ip', ['netns', 'pids', ns])).stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export async function deleteNamespace(ns: string): Promise<void> {
  await killNamespaceProcesses(ns);
  await runProcess('ip', ['netns', 'del', ns]);
  rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
}

export async function deleteBridge(run: string): Promise<void> {
  await runProcess('ip', ['link', 'del', bridgeName(run)]);
}

/** A run is abandoned when the process that created it is gone. */
export function runIsAbandoned(run: string): boolean {
  const ownerFile = join(RUNS_DIR, run, 'owner.pid');
  if (!existsSync(ownerFile)) return true;
  return !processLives(Number(readFileSync(ownerFile, 'utf8')));
}

/** Kills the RabbitMQ and epmd processes a crashed loopback run left behind (found by pid file). */
function killLoopbackLeftovers(runDir: string): void {
  for (const entry of readdirSync(runDir, { withFileTypes: true })) {
    const pidFile = join(runDir, entry.name, 'rabbit.pid');
    if (!entry.isDirectory() || !existsSync(pidFile)) continue;
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Removes what a crashed earlier run left: its namespaces (and the beam/epmd processes in them),
 * bridge, hosts files and folders. Runs whose owning process still lives are left alone, so
 * parallel test runs do not destroy each other. Returns the runs it removed.
 */
export async function removeLeftovers(): Promise<string[]> {
  const runs = new Set<string>();
  const isRoot = process.getuid?.() === 0;
  if (isRoot) {
    const namespaces = (await runProcess('ip', ['netns', 'list'])).stdout
      .split('\n')
      .map((line) => line.split(' ')[0] ?? '')
      .filter((name) => name.startsWith(NAMESPACE_PREFIX));
    for (const ns of namespaces) {
      const run = ns.slice(NAMESPACE_PREFIX.length).replace(/-\d+$/, '');
      if (!runIsAbandoned(run)) continue;
      runs.add(run);
      await deleteNamespace(ns);
    }
    const bridges = (await runProcess('ip', ['-o', 'link', 'show', 'type', 'bridge'])).stdout
      .split('\n')
      .map((line) => line.split(':')[1]?.trim() ?? '')
      .filter((name) => name.startsWith(BRIDGE_PREFIX));
    for (const bridge of bridges) {
      const run = bridge.slice(BRIDGE_PREFIX.length);
      if (!runIsAbandoned(run)) continue;
      runs.add(run);
      await deleteBridge(run);
    }
    if (existsSync('/etc/netns')) {
      for (const ns of readdirSync('/etc/netns').filter((name) => name.startsWith(NAMESPACE_PREFIX))) {
        const run = ns.slice(NAMESPACE_PREFIX.length).replace(/-\d+$/, '');
        if (runIsAbandoned(run)) rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
      }
    }
  }
  if (existsSync(RUNS_DIR)) {
    for (const run of readdirSync(RUNS_DIR)) {
      if (!runIsAbandoned(run)) continue;
      runs.add(run);
      killLoopbackLeftovers(join(RUNS_DIR, run));
      rmSync(join(RUNS_DIR, run), { recursive: true, force: true });
    }
  }
  return [...runs];
}
