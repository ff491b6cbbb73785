import { planReconcile, type ObservedCluster } from '../../../shared/cluster/reconcile-plan';
import type { GroupInstance, TargetState } from '../../../shared/ports';
import type { NodeStatus, QuorumReplicas } from '../../../shared/rabbitmq/operations';
import { testConfig } from '../../support/config';

const name = (id: string) => `rabbit@ip-${id}`;
const healthy: QuorumReplicas = { queues: 4, degraded: 0, leaderless: 0, missing: {}, stopped: {}, departed: {} };
const status = (id: string, running: string[], extra: Partial<NodeStatus> = {}): NodeStatus => ({
  node: name(id),
  version: '3.10.8',
  running: true,
  paused: false,
  members: { all: running.map(name), running: running.map(name) },
  partitions: {},
  alarms: [],
  cookieHash: 'x',
  policies: ['ha-all'],
  defaultQueueType: '',
  underMaintenance: false,
  metadataStore: 'mnesia',
  featureFlagsDisabled: 0,
  metadataLeader: null,
  adminSecretVersion: null,
  deprecatedFeaturesUsed: [],
  replicas: null,
  ...extra,
});
const inGroup = (instanceId: string, lifecycleState = 'InService'): GroupInstance => ({
  instanceId,
  lifecycleState,
  healthStatus: 'Healthy',
  availabilityZone: 'a',
});

/** Three InService members a, b, c; a, the first by name, judges the replicas. */
function cluster(
  replicas: QuorumReplicas | null,
  options: {
    ec2?: Array<[string, 'running' | 'terminated' | 'stopped']>;
    lifecycle?: Record<string, string>;
    extra?: Record<string, Partial<NodeStatus>>;
  } = {},
): ObservedCluster {
  const ids = ['a', 'b', 'c'];
  const targets = new Map<string, TargetState>(ids.map((id) => [id, 'healthy']));
  return {
    group: { name: 'rabbit-asg', minSize: 1, maxSize: 9, desiredCapacity: 3, instances: ids.map((id) => inGroup(id, options.lifecycle?.[id])) },
    instances: [...ids.map((id) => [id, 'running'] as [string, 'running']), ...(options.ec2 ?? [])].map(([id, state]) => ({
      instanceId: id,
      state,
      nodeName: name(id),
      autoScalingGroupName: 'rabbit-asg',
    })),
    statuses: new Map(ids.map((id) => [id, status(id, ids, { ...(id === 'a' ? { replicas } : {}), ...options.extra?.[id] })])),
    targets: { amqp: targets, management: new Map(targets) },
  };
}

describe('planReconcile: quorum replicas follow the membership', () => {
  it('plans nothing for whole queues, and publishes their counts', () => {
    const plan = planReconcile(cluster(healthy), testConfig());

    expect(plan.actions).toEqual([]);
    expect(plan.findings).toEqual([]);
    expect(plan.gauges.quorumQueues).toEqual({ total: 4, degraded: 0, leaderless: 0 });
  });

  it('repairs a member with missing or stopped replicas once, on that member', () => {
    const plan = planReconcile(cluster({ ...healthy, degraded: 3, missing: { [name('b')]: 2 }, stopped: { [name('b')]: 1, [name('c')]: 1 } }), testConfig());

    expect(plan.actions).toEqual([
      { kind: 'repair-replicas', instanceId: 'b', node: name('b') },
      { kind: 'repair-replicas', instanceId: 'c', node: name('c') },
    ]);
    expect(plan.findings).toEqual([
      { kind: 'replicas-missing', node: name('b'), queues: 2 },
      { kind: 'replicas-stopped', node: name('b'), queues: 1 },
      { kind: 'replicas-stopped', node: name('c'), queues: 1 },
    ]);
    expect(plan.gauges.quorumQueues).toEqual({ total: 4, degraded: 3, leaderless: 0 });
  });

  it('leaves the replicas of a member in a hook or under maintenance to their owner (a leave shrinks them on purpose)', () => {
    const plan = planReconcile(
      cluster(
        { ...healthy, degraded: 2, missing: { [name('b')]: 4, [name('c')]: 4 } },
        {
          lifecycle: { b: 'Terminating:Wait' },
          extra: { c: { underMaintenance: true } },
        },
      ),
      testConfig(),
    );

    expect(plan.actions.filter((a) => a.kind === 'repair-replicas')).toEqual([]);
    expect(plan.findings).toEqual(
      expect.arrayContaining([
        { kind: 'replicas-missing', node: name('b'), queues: 4, held: 'member-not-verified' },
        { kind: 'replicas-missing', node: name('c'), queues: 4, held: 'member-not-verified' },
      ]),
    );
  });

  it('removes the replicas of a node outside the cluster whose instance is gone or unknown, and holds one whose instance still exists', () => {
    const plan = planReconcile(
      cluster(
        { ...healthy, degraded: 3, departed: { [name('d')]: 1, [name('e')]: 1, [name('f')]: 1 } },
        {
          ec2: [
            ['d', 'terminated'],
            ['f', 'stopped'],
          ],
        },
      ),
      testConfig(),
    );

    expect(plan.actions).toEqual([
      { kind: 'remove-replicas', node: name('d') },
      { kind: 'remove-replicas', node: name('e') },
    ]);
    expect(plan.findings).toContainEqual({ kind: 'replicas-departed', node: name('f'), queues: 1, held: 'instance-not-gone' });
  });

  it('touches no replica while the cluster is partitioned, and reports leaderless queues without planning for them', () => {
    const plan = planReconcile(
      cluster(
        { ...healthy, degraded: 3, leaderless: 1, missing: { [name('b')]: 1 }, departed: { [name('d')]: 1 } },
        {
          extra: { c: { partitions: { [name('c')]: [name('a')] } } },
        },
      ),
      testConfig(),
    );

    expect(plan.actions.filter((a) => a.kind === 'repair-replicas' || a.kind === 'remove-replicas')).toEqual([]);
    expect(plan.findings).toEqual(
      expect.arrayContaining([
        { kind: 'quorum-leaderless', queues: 1 },
        { kind: 'replicas-missing', node: name('b'), queues: 1, held: 'cluster-split' },
        { kind: 'replicas-departed', node: name('d'), queues: 1, held: 'cluster-split' },
      ]),
    );
    expect(plan.gauges.quorumQueues).toEqual({ total: 4, degraded: 3, leaderless: 1 });
  });

  it('says so when the member that judges the replicas did not report them, and publishes no count', () => {
    const plan = planReconcile(cluster(null), testConfig());

    expect(plan.findings).toEqual([{ kind: 'replicas-unknown' }]);
    expect(plan.gauges.quorumQueues).toBeUndefined();
  });
});
