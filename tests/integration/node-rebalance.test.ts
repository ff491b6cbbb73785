import { type NodeCluster, RABBITMQ_LINES, type SandboxNode, removeLeftovers, startCluster } from '../../infra/sandbox/nodes';
import { parseNodeOutput } from '../../shared/rabbitmq/operations';
import { deployedConfig } from '../support/deployed';

// NodeRebalance on real 3-node clusters: every quorum-queue leader on one node, as a rolling replacement
// leaves them, then the document warren sends once the Instance Refresh succeeded. The leaders end spread,
// as list_queues sees them, and a second run moves nothing.
jest.setTimeout(240_000);

/** 3.x's answer shape here; 4.x's (4.3) is run by the rolling-replacement story, after its refresh (tests/e2e/rolling-replacement.test.ts) */
const REBALANCE_LINES = [RABBITMQ_LINES[0]!];

const QUEUES = ['orders', 'payments', 'invoices', 'refunds', 'shipments', 'returns'];
/** what the heal function sends: the deployed bound of one SSM command */
const TIMEOUT = String(deployedConfig().bounds.ssmCommandSeconds);

beforeAll(async () => {
  await removeLeftovers();
});

describe.each(REBALANCE_LINES)('on RabbitMQ %s', (line) => {
  const major = Number(line.split('.')[0]) as 3 | 4;
  let cluster: NodeCluster;
  let crowded: SandboxNode;
  let other: SandboxNode;

  /** quorum queues of "/" per leader, as list_queues reports them */
  const leadersPerNode = async () => {
    const queues = await cluster.rabbitmqctlJson<Array<{ name: string; type: string; leader?: string }>>(other, ['list_queues', 'name', 'type', 'leader']);
    const counts: Record<string, number> = {};
    for (const queue of queues.filter((q) => q.type === 'quorum')) counts[queue.leader ?? ''] = (counts[queue.leader ?? ''] ?? 0) + 1;
    return counts;
  };
  /** the queue records name a new leader a moment after Ra elected it */
  const leadersSettled = async (expected: Record<string, number>) => {
    for (let tries = 0; tries < 50; tries++) {
      if (JSON.stringify(await leadersPerNode()) === JSON.stringify(expected)) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(await leadersPerNode()).toEqual(expected);
  };

  beforeAll(async () => {
    cluster = await startCluster({ size: 3, prefix: `rebal${major}`, rabbitmq: line });
    [crowded, other] = [...cluster.nodes].sort((a, b) => a.name.localeCompare(b.name)) as [SandboxNode, SandboxNode];
    // client-local: each queue is led by the node that declared it, whatever the version's default locator
    for (const queue of QUEUES) {
      const declared = await cluster.rabbitmqctl(crowded, [
        'eval',
        `rabbit_amqqueue:declare(rabbit_misc:r(<<"/">>, queue, <<"${queue}">>), true, false, [{<<"x-queue-type">>, longstr, <<"quorum">>}, {<<"x-queue-leader-locator">>, longstr, <<"client-local">>}], none, <<"warren-test">>).`,
      ]);
      expect(declared.stdout).toMatch(/^\{new,/);
    }
    await cluster.declareQueue(crowded, 'audit', 'classic');
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  it('starts with every quorum-queue leader on one node', async () => {
    expect(await leadersPerNode()).toEqual({ [crowded.name]: QUEUES.length });
  });

  it('spreads the leaders over the three members, run from another member, and reports before, after and moved', async () => {
    const run = await cluster.runDocument(other, 'NodeRebalance', { TimeoutSeconds: TIMEOUT });

    expect(run).toMatchObject({ exitCode: 0 });
    const result = parseNodeOutput('rebalance', run.stdout);
    const even = Object.fromEntries(cluster.nodes.map((node) => [node.name, QUEUES.length / 3]));
    expect(result).toEqual({ node: other.name, rebalanced: true, moved: 4, before: { [crowded.name]: QUEUES.length }, after: even });
    await leadersSettled(even);
  });

  it('moves nothing once the leaders are spread', async () => {
    const run = await cluster.runDocument(crowded, 'NodeRebalance', { TimeoutSeconds: TIMEOUT });

    expect(parseNodeOutput('rebalance', run.stdout)).toMatchObject({ rebalanced: true, moved: 0 });
  });

  it('fails, naming the node, where the app does not run', async () => {
    const stopped = await cluster.rabbitmqctl(other, ['stop_app']);
    expect(stopped.exitCode).toBe(0);
    try {
      const run = await cluster.runDocument(other, 'NodeRebalance', { TimeoutSeconds: TIMEOUT });

      expect(run.exitCode).not.toBe(0);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(`NodeRebalance: the app does not run on ${other.name}`);
    } finally {
      expect((await cluster.rabbitmqctl(other, ['start_app'])).exitCode).toBe(0);
    }
  });
});
