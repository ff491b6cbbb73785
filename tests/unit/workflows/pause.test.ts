import type { EventOf } from '../../../shared/events/types';
import { alarm } from '../../../shared/workflows/alarm';
import { gone } from '../../../shared/workflows/gone';
import { interruption } from '../../../shared/workflows/interruption';
import { launch } from '../../../shared/workflows/launch';
import { LAUNCH_EVENT_GRACE_MS } from '../../../shared/cluster/orphaned-hooks';
import { reconcile } from '../../../shared/workflows/reconcile';
import { terminate } from '../../../shared/workflows/terminate';
import { testConfig } from '../../support/config';
import { FakeCloud } from '../../support/fake-cloud';

/*
 * The pause switch (the warren:paused tag on the group): every workflow acknowledges its event and
 * changes nothing; reconcile observes, reports and repairs nothing; once the tag is gone the next
 * reconcile takes over the hooks still waiting and repairs what happened meanwhile.
 */
const NOTE = 'alice: rebuilding rabbit-3 by hand';
const RUNBOOK = JSON.stringify([{ alarm: 'rabbit-node-down-', match: 'prefix', action: 'replace-instance' }]);
const tick = (cloud: FakeCloud): EventOf<'reconcile'> => ({ kind: 'reconcile', id: `evt-tick-${cloud.clock.now()}`, time: cloud.clock.now(), dryRun: false });

function pausedCluster() {
  const cloud = new FakeCloud(testConfig({ ALARM_RUNBOOK: RUNBOOK }));
  for (const id of ['i-a', 'i-b', 'i-c']) cloud.addMember(id);
  cloud.policies.add('ha-all');
  cloud.paused = NOTE;
  return cloud;
}

/** Nothing that changes a node, a target, a hook or the group: reads and the one heartbeat that asks whether a hook is open. */
function changes(cloud: FakeCloud) {
  return cloud.calls.filter(
    (c) => !(c.op.startsWith('describe') || c.op === 'heartbeat' || c.op === 'isAgentOnline' || c.op === 'runOnMany:status' || c.op === 'groupMembersAmong'),
  );
}

describe('paused by the warren:paused tag on the group', () => {
  it('acknowledges a launch and leaves its instance waiting in Pending:Wait, not joined, not registered', async () => {
    const cloud = pausedCluster();
    cloud.addLaunching('i-new', 0);

    const outcome = await launch(cloud.launchEvent('i-new'), cloud.deps());

    expect(outcome).toEqual({ result: 'done', reason: `paused: ${NOTE}` });
    expect(changes(cloud)).toEqual([]);
    expect(cloud.actions.get('i-new')!.state).toBe('open');
    expect(cloud.get('i-new').node.member).toBe(false);
    expect(cloud.metric('EventsPaused')).toBe(1);
    expect(cloud.logs.find((line) => line.message.startsWith('warren is paused'))).toMatchObject({
      level: 'warn',
      extra: { paused: true, pauseNote: NOTE, kind: 'launch' },
    });
  });

  it('acknowledges a termination, a departed instance, a spot warning and an alarm without touching anything', async () => {
    const cloud = pausedCluster();
    cloud.startTerminating('i-c');
    await expect(terminate(cloud.terminateEvent('i-c'), cloud.deps())).resolves.toMatchObject({ result: 'done', reason: `paused: ${NOTE}` });
    expect(cloud.actions.get('i-c')!.state).toBe('open');

    cloud.terminateInEc2('i-b');
    await expect(gone({ kind: 'gone', id: 'evt-gone', time: cloud.clock.now(), instanceId: 'i-b', state: 'terminated' }, cloud.deps())).resolves.toMatchObject({
      result: 'done',
    });
    expect(cloud.allMembers()).toContain(cloud.get('i-b').node.name);

    await expect(
      interruption({ kind: 'interruption', id: 'evt-int', time: cloud.clock.now(), instanceId: 'i-a', reason: 'spot-interruption' }, cloud.deps()),
    ).resolves.toMatchObject({ result: 'done' });
    await expect(
      alarm({ kind: 'alarm', id: 'evt-alarm', time: cloud.clock.now(), alarmName: 'rabbit-node-down-i-a', state: 'ALARM', instanceId: 'i-a' }, cloud.deps()),
    ).resolves.toMatchObject({ result: 'done' });
    expect(cloud.get('i-a').health).toBe('Healthy');

    expect(changes(cloud)).toEqual([]);
    expect(cloud.metric('EventsPaused')).toBe(4);
  });

  it('reconcile reports what it would repair and repairs nothing; resumed, it takes over the waiting hooks and repairs', async () => {
    const cloud = pausedCluster();
    cloud.addLaunching('i-new', 0);
    cloud.clock.advance(LAUNCH_EVENT_GRACE_MS);
    cloud.terminateInEc2('i-c');

    const held = await reconcile(tick(cloud), cloud.deps());

    expect(held).toMatchObject({ result: 'done', reason: `paused: ${NOTE}` });
    expect(held.details!.actions).toContainEqual(expect.objectContaining({ kind: 'forget' }));
    expect(held.details!.orphanedHooks).toEqual([{ instanceId: 'i-new', transition: 'launch' }]);
    expect(changes(cloud)).toEqual([]);
    expect(cloud.metricLog).toContainEqual({ name: 'gauge:Paused', value: 1 });
    const reconcileLines = cloud.logs.filter((line) => line.message.startsWith('reconcile'));
    expect(reconcileLines.length).toBeGreaterThan(0);
    expect(reconcileLines.filter((line) => line.extra?.paused !== true)).toEqual([]);

    delete cloud.paused;
    const resumed = await reconcile(tick(cloud), cloud.deps());

    expect(resumed.result).toBe('acted');
    expect(resumed.details!.adoptedHooks).toEqual([{ instanceId: 'i-new', transition: 'launch', result: 'continued' }]);
    expect(cloud.runningMembers()).toContain(cloud.get('i-new').node.name);
    expect(cloud.allMembers()).not.toContain(cloud.get('i-c').node.name);
    expect(cloud.metricLog).toContainEqual({ name: 'gauge:Paused', value: 0 });
  });

  it('goes on as not paused when the group cannot be read: a hook still ends by its bound', async () => {
    const cloud = pausedCluster();
    cloud.addLaunching('i-new', 0);
    const event = cloud.launchEvent('i-new');
    cloud.clock.advance(cloud.config.bounds.launchSeconds * 1000);
    const inventory = {
      ...cloud.inventory,
      describeGroup: async () => {
        throw new Error('DescribeAutoScalingGroups failed: Throttling');
      },
    };

    const outcome = await launch(event, cloud.deps({ inventory }));

    expect(outcome).toMatchObject({ result: 'abandoned' });
    expect(cloud.logs.some((line) => line.message.startsWith('the pause switch could not be read'))).toBe(true);
  });
});
