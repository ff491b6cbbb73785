import * as amqp from 'amqplib';
import { type NodeCluster, type SandboxNode, removeLeftovers, startCluster } from '../../infra/sandbox/nodes';
import { joinableSeries } from '../../shared/cluster/versions';
import { planReconcile, type ReconcilePlan } from '../../shared/cluster/reconcile-plan';
import type { Ec2State, TargetState } from '../../shared/ports';
import { parseNodeOutput, type NodeStatus } from '../../shared/rabbitmq/operations';
import { testConfig } from '../support/config';

/*
 * RabbitMQ 4.3 keeps its metadata in Khepri (Raft): no pause_minority, no partitions to heal by
 * restarting a losing side, and nothing changes without a majority. A real veth cut and real kills on a
 * real 3-node 4.3.6 cluster; the plan is reconcile's own, made from the nodes' own NodeStatus.
 */
jest.setTimeout(600_000);

// net_ticktime is 60 s as shipped: the members notice a cut after 45-75 s; room for 2 loaded cores
const NOTICED_MS = 240_000;
const config = testConfig();
const instanceIdOf = (node: SandboxNode) => `i-0khepri${node.index}`;
const USER = 'khepri-ledger';
const LEDGER = Array.from({ length: 20 }, (_, i) => `entry-${i}`);

beforeAll(async () => {
  await removeLeftovers();
});

describe('on RabbitMQ 4.3 (Khepri)', () => {
  let cluster: NodeCluster;
  let nodes: SandboxNode[];
  /** the instances that replace the two lost ones */
  const replacements: SandboxNode[] = [];

  const statusOf = async (node: SandboxNode): Promise<NodeStatus | Error> => {
    const run = await cluster.runDocument(node, 'NodeStatus');
    return run.exitCode === 0 ? parseNodeOutput('status', run.stdout) : new Error(run.stderr);
  };
  /** what reconcile would plan: the group's three instances InService, EC2 as given, the nodes' own statuses */
  const plan = async (ec2: Partial<Record<string, Ec2State>> = {}, asked = nodes, settings = config): Promise<ReconcilePlan> => {
    const ids = nodes.map(instanceIdOf);
    const targets = new Map<string, TargetState>(ids.map((id) => [id, 'healthy']));
    const statuses = new Map(await Promise.all(asked.map(async (node) => [instanceIdOf(node), await statusOf(node)] as const)));
    return planReconcile(
      {
        group: {
          name: 'rabbit-asg',
          minSize: 1,
          maxSize: 9,
          desiredCapacity: 3,
          instances: ids.map((instanceId) => ({ instanceId, lifecycleState: 'InService', healthStatus: 'Healthy', availabilityZone: 'a' })),
        },
        instances: nodes.map((node) => ({
          instanceId: instanceIdOf(node),
          state: ec2[instanceIdOf(node)] ?? 'running',
          nodeName: node.name,
          autoScalingGroupName: 'rabbit-asg',
        })),
        statuses,
        targets: { amqp: targets, management: new Map(targets) },
      },
      settings,
    );
  };
  const until = async <T>(what: string, boundMs: number, probe: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + boundMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${boundMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
  };

  beforeAll(async () => {
    cluster = await startCluster({ size: 3, prefix: 'khep', rabbitmq: '4.3' });
    nodes = [...cluster.nodes].sort((a, b) => a.name.localeCompare(b.name));
    await cluster.declareQueue(nodes[0]!, 'ledger', 'quorum');
    // confirmed messages that must outlive every story below, the loss of the majority included
    for (const args of [
      ['add_user', USER, USER],
      ['set_permissions', USER, '.*', '.*', '.*'],
    ])
      expect((await cluster.rabbitmqctl(nodes[0]!, args)).exitCode).toBe(0);
    const connection = await amqp.connect(`amqp://${USER}:${USER}@${nodes[0]!.ip}:5672`);
    const channel = await connection.createConfirmChannel();
    for (const message of LEDGER) channel.sendToQueue('ledger', Buffer.from(message), { persistent: true });
    await channel.waitForConfirms();
    // a deprecated feature 4.3 still permits: a transient queue that is not exclusive
    await channel.assertQueue('scratch', { durable: false, exclusive: false, arguments: { 'x-queue-type': 'classic' } });
    await connection.close();
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  it('reports khepri as the metadata store, its leader and the deprecated features in use, and a whole cluster plans nothing', async () => {
    const whole = await plan();

    const status = (await statusOf(nodes[2]!)) as NodeStatus;
    expect(status).toMatchObject({
      version: expect.stringMatching(/^4\.3\./),
      metadataStore: 'khepri',
      running: true,
      featureFlagsDisabled: 0,
      deprecatedFeaturesUsed: ['transient_nonexcl_queues'],
    });
    expect(nodes.map((n) => n.name)).toContain(status.metadataLeader);
    expect(whole.actions.filter((a) => a.kind !== 'apply-policy')).toEqual([]);
    expect(whole.findings).toContainEqual({ kind: 'deprecated-features-used', features: ['transient_nonexcl_queues'] });
    expect(whole.gauges).toMatchObject({ membersRunning: 3, metadataMajorityLost: 0, quorumQueues: { total: 1, degraded: 0, leaderless: 0 } });
  });

  it('a cut member keeps running (no pause, no restart of a losing side): while cut it is only taken off the targets, and it comes back by itself', async () => {
    const cut = nodes[2]!;
    const kinds = new Set<string>();
    await cluster.setNetwork(cut, false);
    try {
      // until the majority counts it down; every plan on the way touches nothing but its targets
      await until('the majority notices the cut', NOTICED_MS, async () => {
        const seen = await plan();
        for (const action of seen.actions) kinds.add(action.kind === 'deregister' && action.instanceId === instanceIdOf(cut) ? 'deregister-cut' : action.kind);
        return seen.runningMembers.length === 2 && !seen.runningMembers.includes(cut.name) ? seen : undefined;
      });
      expect(await statusOf(cut)).toMatchObject({ running: true, paused: false, metadataStore: 'khepri' });
      expect([...kinds].filter((kind) => kind !== 'deregister-cut' && kind !== 'apply-policy')).toEqual([]);
    } finally {
      await cluster.setNetwork(cut, true);
    }

    const healed = await until('the cut member back among the running members', NOTICED_MS, async () => {
      const seen = await plan();
      return seen.runningMembers.length === 3 ? seen : undefined;
    });
    expect(healed.actions.filter((a) => a.kind === 'forget' || a.kind === 'join' || a.kind === 'restart')).toEqual([]);
    // a replica that did not come back with it is planned for repair on it, and the repair makes the queue whole
    for (const action of healed.actions.filter((a) => a.kind === 'repair-replicas')) {
      expect(action).toMatchObject({ node: cut.name });
      const repaired = await cluster.runDocument(cut, 'NodeJoin', { Peers: healed.runningMembers.join(','), GrowQuorum: 'true', TimeoutSeconds: '60' });
      expect(repaired.exitCode).toBe(0);
    }
    const after = await until('the queue whole again', 60_000, async () => {
      const seen = await plan();
      return seen.gauges.quorumQueues?.degraded === 0 ? seen : undefined;
    });
    expect(after.gauges).toMatchObject({ membersRunning: 3, quorumQueues: { total: 1, degraded: 0, leaderless: 0 } });
  });

  it('with two of three members dead and their instances terminated, the survivor runs but nothing is forgotten: majority lost', async () => {
    const [survivor, ...dead] = nodes as [SandboxNode, SandboxNode, SandboxNode];
    for (const node of dead) await cluster.killNode(node);
    const terminated = Object.fromEntries(dead.map((node) => [instanceIdOf(node), 'terminated' as const]));

    const lost = await until('the survivor sees the others down', NOTICED_MS, async () => {
      const seen = await plan(terminated, [survivor]);
      return seen.runningMembers.length === 1 ? seen : undefined;
    });

    const drops = dead.map((n) => n.name).sort();
    expect(lost.findings).toContainEqual({
      kind: 'majority-lost',
      running: [survivor.name],
      members: nodes.map((n) => n.name).sort(),
      recovery: { instanceId: instanceIdOf(survivor), node: survivor.name, drops },
      held: 'operator',
    });
    expect(lost.actions.filter((a) => a.kind !== 'deregister')).toEqual([]);
    expect(lost.gauges.metadataMajorityLost).toBe(1);
    // with MAJORITY_LOSS_RECOVERY=auto, reconcile plans the recovery on the survivor itself
    const auto = await plan(terminated, [survivor], testConfig({ MAJORITY_LOSS_RECOVERY: 'auto' }));
    expect(auto.actions).toContainEqual({ kind: 'recover-majority', instanceId: instanceIdOf(survivor), node: survivor.name, drops });

    // the gone events' forget is held, not tried: it could not complete without the majority
    const forget = await cluster.runDocument(survivor, 'NodeForget', { NodeName: dead[0]!.name, Departed: 'true' });
    expect(parseNodeOutput('forget', forget.stdout)).toMatchObject({ node: dead[0]!.name, result: 'majority-lost', replicasRemoved: 0 });

    // a launch meanwhile is refused before its node boots: a join now would only add a member the
    // majority then needs (measured without this check: the survivor took it into its membership)
    const early = await cluster.addNode();
    replacements.push(early);
    const joined = await cluster.runDocument(early, 'NodeJoin', {
      Peers: survivor.name,
      GrowQuorum: 'true',
      TimeoutSeconds: '120',
      JoinableSeries: joinableSeries('4.3.6'),
    });
    expect(parseNodeOutput('join', joined.stdout)).toMatchObject({ node: early.name, joined: false, reason: 'majority-lost' });
    const seen = await cluster.rabbitmqctlJson<{ disk_nodes: string[] }>(survivor, ['cluster_status']);
    expect([...seen.disk_nodes].sort()).toEqual(nodes.map((n) => n.name).sort());
  });

  it('recovers: a dry run changes nothing, the recovery keeps every confirmed message, replacements join and the queue grows back', async () => {
    const [survivor, ...dead] = nodes as [SandboxNode, SandboxNode, SandboxNode];
    const drops = dead.map((n) => n.name).sort();
    const membersOf = async (node: SandboxNode) => {
      const seen = await cluster.rabbitmqctlJson<{ disk_nodes: string[]; running_nodes: string[] }>(node, ['cluster_status']);
      return { all: [...seen.disk_nodes].sort(), running: [...seen.running_nodes].sort() };
    };

    const dry = await cluster.runDocument(survivor, 'NodeRecover', { DryRun: 'true' });
    expect(parseNodeOutput('recover', dry.stdout)).toMatchObject({ node: survivor.name, recovered: false, reason: 'dry-run', drops, quorumQueues: 1 });
    expect((await membersOf(survivor)).all).toEqual(nodes.map((n) => n.name).sort());

    const run = await cluster.runDocument(survivor, 'NodeRecover', { DryRun: 'false' });
    expect(parseNodeOutput('recover', run.stdout)).toEqual({ node: survivor.name, recovered: true, drops, quorumQueues: 1, messages: LEDGER.length });
    expect(await membersOf(survivor)).toEqual({ all: [survivor.name], running: [survivor.name] });
    // a second run finds a majority (1 of 1): refused, nothing changes
    expect(parseNodeOutput('recover', (await cluster.runDocument(survivor, 'NodeRecover', { DryRun: 'false' })).stdout)).toMatchObject({
      recovered: false,
      reason: 'majority-present',
    });

    // the group replaces the two lost instances (the one refused above, retried, and one more): each joins the survivor as any launch does
    replacements.push(await cluster.addNode());
    for (const node of replacements) {
      const joined = await cluster.runDocument(node, 'NodeJoin', {
        Peers: survivor.name,
        GrowQuorum: 'true',
        TimeoutSeconds: '120',
        JoinableSeries: joinableSeries('4.3.6'),
      });
      expect(parseNodeOutput('join', joined.stdout)).toMatchObject({ joined: true, node: node.name });
    }
    const whole = [survivor, ...replacements].map((n) => n.name).sort();
    expect(await membersOf(survivor)).toEqual({ all: whole, running: whole });
    expect([...(await cluster.replicaMembers(survivor)).ledger!].sort()).toEqual(whole);

    const connection = await amqp.connect(`amqp://${USER}:${USER}@${replacements[0]!.ip}:5672`);
    try {
      const channel = await connection.createChannel();
      const read: string[] = [];
      for (let message = await channel.get('ledger'); message; message = await channel.get('ledger')) {
        read.push(message.content.toString());
        channel.ack(message);
      }
      expect(read).toEqual(LEDGER);
    } finally {
      await connection.close();
    }
  });
});
