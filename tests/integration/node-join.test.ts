import * as amqp from 'amqplib';
import { type NodeCluster, RABBITMQ_LINES, type SandboxNode, removeLeftovers, startCluster } from '../../infra/sandbox/nodes';
import { readdirSync } from 'node:fs';
import { joinableSeries } from '../../shared/cluster/versions';
import { parseNodeOutput } from '../../shared/rabbitmq/operations';

// Per RabbitMQ generation, one real 3-node cluster: every story below adds its own node to it.
jest.setTimeout(240_000);

interface ClusterStatus {
  running_nodes: string[];
  disk_nodes: string[];
}

/** One member's row of `rabbitmq-queues quorum_status` (3.10 names the last index "Log Index", 4.x "Last Log Index"). */
interface QuorumMember {
  'Node Name': string;
  'Raft State': string;
  'Commit Index': number;
}

/** A backlog a joining replica has to catch up on: 16 MB in 4,000 confirmed messages of 4 KB. */
const BACKLOG = { messages: 4000, bytes: 4096 };
const USER = 'join-test';

/** What warren sends each generation (shared/cluster/policy.ts): mirroring on 3.x, quorum defaults on 4.x. */
const policyFor = {
  3: {
    PolicyName: 'ha-all',
    PolicyPattern: '^ha\\.',
    PolicyDefinition: '{"ha-mode":"all","ha-sync-mode":"automatic"}',
    PolicyApplyTo: 'queues',
    PolicyPriority: '1',
    DefaultQueueType: '',
  },
  4: {
    PolicyName: 'warren-quorum',
    PolicyPattern: '.*',
    PolicyDefinition: '{"queue-leader-locator":"balanced"}',
    PolicyApplyTo: 'queues',
    PolicyPriority: '1',
    DefaultQueueType: 'quorum',
  },
} as const;

beforeAll(async () => {
  await removeLeftovers();
});

describe.each(RABBITMQ_LINES)('on RabbitMQ %s', (line) => {
  const major = Number(line.split('.')[0]) as 3 | 4;
  let cluster: NodeCluster;
  let founder: SandboxNode;
  let version: string;
  const policy = policyFor[major];

  beforeAll(async () => {
    cluster = await startCluster({ size: 3, prefix: `join${major}`, rabbitmq: line });
    founder = cluster.nodes[0]!;
    version = (await cluster.runtime).version.replace(/-.*$/, '');
    await cluster.declareQueue(founder, 'orders', 'quorum');
    for (const args of [
      ['add_user', USER, USER],
      ['set_permissions', USER, '.*', '.*', '.*'],
    ])
      expect((await cluster.rabbitmqctl(founder, args)).exitCode).toBe(0);
    const connection = await amqp.connect(`amqp://${USER}:${USER}@${founder.ip}:5672`);
    const channel = await connection.createConfirmChannel();
    for (let i = 0; i < BACKLOG.messages; i++) channel.sendToQueue('orders', Buffer.alloc(BACKLOG.bytes, i % 256), { persistent: true });
    await channel.waitForConfirms();
    await connection.close();
  });

  const quorumStatus = async (node: SandboxNode, queue: string): Promise<QuorumMember[]> => {
    const result = await cluster.exec(node, 'rabbitmq-queues', ['--node', node.name, '-q', '--formatter', 'json', 'quorum_status', queue]);
    if (result.exitCode !== 0) throw new Error(`quorum_status ${queue} on ${node.name} failed: ${result.stderr.trim()}`);
    return JSON.parse(result.stdout) as QuorumMember[];
  };
  /** The commit index of the replica of `queue` on `member` and its leader's; `settle` re-reads a few times until they agree. */
  const commitIndexes = async (member: SandboxNode, queue: string, settle = false) => {
    for (let attempt = 1; ; attempt++) {
      const rows = await quorumStatus(founder, queue);
      const indexes = {
        leader: rows.find((r) => r['Raft State'] === 'leader')?.['Commit Index'],
        member: rows.find((r) => r['Node Name'] === member.name)?.['Commit Index'],
      };
      // a follower learns the last commit (the promotion, on 4.x) with the leader's next message
      if (!settle || indexes.member === indexes.leader || attempt === 5) return indexes;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  };
  // the check each line has: RabbitMQ's own from 3.13 (non-voter replicas), the commit-index comparison before
  const syncCheck = major >= 4 ? 'initial-sync' : 'commit-index';

  afterAll(async () => {
    await cluster?.destroy();
  });

  describe('NodeJoin', () => {
    it("boots a fresh node with its peer list, applies the policy, grows quorum queues onto it, reports it joined once its replica caught up with the leader's log, and a repeat is a no-op", async () => {
      const fresh = await cluster.addNode();
      const peers = cluster.nodes
        .slice(0, 3)
        .map((n) => n.name)
        .join(',');

      // what the launch sends: the series next to the cluster's, checked against the installed server
      const join = { Peers: peers, GrowQuorum: 'true', TimeoutSeconds: '120', JoinableSeries: joinableSeries(version), ...policy };
      const first = await cluster.runDocument(fresh, 'NodeJoin', join);
      const indexes = await commitIndexes(fresh, 'orders', true);
      const again = await cluster.runDocument(fresh, 'NodeJoin', join);

      expect(first.exitCode).toBe(0);
      const outcome = parseNodeOutput('join', first.stdout);
      expect(outcome).toMatchObject({ node: fresh.name, version, action: 'booted-with-peers', policy: 'applied', quorumGrown: 1 });
      // the gate: reported joined once the new replica caught up with the backlog, with this line's check
      expect(outcome).toMatchObject({ replicasSynced: true, syncCheck, syncQueues: 1 });
      expect(indexes.member).toBeGreaterThanOrEqual(BACKLOG.messages);
      expect(indexes.member).toBe(indexes.leader);
      const seenByFounder = await cluster.rabbitmqctlJson<ClusterStatus>(founder, ['cluster_status']);
      expect(seenByFounder.running_nodes).toContain(fresh.name);
      expect((await cluster.replicaMembers(founder)).orders).toContain(fresh.name);
      expect(parseNodeOutput('join', again.stdout)).toMatchObject({ action: 'already-member', policy: 'unchanged', quorumGrown: 0, replicasSynced: true });
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

    if (line === '4.3') {
      it('refuses a 4.0 node before it boots or joins: a refusal in JSON, nothing changed on the node or the cluster', async () => {
        const old = await cluster.addNode({ rabbitmq: '4.0' });
        const before = await cluster.rabbitmqctlJson<ClusterStatus>(founder, ['cluster_status']);

        const result = await cluster.runDocument(old, 'NodeJoin', {
          Peers: founder.name,
          GrowQuorum: 'true',
          TimeoutSeconds: '60',
          JoinableSeries: joinableSeries(version),
          ...policy,
        });

        expect(result.exitCode).toBe(0);
        expect(parseNodeOutput('join', result.stdout)).toEqual({
          node: old.name,
          joined: false,
          reason: 'version-incompatible',
          version: '4.0.5',
          detail: expect.stringContaining('RabbitMQ 4.0.5 cannot join this cluster: it takes the series 4.2, 4.3, 4.4'),
        });
        expect(readdirSync(old.env.RABBITMQ_MNESIA_BASE!)).toEqual([]);
        expect(readdirSync(old.env.RABBITMQ_CONFIG_FILES!)).toEqual([]);
        expect((await cluster.rabbitmqctl(old, ['-q', 'ping'])).exitCode).not.toBe(0);
        expect(await cluster.rabbitmqctlJson<ClusterStatus>(founder, ['cluster_status'])).toMatchObject({
          disk_nodes: before.disk_nodes,
          running_nodes: before.running_nodes,
        });
      });
    }

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
      const changed =
        major === 3
          ? { ...policy, PolicyName: 'ha-two', PolicyDefinition: '{"ha-mode":"exactly","ha-params":2}' }
          : { ...policy, PolicyName: 'qq-limits', PolicyDefinition: '{"delivery-limit":20,"queue-leader-locator":"balanced"}' };
      const reorderedDefinition = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(changed.PolicyDefinition)).reverse()));

      const applied = await cluster.runDocument(founder, 'NodeApplyPolicy', changed);
      const reordered = await cluster.runDocument(founder, 'NodeApplyPolicy', { ...changed, PolicyDefinition: reorderedDefinition });

      expect(parseNodeOutput('applyPolicy', applied.stdout).policy).toBe('applied');
      expect(parseNodeOutput('applyPolicy', reordered.stdout).policy).toBe('unchanged');
      const policies = await cluster.rabbitmqctlJson<Array<{ name: string; definition: string; priority: number }>>(founder, ['list_policies', '-p', '/']);
      const stored = policies.find((p) => p.name === changed.PolicyName);
      expect(stored && JSON.parse(stored.definition)).toEqual(JSON.parse(changed.PolicyDefinition));
      expect(stored?.priority).toBe(1);
    });

    if (major >= 4) {
      it('sets the default queue type of "/" and reports it', async () => {
        const member = cluster.nodes[1]!;

        const result = await cluster.runDocument(member, 'NodeApplyPolicy', { DefaultQueueType: 'quorum' });
        const status = parseNodeOutput('status', (await cluster.runDocument(founder, 'NodeStatus')).stdout);

        expect(parseNodeOutput('applyPolicy', result.stdout).policy).toBe('unchanged'); // the join above set it already
        expect(status.defaultQueueType).toBe('quorum');
      });

      it("refuses classic mirroring keys with RabbitMQ's own message, and nothing changes", async () => {
        const result = await cluster.runDocument(founder, 'NodeApplyPolicy', policyFor[3]);

        expect(result.exitCode).not.toBe(0);
        expect(result.stderr).toContain('are not recognised policy settings');
        const policies = await cluster.rabbitmqctlJson<Array<{ name: string }>>(founder, ['list_policies', '-p', '/']);
        expect(policies.map((p) => p.name)).not.toContain('ha-all');
      });
    }
  });

  describe('NodeStatus', () => {
    it('reports a running member in the shape the workflows parse', async () => {
      const member = cluster.nodes[1]!;

      const result = await cluster.runDocument(member, 'NodeStatus');

      const status = parseNodeOutput('status', result.stdout);
      expect(status).toMatchObject({ node: member.name, version, running: true, alarms: [], underMaintenance: false });
      expect(status.members.running).toEqual(expect.arrayContaining(cluster.nodes.slice(0, 3).map((n) => n.name)));
      expect(status.policies).toContain(policy.PolicyName);
      expect(status.defaultQueueType).toBe(major === 3 ? '' : 'quorum');
      expect(status.cookieHash).toMatch(/^[0-9a-f]{64}$/);
      // Mnesia on 3.10 and 4.0: no Khepri leader; 4.3 names one of the members
      if (line === '4.3') expect(status.members.running).toContain(status.metadataLeader);
      else expect(status.metadataLeader).toBeNull();
      expect(status.deprecatedFeaturesUsed).toEqual([]);
    });

    it('reports a drained node as under maintenance', async () => {
      const member = cluster.nodes[2]!;

      const drained = await cluster.runDocument(member, 'NodeDrain');
      const status = parseNodeOutput('status', (await cluster.runDocument(member, 'NodeStatus')).stdout);

      expect(parseNodeOutput('drain', drained.stdout)).toEqual({ node: member.name, drained: true });
      expect(status.underMaintenance).toBe(true);
    });

    it('reports a stopped node as not running, with its version and no members', async () => {
      const stopped = await cluster.addNode();

      const result = await cluster.runDocument(stopped, 'NodeStatus');

      expect(result.exitCode).toBe(0);
      expect(parseNodeOutput('status', result.stdout)).toMatchObject({
        node: stopped.name,
        version: expect.stringMatching(new RegExp(`^${version.replace(/\./g, '\\.')}`)),
        running: false,
        members: { all: [], running: [] },
        policies: [],
        defaultQueueType: '',
        underMaintenance: false,
      });
    });
  });
});
