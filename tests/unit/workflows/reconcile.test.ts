import type { EventOf } from '../../../shared/events/types';
import { launch } from '../../../shared/workflows/launch';
import { resetPolicyNotes } from '../../../shared/workflows/policy-choice';
import { LAUNCH_EVENT_GRACE_MS } from '../../../shared/cluster/orphaned-hooks';
import { reconcile } from '../../../shared/workflows/reconcile';
import { testConfig } from '../../support/config';
import { FakeCloud } from '../../support/fake-cloud';

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

/** Two members and a third the group is terminating, whose terminate event never came. */
function terminatingWithoutItsEvent(): FakeCloud {
  const cloud = new FakeCloud();
  cloud.addMember('i-a');
  cloud.addMember('i-b');
  cloud.addMember('i-old');
  cloud.policies.add('ha-all');
  cloud.startTerminating('i-old');
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

  it('leaves a launch younger than the grace to its event', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.addMember('i-b');
    cloud.policies.add('ha-all');
    cloud.addLaunching('i-new', 0);
    cloud.clock.advance(LAUNCH_EVENT_GRACE_MS - 1_000);

    const outcome = await reconcile(tick(cloud), cloud.deps());

    expect(outcome.details!.actions).toEqual([]);
    expect(outcome.details!.adoptedHooks).toBeUndefined();
    expect(cloud.actions.get('i-new')?.state).toBe('open');
    expect(cloud.commands().filter((c) => c.instanceId === 'i-new')).toEqual([]);
  });

  it('takes over a launch whose event never came: joined, verified, registered, CONTINUE; the late event is a no-op', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.addMember('i-b');
    cloud.policies.add('ha-all');
    cloud.addLaunching('i-new', 0);
    cloud.clock.advance(LAUNCH_EVENT_GRACE_MS);

    const outcome = await reconcile(tick(cloud), cloud.deps());

    expect(outcome.details!.adoptedHooks).toEqual([{ instanceId: 'i-new', transition: 'launch', result: 'continued' }]);
    expect(cloud.actions.get('i-new')?.state).toBe('CONTINUE');
    expect(cloud.runningMembers()).toContain(cloud.get('i-new').node.name);
    expect(cloud.indexOf('ssm', 'join', 'i-new')).toBeLessThan(cloud.indexOf('elb', 'register', 'i-new'));
    expect(cloud.metric('OrphanedHooksAdopted')).toBe(1);
    // the hook is named by instance id: reconcile has no token
    const completion = cloud.calls.find((c) => c.port === 'lifecycle' && c.op === 'complete');
    expect(completion).toMatchObject({ instanceId: 'i-new', args: 'CONTINUE' });

    const late = await launch(cloud.launchEvent('i-new'), cloud.deps());
    expect(late).toEqual({ result: 'done', reason: 'lifecycle action already completed' });
  });

  it('takes over a termination whose event never came: out of traffic, left, forgotten, CONTINUE', async () => {
    const cloud = terminatingWithoutItsEvent();

    const outcome = await reconcile(tick(cloud), cloud.deps());

    expect(outcome.details!.adoptedHooks).toEqual([{ instanceId: 'i-old', transition: 'terminate', result: 'continued' }]);
    expect(cloud.actions.get('i-old')?.state).toBe('CONTINUE');
    expect(cloud.allMembers()).not.toContain(cloud.get('i-old').node.name);
    expect(cloud.indexOf('elb', 'deregister', 'i-old')).toBeLessThan(cloud.indexOf('ssm', 'leave', 'i-old'));
    expect(cloud.runningMembers()).toHaveLength(2);
  });

  it('lists hooks without their event on a dry run and takes none over', async () => {
    const cloud = terminatingWithoutItsEvent();

    const outcome = await reconcile(tick(cloud, true), cloud.deps());

    expect(outcome.details!.orphanedHooks).toEqual([{ instanceId: 'i-old', transition: 'terminate' }]);
    expect(cloud.actions.get('i-old')?.state).toBe('open');
    expect(cloud.commands('leave')).toHaveLength(0);
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

  describe('a Khepri cluster that lost its majority: two of three crashed, EC2 reports them terminated', () => {
    function lostMajority(recovery: 'manual' | 'auto') {
      const cloud = new FakeCloud(testConfig({ MAJORITY_LOSS_RECOVERY: recovery }));
      cloud.metadataStore = 'khepri';
      for (const id of ['i-a', 'i-b', 'i-c']) cloud.addMember(id, '4.3.6', 'both');
      cloud.policies.add('warren-quorum');
      cloud.defaultQueueType = 'quorum';
      cloud.terminateInEc2('i-b');
      cloud.terminateInEc2('i-c');
      return cloud;
    }

    it('manual (the default): forgets nobody, names the recovery for an operator, runs nothing on the nodes', async () => {
      const cloud = lostMajority('manual');

      const outcome = await reconcile(tick(cloud), cloud.deps());

      expect(cloud.commands().filter((c) => !c.op.endsWith('status'))).toEqual([]);
      // only the load balancer follows: the dead members' targets go
      expect(outcome.details!.actions).toEqual([
        { kind: 'deregister', instanceId: 'i-b' },
        { kind: 'deregister', instanceId: 'i-c' },
      ]);
      expect(cloud.logs).toContainEqual(
        expect.objectContaining({
          message: 'reconcile finding',
          extra: expect.objectContaining({ kind: 'majority-lost', held: 'operator', recovery: expect.objectContaining({ instanceId: 'i-a' }) }),
        }),
      );
      expect(cloud.metricLog).toContainEqual({ name: 'gauge:MetadataMajorityLost', value: 1 });
    });

    it('auto: recovers on the survivor, then the next tick forgets nothing more and reports the majority back', async () => {
      const cloud = lostMajority('auto');
      const survivor = cloud.get('i-a').node.name;

      await reconcile(tick(cloud), cloud.deps());

      expect(cloud.commands('recover')).toEqual([expect.objectContaining({ instanceId: 'i-a', args: { DryRun: 'false' } })]);
      expect(cloud.allMembers()).toEqual([survivor]);
      expect(cloud.metricLog).toContainEqual({ name: 'MajorityRecoveries', value: 1 });
      const next = await reconcile(tick(cloud), cloud.deps());
      expect(next.details!.actions).toEqual([]);
      expect(cloud.metricLog.filter((m) => m.name === 'gauge:MetadataMajorityLost').map((m) => m.value)).toEqual([1, 0]);
    });
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

describe('reconcile of a partition that outlived the cut', () => {
  function partitioned(...sides: string[][]) {
    const cloud = new FakeCloud();
    for (const id of sides.flat()) cloud.addMember(id);
    cloud.policies.add('ha-all');
    cloud.partitionInto(...sides);
    return cloud;
  }
  const gauge = (cloud: FakeCloud, name: string) => cloud.metricLog.filter((m) => m.name === `gauge:${name}`).map((m) => m.value);

  it('restarts the losing node only, before any other repair, and the partition is gone on the next tick', async () => {
    const cloud = partitioned(['i-a', 'i-b'], ['i-c']);

    const outcome = await reconcile(tick(cloud), cloud.deps());

    expect(outcome.result).toBe('acted');
    expect(cloud.commands('restart').map((c) => [c.instanceId, c.args])).toEqual([
      [
        'i-c',
        {
          Survivors: [cloud.get('i-a').node.name, cloud.get('i-b').node.name].join(','),
          Step: 'restart',
          TimeoutSeconds: String(cloud.config.bounds.ssmCommandSeconds),
        },
      ],
    ]);
    expect(cloud.restartSteps).toEqual([
      { instanceId: 'i-c', step: 'stop' },
      { instanceId: 'i-c', step: 'start' },
    ]);
    expect(cloud.commands('join')).toEqual([]);
    expect(cloud.metric('PartitionRepairs')).toBe(1);
    expect(cloud.indexOf('ssm', 'restart', 'i-c')).toBeLessThan(cloud.indexOf('elb', 'deregister', 'i-c'));
    expect(cloud.logs).toContainEqual(
      expect.objectContaining({ message: 'reconcile partition decision', extra: expect.objectContaining({ restart: [cloud.get('i-c').node.name] }) }),
    );

    await reconcile(tick(cloud), cloud.deps());

    expect(gauge(cloud, 'Partitions')).toEqual([3, 0]);
    expect(cloud.runningMembers()).toHaveLength(3);
    expect(cloud.commands('restart')).toHaveLength(1);
  });

  it('stops every node of the losing side before any of them starts (the documented recovery)', async () => {
    const cloud = partitioned(['i-a', 'i-b', 'i-c'], ['i-d', 'i-e']);

    await reconcile(tick(cloud), cloud.deps());

    expect(cloud.restartSteps).toEqual([
      { instanceId: 'i-d', step: 'stop' },
      { instanceId: 'i-e', step: 'stop' },
      { instanceId: 'i-d', step: 'start' },
      { instanceId: 'i-e', step: 'start' },
    ]);
    expect(cloud.restartSteps.some((s) => ['i-a', 'i-b', 'i-c'].includes(s.instanceId))).toBe(false);
    expect(cloud.metric('PartitionRepairs')).toBe(1);
  });

  it('starts none of the losing side when the stop fails on one of them, and fails the tick for a retry', async () => {
    const cloud = partitioned(['i-a', 'i-b', 'i-c'], ['i-d', 'i-e']);
    cloud.failCommand('i-e', 'restart', 1);

    await expect(reconcile(tick(cloud), cloud.deps())).rejects.toThrow(/reconcile actions failed: restart, restart/);

    expect(cloud.restartSteps).toEqual([{ instanceId: 'i-d', step: 'stop' }]);
    expect(cloud.metric('PartitionRepairs')).toBe(0);
    expect(cloud.metric('ReconcileActionsFailed')).toBe(2);

    // the next tick restarts the loser still running first, then joins the one left stopped
    await reconcile(tick(cloud), cloud.deps());

    const ops = cloud
      .commands()
      .map((c) => c.op)
      .filter((op) => op !== 'runOnMany:status');
    expect(ops.indexOf('restart')).toBeLessThan(ops.indexOf('join'));
    expect(cloud.runningMembers()).toHaveLength(5);
  });

  it('leaves the losing side running when no survivor answers from it (the cut may last)', async () => {
    const cloud = partitioned(['i-a', 'i-b'], ['i-c']);
    cloud.get('i-c').partition!.cutLasts = true;

    await expect(reconcile(tick(cloud), cloud.deps())).rejects.toThrow(/restart/);

    expect(cloud.logs).toContainEqual(
      expect.objectContaining({
        message: 'reconcile action failed',
        extra: expect.objectContaining({ error: expect.stringContaining('no-survivor-running') }),
      }),
    );
    expect(cloud.restartSteps).toEqual([]);
    expect(cloud.get('i-c').node.running).toBe(true);
  });

  it('does not join a member that pause_minority paused', async () => {
    const cloud = new FakeCloud();
    for (const id of ['i-a', 'i-b', 'i-c']) cloud.addMember(id);
    cloud.policies.add('ha-all');
    Object.assign(cloud.get('i-c'), { paused: true });
    cloud.get('i-c').node.running = false;

    await reconcile(tick(cloud), cloud.deps());

    expect(cloud.commands('join')).toEqual([]);
    expect(cloud.commands('restart')).toEqual([]);
    expect(cloud.logs).toContainEqual(expect.objectContaining({ extra: expect.objectContaining({ kind: 'paused', instanceId: 'i-c' }) }));
  });
});

describe('reconcile workflow: quorum replicas', () => {
  it("repairs a member's replicas with its own NodeJoin (no policy), removes a departed node's with NodeForget, and publishes the gauges", async () => {
    const cloud = new FakeCloud();
    for (const id of ['i-a', 'i-b', 'i-c']) cloud.addMember(id);
    cloud.policies.add('ha-all');
    const [, second] = cloud.runningMembers();
    cloud.replicas = { queues: 5, degraded: 3, leaderless: 0, missing: { [second!]: 2 }, stopped: {}, departed: { 'rabbit@ip-10-0-9-9': 1 } };

    const outcome = await reconcile(tick(cloud), cloud.deps());

    expect(outcome.result).toBe('acted');
    const [join, ...moreJoins] = cloud.commands('join');
    expect(moreJoins).toEqual([]);
    expect(join).toMatchObject({
      instanceId: [...cloud.instances.values()].find((i) => i.node.name === second)!.id,
      args: expect.objectContaining({ PolicyName: '', DefaultQueueType: '', GrowQuorum: 'true' }),
    });
    expect(cloud.commands('forget')).toEqual([expect.objectContaining({ args: { NodeName: 'rabbit@ip-10-0-9-9', Departed: 'false' } })]);
    // the departed node's replicas go before any member grows
    expect(cloud.calls.indexOf(cloud.commands('forget')[0]!)).toBeLessThan(cloud.calls.indexOf(join!));
    expect(cloud.metric('gauge:QuorumQueues')).toBe(5);
    expect(cloud.metric('gauge:QuorumQueuesDegraded')).toBe(3);
    expect(cloud.metricLog).toContainEqual({ name: 'gauge:QuorumQueuesLeaderless', value: 0 });
  });
});
