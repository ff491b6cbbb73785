import { NodeCluster, SandboxNode, removeLeftovers, startCluster } from '../../infra/sandbox/nodes';
import { parseNodeOutput } from '../../shared/rabbitmq/operations';

// One real 3-node cluster for the whole file: every story below adds its own node to it.
jest.setTimeout(180_000);

let cluster: NodeCluster;
let founder: SandboxNode;

interface ClusterStatus {
  running_nodes: string[];
  disk_nodes: string[];
}

const haPolicy = {
  PolicyName: 'ha-all',
  PolicyPattern: '^ha\\.',
  PolicyDefinition: '{"ha-mode":"all","ha-sync-mode":"automatic"}',
  PolicyApplyTo: 'queues',
  PolicyPriority: '1',
};

beforeAll(async () => {
  await removeLeftovers();
  cluster = await startCluster({ size: 3, prefix: 'join' });
  founder = cluster.nodes[0]!;
  await cluster.declareQueue(founder, 'orders', 'quorum');
});

afterAll(async () => {
  await cluster?.destroy();
});

describe('NodeJoin on real RabbitMQ nodes', () => {
  it('boots a fresh node with its peer list, grows quorum queues onto it, and a repeat is a no-op', async () => {
    const fresh = await cluster.addNode();
    const peers = cluster.nodes.slice(0, 3).map((n) => n.name).join(',');

    const first = await cluster.runDocument(fresh, 'NodeJoin', { Peers: peers, GrowQuorum: 'true', TimeoutSeconds: '120', ...haPolicy });
    const again = await cluster.runDocument(fresh, 'NodeJoin', { Peers: peers, GrowQuorum: 'true', TimeoutSeconds: '120', ...haPolicy });

    expect(first.exitCode).toBe(0);
    const outcome = parseNodeOutput('join', first.stdout);
    expect(outcome).toMatchObject({ node: fresh.name, action: 'booted-with-peers', quorumGrown: 1 });
    const seenByFounder = await cluster.rabbitmqctlJson<ClusterStatus>(founder, ['cluster_status']);
    expect(seenByFounder.running_nodes).toContain(fresh.name);
    expect((await cluster.quorumMembers(founder)).orders).toContain(fresh.name);
    expect(parseNodeOutput('join', again.stdout)).toMatchObject({ action: 'already-member', policy: 'unchanged', quorumGrown: 0 });
  });

  it('joins a node that is already running standalone with stop_app / join_cluster / start_app', async () => {
    const standalone = await cluster.addNode();
    await cluster.startNode(standalone);
    const before = await cluster.rabbitmqctlJson<ClusterStatus>(standalone, ['cluster_status']);

    const result = await cluster.runDocument(standalone, 'NodeJoin', {
      Peers: `${standalone.name},${founder.name}`,
      GrowQuorum: 'false',
      TimeoutSeconds: '120',
    });

    expect(before.running_nodes).toEqual([standalone.name]);
    expect(result.exitCode).toBe(0);
    expect(parseNodeOutput('join', result.stdout)).toMatchObject({ action: 'joined', policy: 'skipped', quorumGrown: 0 });
    const seenByFounder = await cluster.rabbitmqctlJson<ClusterStatus>(founder, ['cluster_status']);
    expect(seenByFounder.running_nodes).toContain(standalone.name);
  });

  it('fails with a clear message when none of the peers can be reached', async () => {
    const lonely = await cluster.addNode();
    const neverStarted = await cluster.addNode();
    await cluster.startNode(lonely);

    const result = await cluster.runDocument(lonely, 'NodeJoin', { Peers: neverStarted.name, GrowQuorum: 'false', TimeoutSeconds: '20' });

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(`could not join any of: ${neverStarted.name}`);
    const own = await cluster.rabbitmqctlJson<ClusterStatus>(lonely, ['cluster_status']);
    expect(own.running_nodes).toEqual([lonely.name]);
  });
});

describe('NodeApplyPolicy', () => {
  it('applies a changed policy and leaves an equal one alone', async () => {
    const changed = { ...haPolicy, PolicyName: 'ha-two', PolicyDefinition: '{"ha-mode":"exactly","ha-params":2}' };

    const applied = await cluster.runDocument(founder, 'NodeApplyPolicy', changed);
    const reordered = await cluster.runDocument(founder, 'NodeApplyPolicy', { ...changed, PolicyDefinition: '{"ha-params":2,"ha-mode":"exactly"}' });

    expect(parseNodeOutput('applyPolicy', applied.stdout).policy).toBe('applied');
    expect(parseNodeOutput('applyPolicy', reordered.stdout).policy).toBe('unchanged');
    const policies = await cluster.rabbitmqctlJson<Array<{ name: string; definition: string; priority: number }>>(founder, ['list_policies', '-p', '/']);
    const stored = policies.find((p) => p.name === 'ha-two');
    expect(stored && JSON.parse(stored.definition)).toEqual({ 'ha-mode': 'exactly', 'ha-params': 2 });
    expect(stored?.priority).toBe(1);
  });
});

describe('NodeStatus', () => {
  it('reports a running member in the shape the workflows parse', async () => {
    const member = cluster.nodes[1]!;

    const result = await cluster.runDocument(member, 'NodeStatus');

    const status = parseNodeOutput('status', result.stdout);
    expect(status).toMatchObject({ node: member.name, version: '3.10.8', running: true, alarms: [] });
    expect(status.members.running).toEqual(expect.arrayContaining(cluster.nodes.slice(0, 3).map((n) => n.name)));
    expect(status.policies).toContain('ha-all');
    expect(status.cookieHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('reports a stopped node as not running, with its version and no members', async () => {
    const stopped = await cluster.addNode();

    const result = await cluster.runDocument(stopped, 'NodeStatus');

    expect(result.exitCode).toBe(0);
    expect(parseNodeOutput('status', result.stdout)).toMatchObject({
      node: stopped.name,
      version: '3.10.8',
      running: false,
      members: { all: [], running: [] },
      policies: [],
    });
  });
});
