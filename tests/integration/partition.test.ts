import { LocalAwsEndpoint } from '../../infra/sandbox/aws/endpoint';
import { ssmApi } from '../../infra/sandbox/aws/ssm-api';
import { createAwsClients } from '../../shared/aws/clients';
import { SsmNodeShell } from '../../shared/aws/node-shell';
import { realTimeScheduler } from '../../infra/sandbox/cloud/scheduler';
import { LocalRunCommand, type CommandTargets } from '../../infra/sandbox/cloud/ssm';
import { type NodeCluster, type SandboxNode, removeLeftovers, startCluster } from '../../infra/sandbox/nodes';
import type { ReconcileAction } from '../../shared/cluster/reconcile-plan';
import { parseNodeOutput, type NodeStatus } from '../../shared/rabbitmq/operations';
import { reconcile } from '../../shared/workflows/reconcile';
import { testConfig } from '../support/config';
import { FakeCloud } from '../support/fake-cloud';

/*
 * Real cuts between network namespaces (the node's veth down) on a real 3-node cluster per RabbitMQ
 * generation, with the shipped net_ticktime (60 s: a cut is noticed after 45-75 s). Reconcile runs
 * for real against the nodes: its statuses and the restart come from the SSM documents through the
 * sandbox's Run Command; only the AWS inventory and the target groups are the unit tests' fake cloud.
 */
jest.setTimeout(600_000);

// Bounds with room for a loaded machine (2 shared cores): unloaded, a cut is noticed in 75-105 s and
// pause_minority resumes the node about 6 s after the cut ends.
const CUT_NOTICED_MS = 240_000;
const HEALED_MS = 240_000;
const config = testConfig();
const seconds = (since: number) => Number(((Date.now() - since) / 1000).toFixed(1));

beforeAll(async () => {
  await removeLeftovers();
});

// pause_minority and the restart of a losing side are Mnesia's: 4.3 (Khepri) has neither
const MNESIA_LINES = ['3.10', '4.0'] as const;

/** One generation's 3-node cluster and its three stories; the generations run side by side (the cuts wait on net_ticktime, not on the CPU). */
function partitionLine(line: (typeof MNESIA_LINES)[number]) {
  const major = Number(line.split('.')[0]) as 3 | 4;
  let cluster: NodeCluster;
  let nodes: SandboxNode[];
  let cloud: FakeCloud;
  let runCommand: LocalRunCommand;
  let endpoint: LocalAwsEndpoint;
  let shell: SsmNodeShell;
  const instanceIdOf = (node: SandboxNode) => `i-00000000000000${String(node.index).padStart(3, '0')}`;
  const winners = () => nodes.slice(0, 2);
  const loser = () => nodes[2]!;

  /** What identifies a running app: its OS process (new when the node restarts) and rabbit_sup (new when the app restarts). */
  const appIdentity = async (node: SandboxNode) =>
    (await cluster.rabbitmqctl(node, ['eval', 'list_to_binary(os:getpid() ++ " " ++ pid_to_list(whereis(rabbit_sup))).'])).stdout.trim();
  const status = async (node: SandboxNode): Promise<NodeStatus | Error> => {
    const result = await cluster.runDocument(node, 'NodeStatus');
    return result.exitCode === 0 ? parseNodeOutput('status', result.stdout) : new Error(result.stderr.trim().slice(0, 200));
  };
  const running = async (node: SandboxNode) => {
    const seen = await status(node);
    return seen instanceof Error ? [] : seen.members.running;
  };
  const reportsPartition = (seen: NodeStatus | Error) => !(seen instanceof Error) && Object.values(seen.partitions).some((p) => p.length > 0);
  /** Polls `probe` until it returns a value; past the bound, fails with what the probe last saw. */
  async function until<T>(what: string, boundMs: number, probe: (saw: (seen: unknown) => void) => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + boundMs;
    let last: unknown;
    for (;;) {
      const value = await probe((seen) => (last = seen));
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${boundMs / 1000} s; last seen: ${JSON.stringify(last)?.slice(0, 3000)}`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
  /** One reconcile tick; a failed one carries the errors the workflow logged. */
  const tick = async (dryRun: boolean) => {
    const logged = cloud.logs.length;
    try {
      return await reconcile({ kind: 'reconcile', id: 'evt-tick', time: Date.now(), dryRun }, cloud.deps({ nodes: shell }));
    } catch (error) {
      throw new Error(`${String(error)}: ${JSON.stringify(cloud.logs.slice(logged).filter((l) => l.level === 'error'))}`);
    }
  };
  /** A document's JSON result; a failed run shows its stderr. */
  const resultOf = async (node: SandboxNode, params: Record<string, string>) => {
    const run = await cluster.runDocument(node, 'NodeRestart', params);
    expect({ exitCode: run.exitCode, stderr: run.stderr }).toMatchObject({ exitCode: 0 });
    return parseNodeOutput('restart', run.stdout);
  };

  const setup = async () => {
    cluster = await startCluster({ size: 3, prefix: `part${major}`, rabbitmq: line });
    nodes = cluster.nodes;
    const byInstance = new Map(nodes.map((node) => [instanceIdOf(node), node]));
    const targets: CommandTargets = {
      agentState: (id) => (byInstance.has(id) ? { state: 'ready', since: 0 } : undefined),
      runDocument: (id, document, params) => cluster.runDocument(byInstance.get(id)!, document, params),
    };
    runCommand = new LocalRunCommand({ targets, scheduler: realTimeScheduler, documentPrefix: config.ssmDocumentPrefix, agentPollMs: 100 });
    // warren's own SSM adapter over real SDK clients, against the local AWS endpoint
    endpoint = await LocalAwsEndpoint.start([ssmApi(runCommand)], { region: 'us-east-1' });
    shell = new SsmNodeShell(config, createAwsClients(endpoint.clientOptions()), { poll: { minDelay: 0.2, maxDelay: 1 } });
    cloud = new FakeCloud(config);
    for (const node of nodes) {
      const instance = cloud.addMember(instanceIdOf(node), major === 4 ? '4.0.5' : '3.10.8');
      Object.assign(instance, { dns: `${node.hostname}.ec2.internal`, nodeTag: node.name });
      instance.node.name = node.name;
    }
    // a first real tick applies the version's policy, so later plans show only what the cut causes
    await tick(false);
  };

  const teardown = async () => {
    await endpoint?.close();
    await cluster?.destroy();
  };

  /** With the shipped pause_minority, the cut node pauses, reconcile leaves it paused, and the cluster heals itself. */
  const pauseMinority = async () => {
    const before = await Promise.all(winners().map(appIdentity));
    const plans: Array<{ actions: ReconcileAction[]; loserPaused: boolean }> = [];
    const cutAt = Date.now();
    await cluster.setNetwork(loser(), false);

    const paused = await until('the cut node paused', CUT_NOTICED_MS, async (saw) => {
      const plan = await tick(true);
      const loserPaused = (plan.details!.findings as Array<{ kind: string }>).some((f) => f.kind === 'paused');
      plans.push({ actions: plan.details!.actions as ReconcileAction[], loserPaused });
      const seen = await status(loser());
      saw({ seen: String(seen instanceof Error ? seen : JSON.stringify(seen)), plan: plan.details });
      return !(seen instanceof Error) && seen.paused ? seen : undefined;
    });
    const pausedAfter = seconds(cutAt);
    const whilePaused = await tick(true);
    // what a join would do to it: NodeJoin's start_app made a paused node serve alone (a split brain
    // that outlived the cut, seen here before NodeJoin refused); now it refuses and the node stays paused
    const join = await cluster.runDocument(loser(), 'NodeJoin', {
      Peers: winners()
        .map((n) => n.name)
        .join(','),
      GrowQuorum: 'false',
      TimeoutSeconds: '30',
    });
    const stillPaused = await status(loser());
    expect({ exitCode: join.exitCode, stderr: join.stderr }).toEqual({ exitCode: 1, stderr: expect.stringContaining('paused by partition handling') });
    expect(stillPaused).toMatchObject({ running: false, paused: true });

    const reconnectedAt = Date.now();
    await cluster.setNetwork(loser(), true);
    await until('all three running again', HEALED_MS, async (saw) => {
      const views = await Promise.all(nodes.map(running));
      saw(views);
      return views.every((view) => view.length === 3) ? true : undefined;
    });
    const healedAfter = seconds(reconnectedAt);
    const healed = await tick(true);

    expect(paused).toMatchObject({ node: loser().name, running: false, paused: true, members: { running: [] } });
    expect(whilePaused.details!.findings).toContainEqual({ kind: 'paused', node: loser().name, instanceId: instanceIdOf(loser()) });
    expect(whilePaused.details!.actions).toEqual([{ kind: 'deregister', instanceId: instanceIdOf(loser()) }]);
    for (const { actions, loserPaused } of plans) {
      // never a forget or a restart; the cut node only taken off the load balancer, or, while it still
      // runs with a minority view before pausing, joined (NodeJoin then finds it a member and starts nothing)
      expect(actions.filter((a) => a.kind !== 'deregister' && !(a.kind === 'join' && !loserPaused))).toEqual([]);
      expect(actions.every((a) => 'instanceId' in a && a.instanceId === instanceIdOf(loser()))).toBe(true);
    }
    expect(healed.details!.actions).toEqual([]);
    expect(await Promise.all(winners().map(appIdentity))).toEqual(before);
    console.log(`RabbitMQ ${line}, pause_minority: paused ${pausedAfter} s after the cut, all running ${healedAfter} s after reconnecting`);
  };

  /** A partition that outlived the cut is repaired by restarting the losing node only. */
  const outlivedCut = async () => {
    for (const node of nodes) {
      const set = await cluster.rabbitmqctl(node, ['eval', 'application:set_env(rabbit, cluster_partition_handling, ignore).']);
      expect(set.stdout.trim()).toBe('ok');
    }
    const winnersBefore = await Promise.all(winners().map(appIdentity));
    const loserBefore = await appIdentity(loser());
    const startedAt = Date.now();
    await cluster.setNetwork(loser(), false);
    await until('both sides notice the cut', CUT_NOTICED_MS, async (saw) => {
      const [winnerView, loserView] = await Promise.all([running(nodes[0]!), running(loser())]);
      saw({ winnerView, loserView });
      return !winnerView.includes(loser().name) && loserView.length === 1 ? true : undefined;
    });
    await cluster.setNetwork(loser(), true);
    await until('both sides report the partition', HEALED_MS, async (saw) => {
      const seen = await Promise.all([status(nodes[0]!), status(loser())]);
      saw(seen.map((s) => (s instanceof Error ? String(s) : { running: s.members.running, partitions: s.partitions })));
      return seen.every(reportsPartition) ? true : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const persisting = await Promise.all(nodes.map(status));
    const partitionLasted = seconds(startedAt);

    const planned = await tick(true);
    const repairStartedAt = Date.now();
    const repaired = await tick(false);
    const repairTook = seconds(repairStartedAt);
    const after = await Promise.all(nodes.map(status));
    const next = await tick(true);

    expect(persisting.every(reportsPartition)).toBe(true);
    expect((persisting[2] as NodeStatus).members.running).toEqual([loser().name]);
    const restart = {
      kind: 'restart',
      instanceId: instanceIdOf(loser()),
      node: loser().name,
      survivors: winners()
        .map((n) => n.name)
        .sort(),
    };
    expect(planned.details!.actions).toEqual([restart, { kind: 'deregister', instanceId: instanceIdOf(loser()) }]);
    expect(planned.details!.partition).toEqual({
      sides: [
        winners()
          .map((n) => n.name)
          .sort(),
        [loser().name],
      ],
      winner: restart.survivors,
      losers: [loser().name],
    });
    expect(repaired.result).toBe('acted');
    expect(repaired.details!.actions).toContainEqual(restart);
    expect(runCommand.sent.filter((c) => c.DocumentName.endsWith('NodeRestart')).map((c) => c.InstanceIds)).toEqual([[instanceIdOf(loser())]]);
    expect(cloud.metric('PartitionRepairs')).toBe(1);
    // the winning side was never restarted; the losing node was
    expect(await Promise.all(winners().map(appIdentity))).toEqual(winnersBefore);
    expect(await appIdentity(loser())).not.toBe(loserBefore);
    for (const seen of after) {
      expect(seen).toMatchObject({ running: true, partitions: {} });
      expect((seen as NodeStatus).members.running).toEqual(nodes.map((n) => n.name).sort());
    }
    expect((next.details!.actions as ReconcileAction[]).filter((a) => a.kind !== 'register')).toEqual([]);
    expect(next.details!.partition).toBeUndefined();
    console.log(`RabbitMQ ${line}, ignore: partition seen from both sides ${partitionLasted} s after the cut; reconcile repaired it in ${repairTook} s`);
  };

  /** NodeRestart refuses to stop while no survivor runs, and stops and starts in halves; NodeJoin still starts an app stopped by hand. */
  const restartInHalves = async () => {
    const survivors = winners()
      .map((n) => n.name)
      .join(',');
    const nobody = `rabbit@${loser().hostname.replace(/-\d+$/, '-99')}`;

    const refused = await resultOf(loser(), { Survivors: nobody, TimeoutSeconds: '120' });
    const runningAfterRefusal = await running(loser());
    const stopped = await resultOf(loser(), { Survivors: survivors, Step: 'stop', TimeoutSeconds: '120' });
    const started = await resultOf(loser(), { Survivors: survivors, Step: 'start', TimeoutSeconds: '180' });

    expect(refused).toMatchObject({ node: loser().name, done: false, reason: 'no-survivor-running' });
    expect(runningAfterRefusal).toHaveLength(3);
    expect(stopped).toMatchObject({ step: 'stop', done: true, running: false, members: { running: [] } });
    expect(started).toMatchObject({ step: 'start', done: true, running: true, members: { running: nodes.map((n) => n.name).sort() } });

    // the repair reconcile plans for a member whose app crashed or was stopped: not paused, so NodeJoin starts it
    await cluster.rabbitmqctl(loser(), ['stop_app']);
    const join = await cluster.runDocument(loser(), 'NodeJoin', { Peers: survivors, GrowQuorum: 'false', TimeoutSeconds: '180' });
    expect({ exitCode: join.exitCode, stderr: join.stderr }).toMatchObject({ exitCode: 0 });
    expect(parseNodeOutput('join', join.stdout)).toMatchObject({
      node: loser().name,
      action: 'already-member',
      members: { running: nodes.map((n) => n.name).sort() },
    });
  };

  return { line, setup, teardown, pauseMinority, outlivedCut, restartInHalves };
}

type Line = ReturnType<typeof partitionLine>;
/** Runs a story on every line at once and waits for all of them; a failure names its line. */
async function onEveryLine(lines: Line[], story: (l: Line) => Promise<void>) {
  const settled = await Promise.allSettled(lines.map(story));
  const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [`RabbitMQ ${lines[i]!.line}: ${String(s.reason?.stack ?? s.reason)}`] : []));
  if (failed.length > 0) throw new Error(failed.join('\n\n'));
}

describe(`on RabbitMQ ${MNESIA_LINES.join(' and ')}, side by side`, () => {
  const lines = MNESIA_LINES.map(partitionLine);
  beforeAll(() => onEveryLine(lines, (l) => l.setup()));
  afterAll(() => onEveryLine(lines, (l) => l.teardown()));

  it('with the shipped pause_minority, the cut node pauses, reconcile leaves it paused, and the cluster heals itself', () =>
    onEveryLine(lines, (l) => l.pauseMinority()));
  it('repairs a partition that outlived the cut by restarting the losing node only', () => onEveryLine(lines, (l) => l.outlivedCut()));
  it('NodeRestart refuses to stop while no survivor runs, and stops and starts in halves; NodeJoin still starts an app stopped by hand', () =>
    onEveryLine(lines, (l) => l.restartInHalves()));
});
