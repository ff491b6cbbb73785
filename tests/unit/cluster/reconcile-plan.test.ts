import { planReconcile, type ObservedCluster } from '../../../shared/cluster/reconcile-plan';
import { membersDigest, withMembers, type NodeStatus } from '../../../shared/rabbitmq/operations';
import type { GroupInstance, TargetState } from '../../../shared/ports';
import { testConfig } from '../../support/config';

const name = (id: string) => `rabbit@ip-${id}`;
const status = (id: string, running: string[], all = running, extra: Partial<NodeStatus> = {}): NodeStatus => ({
  node: name(id),
  version: '3.10.8',
  running: true,
  paused: false,
  members: { all: all.map(name), running: running.map(name) },
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
const on4 = (extra: Partial<NodeStatus> = {}): Partial<NodeStatus> => ({ version: '4.0.5', policies: ['warren-quorum'], defaultQueueType: 'quorum', ...extra });
const healthyPair = (a: Partial<NodeStatus> = {}, b: Partial<NodeStatus> = {}) =>
  observed({
    group: [inGroup('a'), inGroup('b')],
    ec2: [
      ['a', 'running'],
      ['b', 'running'],
    ],
    statuses: [
      ['a', status('a', ['a', 'b'], ['a', 'b'], a)],
      ['b', status('b', ['a', 'b'], ['a', 'b'], b)],
    ],
    targets: ['a', 'b'],
  });
const inGroup = (instanceId: string, lifecycleState = 'InService'): GroupInstance => ({
  instanceId,
  lifecycleState,
  healthStatus: 'Healthy',
  availabilityZone: 'a',
});

function observed(parts: {
  group: GroupInstance[];
  ec2: Array<[string, 'running' | 'terminated']>;
  statuses: Array<[string, NodeStatus | Error]>;
  targets: string[];
}): ObservedCluster {
  const targets = new Map<string, TargetState>(parts.targets.map((id) => [id, 'healthy']));
  return {
    group: { name: 'rabbit-asg', minSize: 1, maxSize: 9, desiredCapacity: parts.group.length, instances: parts.group },
    instances: parts.ec2.map(([id, state]) => ({ instanceId: id, state, nodeName: name(id), autoScalingGroupName: 'rabbit-asg' })),
    statuses: new Map(parts.statuses),
    targets: { amqp: targets, management: new Map(targets) },
  };
}

describe('planReconcile', () => {
  it('plans nothing for a healthy cluster', () => {
    const plan = planReconcile(
      observed({
        group: [inGroup('a'), inGroup('b')],
        ec2: [
          ['a', 'running'],
          ['b', 'running'],
        ],
        statuses: [
          ['a', status('a', ['a', 'b'])],
          ['b', status('b', ['a', 'b'])],
        ],
        targets: ['a', 'b'],
      }),
      testConfig(),
    );

    expect(plan.actions).toEqual([]);
    expect(plan.gauges).toEqual({ membersRunning: 2, inServiceInstances: 2, partitions: 0, deprecatedFeaturesUsed: 0 });
  });

  it('forgets a stopped member whose instance is terminated, and deregisters its stale target', () => {
    const plan = planReconcile(
      observed({
        group: [inGroup('a'), inGroup('b')],
        ec2: [
          ['a', 'running'],
          ['b', 'running'],
          ['c', 'terminated'],
        ],
        statuses: [
          ['a', status('a', ['a', 'b'], ['a', 'b', 'c'])],
          ['b', status('b', ['a', 'b'], ['a', 'b', 'c'])],
        ],
        targets: ['a', 'b', 'c'],
      }),
      testConfig(),
    );

    expect(plan.actions).toEqual([
      { kind: 'forget', node: name('c'), instanceId: 'c', departed: 'true' },
      { kind: 'deregister', instanceId: 'c' },
    ]);
  });

  it('joins a standalone node to the largest view and reports the split', () => {
    const plan = planReconcile(
      observed({
        group: [inGroup('a'), inGroup('b'), inGroup('s')],
        ec2: [
          ['a', 'running'],
          ['b', 'running'],
          ['s', 'running'],
        ],
        statuses: [
          ['a', status('a', ['a', 'b'])],
          ['b', status('b', ['a', 'b'])],
          ['s', status('s', ['s'])],
        ],
        targets: ['a', 'b'],
      }),
      testConfig(),
    );

    expect(plan.actions).toEqual([{ kind: 'join', instanceId: 's', node: name('s') }]);
    expect(plan.findings).toContainEqual({ kind: 'split-views', views: [[name('a'), name('b')], [name('s')]] });
  });

  it('keeps the target of a node that did not answer, and reports it', () => {
    const plan = planReconcile(
      observed({
        group: [inGroup('a'), inGroup('b')],
        ec2: [
          ['a', 'running'],
          ['b', 'running'],
        ],
        statuses: [
          ['a', status('a', ['a', 'b'])],
          ['b', new Error('Undeliverable')],
        ],
        targets: ['a', 'b'],
      }),
      testConfig(),
    );

    expect(plan.actions).toEqual([]);
    expect(plan.findings).toContainEqual({ kind: 'unreachable', instanceId: 'b', error: 'Undeliverable' });
  });

  it('plans the same from statuses whose membership was lent by one reporter of each view (runOnMany over a listing)', () => {
    const whole = [
      ['a', status('a', ['a', 'b'], ['a', 'b', 'c'])],
      ['b', status('b', ['a', 'b'], ['a', 'b', 'c'])],
      ['c', status('c', ['c'], ['a', 'b', 'c'])],
    ] as const;
    // what the shell builds: line 1 of every node, and the members of only a (view a,b) and c (view c)
    const lent = whole.map(([id, full]) => {
      const { members, ...facts } = full;
      const summary = { ...facts, membersDigest: membersDigest(members), memberCounts: { all: members.all.length, running: members.running.length } };
      const reporter = whole.find(([, other]) => membersDigest(other.members) === summary.membersDigest)![1];
      return [id, withMembers(summary, reporter.members)] as [string, NodeStatus];
    });
    const parts = {
      group: ['a', 'b', 'c'].map((id) => inGroup(id)),
      ec2: ['a', 'b', 'c'].map((id) => [id, 'running'] as [string, 'running']),
      targets: ['a', 'b', 'c'],
    };

    const fromLent = planReconcile(observed({ ...parts, statuses: lent }), testConfig());
    const fromWhole = planReconcile(observed({ ...parts, statuses: whole.map(([id, s]) => [id, s]) }), testConfig());

    expect(fromLent).toEqual(fromWhole);
    expect(fromLent.findings).toContainEqual({ kind: 'split-views', views: [[name('a'), name('b')], [name('c')]] });
    // c is a member running without the cluster (cut off, not yet paused): a join cannot help it
    expect(fromLent.actions.filter((a) => a.kind === 'join')).toEqual([]);
    expect(fromLent.findings).toContainEqual({ kind: 'split-member', node: name('c'), instanceId: 'c' });
  });

  it('counts partitioned nodes and re-applies a missing 3.x policy', () => {
    const partitioned = status('a', ['a', 'b'], ['a', 'b'], { partitions: { [name('a')]: [name('b')] }, policies: [] });
    const plan = planReconcile(
      observed({
        group: [inGroup('a'), inGroup('b')],
        ec2: [
          ['a', 'running'],
          ['b', 'running'],
        ],
        statuses: [
          ['a', partitioned],
          ['b', status('b', ['a', 'b'], ['a', 'b'], { policies: [] })],
        ],
        targets: ['a', 'b'],
      }),
      testConfig(),
    );

    expect(plan.gauges.partitions).toBe(1);
    expect(plan.actions).toEqual([{ kind: 'apply-policy', instanceId: 'a' }]);
  });

  it('founds nothing when no node runs', () => {
    const down = status('a', [], [], { running: false, members: { all: [], running: [] } });
    const plan = planReconcile(
      observed({
        group: [inGroup('a')],
        ec2: [['a', 'running']],
        statuses: [['a', down]],
        targets: [],
      }),
      testConfig(),
    );

    expect(plan.actions).toEqual([]);
    expect(plan.findings).toContainEqual({ kind: 'no-running-cluster' });
  });

  it('on 4.x re-applies a missing quorum policy, and a default queue type other than the configured one', () => {
    expect(planReconcile(healthyPair(on4(), on4()), testConfig()).actions).toEqual([]);
    expect(planReconcile(healthyPair(on4({ policies: ['ha-all'] }), on4({ policies: ['ha-all'] })), testConfig()).actions).toEqual([
      { kind: 'apply-policy', instanceId: 'a' },
    ]);
    expect(planReconcile(healthyPair(on4({ defaultQueueType: 'classic' }), on4({ defaultQueueType: 'classic' })), testConfig()).actions).toEqual([
      { kind: 'apply-policy', instanceId: 'a' },
    ]);
  });

  it('on 3.x does not care about the default queue type', () => {
    const plan = planReconcile(healthyPair({ defaultQueueType: 'classic' }, { defaultQueueType: 'classic' }), testConfig());

    expect(plan.actions).toEqual([]);
  });

  it('does not register a running member under maintenance, and reports it', () => {
    const plan = planReconcile(
      observed({
        group: [inGroup('a'), inGroup('b')],
        ec2: [
          ['a', 'running'],
          ['b', 'running'],
        ],
        statuses: [
          ['a', status('a', ['a', 'b'])],
          ['b', status('b', ['a', 'b'], ['a', 'b'], { underMaintenance: true })],
        ],
        targets: ['a'],
      }),
      testConfig(),
    );

    expect(plan.actions).toEqual([]);
    expect(plan.findings).toContainEqual({ kind: 'under-maintenance', node: name('b'), instanceId: 'b' });
  });

  it('deregisters a registered member under maintenance (a drained spot node gets no traffic back)', () => {
    const plan = planReconcile(healthyPair({}, { underMaintenance: true }), testConfig());

    expect(plan.actions).toEqual([{ kind: 'deregister', instanceId: 'b' }]);
    expect(plan.runningMembers).toEqual([name('a'), name('b')]);
  });
});

describe('planReconcile on Khepri (RabbitMQ 4.3)', () => {
  const khepri: Partial<NodeStatus> = { ...on4({ version: '4.3.6' }), metadataStore: 'khepri' };
  // a survives; b and c crashed and EC2 reports their instances terminated
  const twoOfThreeGone = (store: Partial<NodeStatus>) =>
    observed({
      group: [inGroup('a')],
      ec2: [
        ['a', 'running'],
        ['b', 'terminated'],
        ['c', 'terminated'],
      ],
      statuses: [['a', status('a', ['a'], ['a', 'b', 'c'], store)]],
      targets: ['a', 'b', 'c'],
    });

  it('with no majority of the members running, forgets nothing (it cannot complete), says so, and only fixes the targets', () => {
    const plan = planReconcile(twoOfThreeGone(khepri), testConfig());

    expect(plan.actions).toEqual([
      { kind: 'deregister', instanceId: 'b' },
      { kind: 'deregister', instanceId: 'c' },
    ]);
    expect(plan.findings).toContainEqual({
      kind: 'majority-lost',
      running: [name('a')],
      members: [name('a'), name('b'), name('c')],
      recovery: { instanceId: 'a', node: name('a'), drops: [name('b'), name('c')] },
      held: 'operator',
    });
    expect(plan.gauges.metadataMajorityLost).toBe(1);
  });

  it('with MAJORITY_LOSS_RECOVERY=auto, plans the recovery on the survivor: the lost members are gone in EC2', () => {
    const plan = planReconcile(twoOfThreeGone(khepri), testConfig({ MAJORITY_LOSS_RECOVERY: 'auto' }));

    expect(plan.actions).toContainEqual({ kind: 'recover-majority', instanceId: 'a', node: name('a'), drops: [name('b'), name('c')] });
    expect(plan.actions.filter((a) => a.kind !== 'deregister' && a.kind !== 'recover-majority')).toEqual([]);
  });

  it.each([
    [
      'a lost member whose instance EC2 still runs (it may only be cut off: a second cluster would split the brain)',
      'lost-member-not-gone',
      [
        ['a', 'running'],
        ['b', 'terminated'],
        ['c', 'running'],
      ],
    ],
    [
      'a lost member whose instance EC2 does not know',
      'lost-member-not-gone',
      [
        ['a', 'running'],
        ['b', 'terminated'],
      ],
    ],
  ] as const)('holds the recovery, even with auto, for %s', (_, held, ec2) => {
    const plan = planReconcile(
      observed({
        group: [inGroup('a')],
        ec2: ec2 as unknown as Array<[string, 'running' | 'terminated']>,
        statuses: [['a', status('a', ['a'], ['a', 'b', 'c'], khepri)]],
        targets: ['a'],
      }),
      testConfig({ MAJORITY_LOSS_RECOVERY: 'auto' }),
    );

    expect(plan.findings).toContainEqual(expect.objectContaining({ kind: 'majority-lost', held }));
    expect(plan.actions.filter((a) => a.kind === 'recover-majority')).toEqual([]);
  });

  it("holds the recovery with two survivors of five: which one boots standalone is an operator's choice", () => {
    const plan = planReconcile(
      observed({
        group: [inGroup('a'), inGroup('b')],
        ec2: [
          ['a', 'running'],
          ['b', 'running'],
          ['c', 'terminated'],
          ['d', 'terminated'],
          ['e', 'terminated'],
        ],
        statuses: [
          ['a', status('a', ['a', 'b'], ['a', 'b', 'c', 'd', 'e'], khepri)],
          ['b', status('b', ['a', 'b'], ['a', 'b', 'c', 'd', 'e'], khepri)],
        ],
        targets: ['a', 'b'],
      }),
      testConfig({ MAJORITY_LOSS_RECOVERY: 'auto' }),
    );

    expect(plan.findings).toContainEqual(expect.objectContaining({ kind: 'majority-lost', held: 'several-survivors' }));
    expect(plan.actions.filter((a) => a.kind === 'recover-majority')).toEqual([]);
  });

  it('reports the deprecated features the members use, once, and changes nothing for them', () => {
    const plan = planReconcile(
      healthyPair(
        { ...khepri, deprecatedFeaturesUsed: ['transient_nonexcl_queues'] },
        { ...khepri, deprecatedFeaturesUsed: ['global_qos', 'transient_nonexcl_queues'] },
      ),
      testConfig(),
    );

    expect(plan.findings).toContainEqual({ kind: 'deprecated-features-used', features: ['global_qos', 'transient_nonexcl_queues'] });
    expect(plan.gauges.deprecatedFeaturesUsed).toBe(2);
    expect(plan.actions).toEqual([]);
  });

  it('with a majority running, forgets a departed member as on Mnesia, and publishes the gauge at 0', () => {
    const plan = planReconcile(
      observed({
        group: [inGroup('a'), inGroup('b')],
        ec2: [
          ['a', 'running'],
          ['b', 'running'],
          ['c', 'terminated'],
        ],
        statuses: [
          ['a', status('a', ['a', 'b'], ['a', 'b', 'c'], khepri)],
          ['b', status('b', ['a', 'b'], ['a', 'b', 'c'], khepri)],
        ],
        targets: ['a', 'b'],
      }),
      testConfig(),
    );

    expect(plan.actions).toEqual([{ kind: 'forget', node: name('c'), instanceId: 'c', departed: 'true' }]);
    expect(plan.gauges.metadataMajorityLost).toBe(0);
  });

  it('on Mnesia the same survivor forgets (pause_minority, not the store, guards a minority there) and no gauge is published', () => {
    const plan = planReconcile(twoOfThreeGone({}), testConfig());

    expect(plan.actions.filter((a) => a.kind === 'forget')).toHaveLength(2);
    expect(plan.gauges.metadataMajorityLost).toBeUndefined();
  });
});

describe('planReconcile on a partition that outlived the cut', () => {
  /** Every node runs and sees only its own side; each side reports the others unreachable. */
  const split = (...sides: string[][]) => {
    const ids = sides.flat();
    const statuses = sides.flatMap((side, n) => {
      const unreachable = sides
        .filter((_, other) => other !== n)
        .flat()
        .map(name);
      return side.map((id) => [id, status(id, side, ids, { partitions: Object.fromEntries(side.map((s) => [name(s), unreachable])) })] as [string, NodeStatus]);
    });
    return { group: ids.map((id) => inGroup(id)), ec2: ids.map((id) => [id, 'running'] as [string, 'running']), statuses, targets: ids };
  };
  const restarts = (plan: ReturnType<typeof planReconcile>) => plan.actions.filter((a) => a.kind === 'restart');

  it('restarts the losing side, reported from both sides, and never joins it', () => {
    const plan = planReconcile(observed(split(['a', 'b'], ['c'])), testConfig());

    expect(restarts(plan)).toEqual([{ kind: 'restart', instanceId: 'c', node: name('c'), survivors: [name('a'), name('b')] }]);
    expect(plan.actions.filter((a) => a.kind === 'join')).toEqual([]);
    expect(plan.partition).toEqual({ sides: [[name('a'), name('b')], [name('c')]], winner: [name('a'), name('b')], losers: [name('c')] });
    expect(plan.gauges.partitions).toBe(3);
    expect(plan.runningMembers).toEqual([name('a'), name('b')]);
  });

  it('keeps the larger side whatever order the statuses arrive in', () => {
    const parts = split(['c'], ['a', 'b']);
    const reversed = { ...parts, statuses: [...parts.statuses].reverse() };

    expect(restarts(planReconcile(observed(parts), testConfig())).map((a) => a.node)).toEqual([name('c')]);
    expect(restarts(planReconcile(observed(reversed), testConfig())).map((a) => a.node)).toEqual([name('c')]);
  });

  it('on a tie keeps the side whose sorted node names come first, and restarts every node of the other', () => {
    const plan = planReconcile(observed(split(['c', 'd'], ['a', 'b'])), testConfig());

    expect(plan.partition?.winner).toEqual([name('a'), name('b')]);
    expect(restarts(plan)).toEqual([
      { kind: 'restart', instanceId: 'c', node: name('c'), survivors: [name('a'), name('b')] },
      { kind: 'restart', instanceId: 'd', node: name('d'), survivors: [name('a'), name('b')] },
    ]);
  });

  it.each([
    [
      [
        ['a', 'b', 'c'],
        ['d', 'e'],
      ],
    ],
    [[['a'], ['b'], ['c']]],
    [[['e'], ['a', 'd'], ['b', 'c']]],
    [
      [
        ['b', 'd'],
        ['a', 'c', 'e'],
      ],
    ],
  ])('never restarts a node of the winning side (%j), and restarts every other node', (sides) => {
    const plan = planReconcile(observed(split(...sides)), testConfig());
    const winner = plan.partition!.winner!;

    expect(winner.length).toBe(Math.max(...sides.map((side) => side.length)));
    expect(
      restarts(plan)
        .map((a) => a.node)
        .sort(),
    ).toEqual(
      sides
        .flat()
        .map(name)
        .filter((n) => !winner.includes(n))
        .sort(),
    );
    expect(restarts(plan).every((a) => a.kind === 'restart' && a.survivors.join() === winner.join())).toBe(true);
    expect(plan.runningMembers).toEqual(winner);
  });

  it('restarts nothing when only one side answered: which side is losing is not known', () => {
    const parts = split(['a', 'b'], ['c']);
    const fromOneSide = { ...parts, statuses: [...parts.statuses.filter(([id]) => id !== 'c'), ['c', new Error('Undeliverable')] as [string, Error]] };
    const fromTheOther = { ...parts, statuses: parts.statuses.map(([id, s]) => [id, id === 'c' ? s : new Error('TimedOut')] as [string, NodeStatus | Error]) };

    for (const seen of [fromOneSide, fromTheOther]) {
      const plan = planReconcile(observed(seen), testConfig());
      expect(restarts(plan)).toEqual([]);
      expect(plan.partition).toMatchObject({ hold: 'one-side-answered' });
      expect(plan.findings).toContainEqual(expect.objectContaining({ kind: 'partitioned' }));
    }
  });

  it('restarts nothing when a losing node cannot be restarted with the rest of its side', () => {
    const parts = split(['a', 'b', 'c'], ['d', 'e']);
    const plan = planReconcile(
      observed({ ...parts, group: parts.group.map((g) => (g.instanceId === 'e' ? inGroup('e', 'Terminating:Wait') : g)) }),
      testConfig(),
    );

    expect(restarts(plan)).toEqual([]);
    expect(plan.partition).toMatchObject({ losers: [name('d'), name('e')], hold: 'loser-not-restartable' });
    expect(plan.actions.filter((a) => a.kind === 'join')).toEqual([]);
  });

  it('restarts nothing when the sides share a node (a partial partition)', () => {
    const parts = split(['a', 'b'], ['c']);
    const overlapping = status('c', ['b', 'c'], ['a', 'b', 'c'], { partitions: { [name('c')]: [name('a')] } });
    const plan = planReconcile(
      observed({ ...parts, statuses: parts.statuses.map(([id, s]) => [id, id === 'c' ? overlapping : s] as [string, NodeStatus]) }),
      testConfig(),
    );

    expect(restarts(plan)).toEqual([]);
    expect(plan.partition).toMatchObject({ hold: 'sides-overlap' });
  });

  it('leaves a member that pause_minority paused to RabbitMQ: no join, a finding', () => {
    const paused = status('c', [], [], { running: false, paused: true, members: { all: [], running: [] } });
    const crashed = status('c', [], [], { running: false, paused: false, members: { all: [], running: [] } });
    const parts = (c: NodeStatus) =>
      observed({
        group: [inGroup('a'), inGroup('b'), inGroup('c')],
        ec2: [
          ['a', 'running'],
          ['b', 'running'],
          ['c', 'running'],
        ],
        statuses: [
          ['a', status('a', ['a', 'b'], ['a', 'b', 'c'])],
          ['b', status('b', ['a', 'b'], ['a', 'b', 'c'])],
          ['c', c],
        ],
        targets: ['a', 'b'],
      });

    const plan = planReconcile(parts(paused), testConfig());

    expect(plan.actions).toEqual([]);
    expect(plan.findings).toContainEqual({ kind: 'paused', node: name('c'), instanceId: 'c' });
    expect(plan.findings).toContainEqual(expect.objectContaining({ kind: 'member-down', node: name('c') }));
    // an app stopped by anything else is still started by a join
    expect(planReconcile(parts(crashed), testConfig()).actions).toEqual([{ kind: 'join', instanceId: 'c', node: name('c') }]);
  });
});

describe('planReconcile: stable feature flags left disabled', () => {
  const flagsOff = (a: Partial<NodeStatus>, b: Partial<NodeStatus> = a) => healthyPair({ featureFlagsDisabled: 3, ...a }, { featureFlagsDisabled: 3, ...b });

  it('enables them on one member once every running member answered with the same version', () => {
    const plan = planReconcile(flagsOff({}), testConfig());

    expect(plan.actions).toEqual([{ kind: 'enable-feature-flags', instanceId: 'a' }]);
    expect(plan.findings).toContainEqual({ kind: 'feature-flags-disabled', count: 3 });
  });

  it('holds while the members run different versions (a roll in progress): the older could not follow', () => {
    const plan = planReconcile(flagsOff({ version: '3.10.8' }, { version: '3.10.9' }), testConfig());

    expect(plan.actions).toEqual([]);
    expect(plan.findings).toContainEqual({ kind: 'feature-flags-disabled', count: 3, held: 'versions-differ' });
  });

  it('holds while an instance is launching: it may run an older version', () => {
    const observedPair = flagsOff({});
    observedPair.group.instances.push(inGroup('n', 'Pending:Wait'));

    const plan = planReconcile(observedPair, testConfig());

    expect(plan.actions.filter((a) => a.kind === 'enable-feature-flags')).toEqual([]);
    expect(plan.findings).toContainEqual({ kind: 'feature-flags-disabled', count: 3, held: 'launch-in-progress' });
  });
});

describe('planReconcile: the administrator credential', () => {
  it("keeps the administrator from one member when the cluster's recorded version is not the secret's current one", () => {
    expect(planReconcile({ ...healthyPair(), adminSecretVersion: 'v2' }, testConfig()).actions).toEqual([{ kind: 'keep-administrator', instanceId: 'a' }]);
    const applied = healthyPair({ adminSecretVersion: 'v2' }, { adminSecretVersion: 'v2' });
    expect(planReconcile({ ...applied, adminSecretVersion: 'v2' }, testConfig()).actions).toEqual([]);
    // no secret configured (or not described): nothing planned
    expect(planReconcile(healthyPair(), testConfig()).actions).toEqual([]);
  });
});
