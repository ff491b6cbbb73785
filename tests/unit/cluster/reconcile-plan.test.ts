import { planReconcile, type ObservedCluster } from '../../../shared/cluster/reconcile-plan';
import { membersDigest, withMembers, type NodeStatus } from '../../../shared/rabbitmq/operations';
import type { GroupInstance, TargetState } from '../../../shared/ports';
import { testConfig } from './test-config';

const name = (id: string) => `rabbit@ip-${id}`;
const status = (id: string, running: string[], all = running, extra: Partial<NodeStatus> = {}): NodeStatus => ({
  node: name(id), version: '3.10.8', running: true, members: { all: all.map(name), running: running.map(name) },
  partitions: {}, alarms: [], cookieHash: 'x', policies: ['ha-all'], defaultQueueType: '', underMaintenance: false, ...extra,
});
const on4 = (extra: Partial<NodeStatus> = {}): Partial<NodeStatus> => ({ version: '4.0.5', policies: ['warren-quorum'], defaultQueueType: 'quorum', ...extra });
const healthyPair = (a: Partial<NodeStatus> = {}, b: Partial<NodeStatus> = {}) => observed({
  group: [inGroup('a'), inGroup('b')], ec2: [['a', 'running'], ['b', 'running']],
  statuses: [['a', status('a', ['a', 'b'], ['a', 'b'], a)], ['b', status('b', ['a', 'b'], ['a', 'b'], b)]], targets: ['a', 'b'],
});
const inGroup = (instanceId: string, lifecycleState = 'InService'): GroupInstance => ({ instanceId, lifecycleState, healthStatus: 'Healthy', availabilityZone: 'a' });

function observed(parts: { group: GroupInstance[]; ec2: Array<[string, 'running' | 'terminated']>; statuses: Array<[string, NodeStatus | Error]>; targets: string[] }): ObservedCluster {
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
    const plan = planReconcile(observed({
      group: [inGroup('a'), inGroup('b')], ec2: [['a', 'running'], ['b', 'running']],
      statuses: [['a', status('a', ['a', 'b'])], ['b', status('b', ['a', 'b'])]], targets: ['a', 'b'],
    }), testConfig());

    expect(plan.actions).toEqual([]);
    expect(plan.gauges).toEqual({ membersRunning: 2, inServiceInstances: 2, partitions: 0 });
  });

  it('forgets a stopped member whose instance is terminated, and deregisters its stale target', () => {
    const plan = planReconcile(observed({
      group: [inGroup('a'), inGroup('b')], ec2: [['a', 'running'], ['b', 'running'], ['c', 'terminated']],
      statuses: [['a', status('a', ['a', 'b'], ['a', 'b', 'c'])], ['b', status('b', ['a', 'b'], ['a', 'b', 'c'])]], targets: ['a', 'b', 'c'],
    }), testConfig());

    expect(plan.actions).toEqual([{ kind: 'forget', node: name('c'), instanceId: 'c', departed: 'true' }, { kind: 'deregister', instanceId: 'c' }]);
  });

  it('joins a standalone node to the largest view and reports the split', () => {
    const plan = planReconcile(observed({
      group: [inGroup('a'), inGroup('b'), inGroup('s')], ec2: [['a', 'running'], ['b', 'running'], ['s', 'running']],
      statuses: [['a', status('a', ['a', 'b'])], ['b', status('b', ['a', 'b'])], ['s', status('s', ['s'])]], targets: ['a', 'b'],
    }), testConfig());

    expect(plan.actions).toEqual([{ kind: 'join', instanceId: 's', node: name('s') }]);
    expect(plan.findings).toContainEqual({ kind: 'split-views', views: [[name('a'), name('b')], [name('s')]] });
  });

  it('keeps the target of a node that did not answer, and reports it', () => {
    const plan = planReconcile(observed({
      group: [inGroup('a'), inGroup('b')], ec2: [['a', 'running'], ['b', 'running']],
      statuses: [['a', status('a', ['a', 'b'])], ['b', new Error('Undeliverable')]], targets: ['a', 'b'],
    }), testConfig());

    expect(plan.actions).toEqual([]);
    expect(plan.findings).toContainEqual({ kind: 'unreachable', instanceId: 'b', error: 'Undeliverable' });
  });

  it('plans the same from statuses whose membership was lent by one reporter of each view (runOnMany over a listing)', () => {
    const whole = [['a', status('a', ['a', 'b'], ['a', 'b', 'c'])], ['b', status('b', ['a', 'b'], ['a', 'b', 'c'])], ['c', status('c', ['c'], ['a', 'b', 'c'])]] as const;
    // what the shell builds: line 1 of every node, and the members of only a (view a,b) and c (view c)
    const lent = whole.map(([id, full]) => {
      const { members, ...facts } = full;
      const summary = { ...facts, membersDigest: membersDigest(members), memberCounts: { all: members.all.length, running: members.running.length } };
      const reporter = whole.find(([, other]) => membersDigest(other.members) === summary.membersDigest)![1];
      return [id, withMembers(summary, reporter.members)] as [string, NodeStatus];
    });
    const parts = { group: ['a', 'b', 'c'].map((id) => inGroup(id)), ec2: ['a', 'b', 'c'].map((id) => [id, 'running'] as [string, 'running']), targets: ['a', 'b', 'c'] };

    const fromLent = planReconcile(observed({ ...parts, statuses: lent }), testConfig());
    const fromWhole = planReconcile(observed({ ...parts, statuses: whole.map(([id, s]) => [id, s]) }), testConfig());

    expect(fromLent).toEqual(fromWhole);
    expect(fromLent.findings).toContainEqual({ kind: 'split-views', views: [[name('a'), name('b')], [name('c')]] });
    expect(fromLent.actions).toContainEqual({ kind: 'join', instanceId: 'c', node: name('c') });
  });

  it('counts partitioned nodes and re-applies a missing 3.x policy', () => {
    const partitioned = status('a', ['a', 'b'], ['a', 'b'], { partitions: { [name('a')]: [name('b')] }, policies: [] });
    const plan = planReconcile(observed({
      group: [inGroup('a'), inGroup('b')], ec2: [['a', 'running'], ['b', 'running']],
      statuses: [['a', partitioned], ['b', status('b', ['a', 'b'], ['a', 'b'], { policies: [] })]], targets: ['a', 'b'],
    }), testConfig());

    expect(plan.gauges.partitions).toBe(1);
    expect(plan.actions).toEqual([{ kind: 'apply-policy', instanceId: 'a' }]);
  });

  it('founds nothing when no node runs', () => {
    const down = status('a', [], [], { running: false, members: { all: [], running: [] } });
    const plan = planReconcile(observed({
      group: [inGroup('a')], ec2: [['a', 'running']], statuses: [['a', down]], targets: [],
    }), testConfig());

    expect(plan.actions).toEqual([]);
    expect(plan.findings).toContainEqual({ kind: 'no-running-cluster' });
  });

  it('on 4.x re-applies a missing quorum policy, and a default queue type other than the configured one', () => {
    expect(planReconcile(healthyPair(on4(), on4()), testConfig()).actions).toEqual([]);
    expect(planReconcile(healthyPair(on4({ policies: ['ha-all'] }), on4({ policies: ['ha-all'] })), testConfig()).actions).toEqual([{ kind: 'apply-policy', instanceId: 'a' }]);
    expect(planReconcile(healthyPair(on4({ defaultQueueType: 'classic' }), on4({ defaultQueueType: 'classic' })), testConfig()).actions).toEqual([{ kind: 'apply-policy', instanceId: 'a' }]);
  });

  it('on 3.x does not care about the default queue type', () => {
    const plan = planReconcile(healthyPair({ defaultQueueType: 'classic' }, { defaultQueueType: 'classic' }), testConfig());

    expect(plan.actions).toEqual([]);
  });

  it('does not register a running member under maintenance, and reports it', () => {
    const plan = planReconcile(observed({
      group: [inGroup('a'), inGroup('b')], ec2: [['a', 'running'], ['b', 'running']],
      statuses: [['a', status('a', ['a', 'b'])], ['b', status('b', ['a', 'b'], ['a', 'b'], { underMaintenance: true })]], targets: ['a'],
    }), testConfig());

    expect(plan.actions).toEqual([]);
    expect(plan.findings).toContainEqual({ kind: 'under-maintenance', node: name('b'), instanceId: 'b' });
  });

  it('deregisters a registered member under maintenance (a drained spot node gets no traffic back)', () => {
    const plan = planReconcile(healthyPair({}, { underMaintenance: true }), testConfig());

    expect(plan.actions).toEqual([{ kind: 'deregister', instanceId: 'b' }]);
    expect(plan.runningMembers).toEqual([name('a'), name('b')]);
  });
});
