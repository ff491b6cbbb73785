import { NodeCluster, removeLeftovers } from '../../infra/sandbox/nodes';
import { parseNodeOutput } from '../../shared/rabbitmq/operations';

// A cluster whose stable feature flags were not all enabled (as one upgraded from an older version is
// left): NodeStatus counts them and NodeApplyPolicy with EnableFeatureFlags, what reconcile sends once
// every member runs the same version, enables them cluster-wide. On real RabbitMQ 3.10 nodes.
jest.setTimeout(240_000);

const NO_POLICY = { PolicyName: '', PolicyPattern: '', PolicyDefinition: '{}', PolicyApplyTo: 'queues', PolicyPriority: '0', DefaultQueueType: '' };
// every other stable flag of 3.10 stays disabled at first boot
const INITIAL_FLAGS = 'quorum_queue,implicit_default_bindings,virtual_host_metadata,maintenance_mode_status,user_limits';

describe('stable feature flags left disabled', () => {
  let cluster: NodeCluster;

  beforeAll(async () => {
    await removeLeftovers();
    cluster = NodeCluster.create({ prefix: 'flag', rabbitmq: '3.10' });
    const nodes = [await cluster.addNode(), await cluster.addNode()];
    for (const node of nodes) node.env.RABBITMQ_FEATURE_FLAGS = INITIAL_FLAGS;
    await cluster.bootWithPeers(nodes[0]!, [nodes[0]!.name]);
    await cluster.bootWithPeers(nodes[1]!, [nodes[0]!.name]);
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  const disabledSeenBy = async (index: number) =>
    parseNodeOutput('status', (await cluster.runDocument(cluster.nodes[index]!, 'NodeStatus')).stdout).featureFlagsDisabled;
  const enable = async () => {
    const run = await cluster.runDocument(cluster.nodes[1]!, 'NodeApplyPolicy', { ...NO_POLICY, EnableFeatureFlags: 'true' });
    expect(run.exitCode).toBe(0);
    return parseNodeOutput('applyPolicy', run.stdout);
  };

  it('are counted by NodeStatus on every member', async () => {
    expect(await disabledSeenBy(0)).toBeGreaterThan(0);
    expect(await disabledSeenBy(1)).toBe(await disabledSeenBy(0));
  });

  it('are enabled cluster-wide from one member, and a repeat finds nothing to do', async () => {
    expect(await enable()).toEqual({ node: cluster.nodes[1]!.name, policy: 'skipped', featureFlags: 'enabled', admin: 'skipped' });
    expect(await disabledSeenBy(0)).toBe(0);
    expect(await disabledSeenBy(1)).toBe(0);
    expect((await enable()).featureFlags).toBe('unchanged');
  });

  it('are left alone without EnableFeatureFlags (the policy step alone)', async () => {
    const run = await cluster.runDocument(cluster.nodes[0]!, 'NodeApplyPolicy', NO_POLICY);

    expect(parseNodeOutput('applyPolicy', run.stdout)).toEqual({ node: cluster.nodes[0]!.name, policy: 'skipped', featureFlags: 'skipped', admin: 'skipped' });
  });
});
