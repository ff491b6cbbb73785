import type { EventOf } from '../../../shared/events/types';
import { launch } from '../../../shared/workflows/launch';
import { resetPolicyNotes } from '../../../shared/workflows/policy-choice';
import { reconcile } from '../../../shared/workflows/reconcile';
import { FakeCloud } from './fake-cloud';

const tick = (cloud: FakeCloud, dryRun = false): EventOf<'reconcile'> => ({ kind: 'reconcile', id: 'evt-tick', time: cloud.clock.now(), dryRun });

/** Three members; one departed without its hook, one InService but outside the cluster, one target missing, no policy. */
function driftedCluster() {
  const cloud = new FakeCloud();
  cloud.addMember('i-a');
  cloud.addMember('i-b');
  cloud.addMember('i-gone');
  cloud.terminateInEc2('i-gone');
  cloud.addInstance('i-outsider', 'InService').node.running = true;
  cloud.targets.delete('i-b');
  return cloud;
}

beforeEach(resetPolicyNotes);

describe('reconcile workflow', () => {
  it('plans on a dry run and acts on nothing', async () => {
    const cloud = driftedCluster();
    const members = cloud.allMembers();

    const outcome = await reconcile(tick(cloud, true), cloud.deps());

    expect(outcome.result).toBe('planned');
    expect((outcome.details!.actions as Array<{ kind: string }>).map((a) => a.kind).sort()).toEqual(
      ['apply-policy', 'deregister', 'forget', 'join', 'register'].sort(),
    );
    expect(cloud.allMembers()).toEqual(members);
    expect(cloud.policies.size).toBe(0);
    expect(cloud.targets.has('i-b')).toBe(false);
    expect(cloud.calls.filter((c) => ['forget', 'join', 'applyPolicy', 'register', 'deregister'].includes(c.op))).toHaveLength(0);
  });

  it('repairs in order: forget, join, policy, targets; with one status command for all nodes', async () => {
    const cloud = driftedCluster();

    const outcome = await reconcile(tick(cloud), cloud.deps());

    expect(outcome.result).toBe('acted');
    const order = ['forget', 'join', 'applyPolicy', 'register', 'deregister'].map((op) => cloud.calls.findIndex((c) => c.op === op));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect(cloud.allMembers()).not.toContain(cloud.get('i-gone').node.name);
    expect(cloud.runningMembers()).toContain(cloud.get('i-outsider').node.name);
    expect(cloud.policies.has('ha-all')).toBe(true);
    expect(cloud.targets.get('i-b')).toBe('initial');
    expect(cloud.commands('status')).toHaveLength(1);
    expect(cloud.metricLog).toContainEqual({ name: 'gauge:ClusterMembersRunning', value: 2 });
  });

  it('leaves instances in Pending:* and Terminating:* to their hooks', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.addMember('i-b');
    cloud.policies.add('ha-all');
    cloud.addLaunching('i-new');
    cloud.targets.set('i-new', 'initial');
    cloud.addMember('i-old');
    cloud.startTerminating('i-old');
    cloud.get('i-old').node.running = false;

    const outcome = await reconcile(tick(cloud), cloud.deps());

    expect(outcome.details!.actions).toEqual([]);
    expect(cloud.targets.get('i-new')).toBe('initial');
    expect(cloud.targets.get('i-old')).toBe('healthy');
    expect(cloud.allMembers()).toContain(cloud.get('i-old').node.name);
  });

  it('does not forget a stopped node whose instance EC2 still runs, nor a member with no known instance (invariant 1)', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.addMember('i-b');
    cloud.policies.add('ha-all');
    cloud.get('i-b').node.running = false;
    const ghost = cloud.addMember('i-ghost');
    ghost.node.running = false;
    cloud.instances.delete('i-ghost');
    cloud.instances.set('i-ghost-record', { ...ghost, id: 'i-ghost-record', group: undefined });
    cloud.targets.delete('i-ghost');

    await reconcile(tick(cloud), cloud.deps());

    expect(cloud.commands('forget')).toHaveLength(0);
    expect(cloud.allMembers()).toHaveLength(3);
    expect(cloud.logs.some((l) => l.extra?.kind === 'unknown-member' && l.extra.node === ghost.node.name)).toBe(true);
    expect(cloud.logs.some((l) => l.extra?.kind === 'member-down' && l.extra.node === cloud.get('i-b').node.name)).toBe(true);
  });

  it('on 4.x applies a missing quorum policy and the default queue type, never a mirroring key', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a', '4.0.5');
    cloud.addMember('i-b', '4.0.5');

    const outcome = await reconcile(tick(cloud), cloud.deps());

    expect(outcome.details!.actions).toEqual([{ kind: 'apply-policy', instanceId: 'i-a' }]);
    const sent = cloud.commands('applyPolicy')[0]!.args;
    expect(sent).toMatchObject({ PolicyName: 'warren-quorum', DefaultQueueType: 'quorum' });
    expect(JSON.stringify(sent)).not.toContain('ha-');
    expect((await reconcile(tick(cloud), cloud.deps())).details!.actions).toEqual([]);
  });

  it('on 4.x sets a default queue type that differs from the configured one', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a', '4.0.5');
    cloud.addMember('i-b', '4.0.5');
    cloud.policies.add('warren-quorum');
    cloud.defaultQueueType = 'classic';

    await reconcile(tick(cloud), cloud.deps());

    expect(cloud.commands('applyPolicy')).toHaveLength(1);
    expect(cloud.defaultQueueType).toBe('quorum');
  });

  it('on 3.x does not care about the default queue type', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.addMember('i-b');
    cloud.policies.add('ha-all');
    cloud.defaultQueueType = 'classic';

    const outcome = await reconcile(tick(cloud), cloud.deps());

    expect(outcome.details!.actions).toEqual([]);
    expect(cloud.defaultQueueType).toBe('classic');
  });

  it('joins an outsider to a 4.x cluster with the quorum policy, warning once across the launch before it', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a', '4.0.5');
    cloud.addLaunching('i-new', 0, '4.0.5');
    await launch(cloud.launchEvent('i-new'), cloud.deps());
    cloud.addInstance('i-outsider', 'InService', '4.0.5').node.running = true;

    await reconcile(tick(cloud), cloud.deps());

    expect(cloud.commands('join').map((c) => c.args)).toEqual([
      expect.objectContaining({ PolicyName: 'warren-quorum', DefaultQueueType: 'quorum' }),
      expect.objectContaining({ PolicyName: 'warren-quorum', DefaultQueueType: 'quorum' }),
    ]);
    expect(cloud.runningMembers()).toContain(cloud.get('i-outsider').node.name);
    expect(cloud.logs.filter((l) => l.level === 'warn' && l.message === 'configured mirroring keys ignored')).toHaveLength(1);
  });

  it('deregisters a member drained for maintenance and does not register it again', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.addMember('i-b');
    cloud.addMember('i-spot');
    cloud.policies.add('ha-all');
    cloud.get('i-spot').node.drained = true;

    await reconcile(tick(cloud), cloud.deps());
    cloud.targets.delete('i-spot');
    const again = await reconcile(tick(cloud), cloud.deps());

    expect(cloud.commands('forget')).toHaveLength(0);
    expect(cloud.calls.filter((c) => c.port === 'elb' && c.instanceId === 'i-spot').map((c) => c.op)).toEqual(['deregister']);
    expect(again.details!.actions).toEqual([]);
    expect(cloud.logs.some((l) => l.extra?.kind === 'under-maintenance' && l.extra.instanceId === 'i-spot')).toBe(true);
  });
});
