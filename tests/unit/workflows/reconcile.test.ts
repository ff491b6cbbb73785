import type { EventOf } from '../../../shared/events/types';
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

  it('never applies a mirroring policy to a 4.x cluster', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a', '4.0.5');
    cloud.addMember('i-b', '4.0.5');

    const outcome = await reconcile(tick(cloud), cloud.deps());

    expect(outcome.details!.actions).toEqual([]);
    expect(cloud.commands('applyPolicy')).toHaveLength(0);
  });
});
