import { EventSkipped, WarrenError } from '../../../shared/errors';
import type { EventOf } from '../../../shared/events/types';
import { rebalanceLeaders } from '../../../shared/workflows/rebalance';
import { GROUP } from '../../support/config';
import { FakeCloud } from '../../support/fake-cloud';

const refreshSucceeded = (cloud: FakeCloud, group = GROUP): EventOf<'refresh-succeeded'> => ({
  kind: 'refresh-succeeded',
  id: 'evt-refresh-1',
  time: cloud.clock.now(),
  autoScalingGroupName: group,
  instanceRefreshId: 'c613620e-07e2-4ed2-a9e2-ef8258911ade',
});

/** After a roll: three new members, every quorum-queue leader on the one that started first. */
function rolledCluster() {
  const cloud = new FakeCloud();
  for (const id of ['i-a', 'i-b', 'i-c']) cloud.addMember(id, '4.3.6', 'both');
  cloud.quorumLeaders = { [cloud.get('i-a').node.name]: 9 };
  return cloud;
}

describe('rebalance after an instance refresh succeeded', () => {
  it('spreads the leaders with one NodeRebalance on one verified member, and counts the leaders moved', async () => {
    const cloud = rolledCluster();

    const outcome = await rebalanceLeaders(refreshSucceeded(cloud), cloud.deps());

    expect(outcome).toMatchObject({ result: 'acted', details: { moved: 6 } });
    expect(cloud.commands()).toHaveLength(1);
    expect(cloud.commands('rebalance')[0]!.args).toEqual({ TimeoutSeconds: String(cloud.config.bounds.ssmCommandSeconds) });
    expect(Object.values(cloud.quorumLeaders)).toEqual([3, 3, 3]);
    expect(cloud.metric('LeadersRebalanced')).toBe(6);
    expect(cloud.logs.find((line) => line.message.startsWith('quorum-queue leaders rebalanced'))?.extra).toMatchObject({
      instanceRefreshId: 'c613620e-07e2-4ed2-a9e2-ef8258911ade',
      moved: 6,
    });
  });

  it("acknowledges another group's refresh without a command", async () => {
    const cloud = rolledCluster();

    await expect(rebalanceLeaders(refreshSucceeded(cloud, 'other-asg'), cloud.deps())).rejects.toBeInstanceOf(EventSkipped);

    expect(cloud.calls).toEqual([]);
  });

  it('changes nothing while warren is paused', async () => {
    const cloud = rolledCluster();
    cloud.paused = 'bob: moving leaders by hand';

    const outcome = await rebalanceLeaders(refreshSucceeded(cloud), cloud.deps());

    expect(outcome).toEqual({ result: 'done', reason: 'paused: bob: moving leaders by hand' });
    expect(cloud.commands()).toEqual([]);
    expect(cloud.metric('EventsPaused')).toBe(1);
  });

  it('hands the command to the next member when the first cannot run it', async () => {
    const cloud = rolledCluster();
    cloud.get('i-a').node.running = false;

    const outcome = await rebalanceLeaders(refreshSucceeded(cloud), cloud.deps());

    expect(outcome.result).toBe('acted');
    expect(cloud.commands('rebalance').map((call) => call.instanceId)).toEqual(['i-a', 'i-b']);
  });

  it('never sends it to an instance no launch verified as a member', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a', '4.3.6', 'none');

    await expect(rebalanceLeaders(refreshSucceeded(cloud), cloud.deps())).rejects.toThrow(/no verified running member/);

    expect(cloud.commands()).toEqual([]);
    expect(cloud.metric('RebalanceFailed')).toBe(1);
  });

  it('fails, to be retried, when no member could rebalance', async () => {
    const cloud = rolledCluster();
    for (const id of ['i-a', 'i-b', 'i-c']) cloud.failCommand(id, 'rebalance');

    await expect(rebalanceLeaders(refreshSucceeded(cloud), cloud.deps())).rejects.toBeInstanceOf(WarrenError);

    expect(cloud.commands('rebalance')).toHaveLength(3);
    expect(cloud.metric('RebalanceFailed')).toBe(1);
    expect(cloud.metric('LeadersRebalanced')).toBe(0);
  });

  it('leaves it, unretried, to a rebalance already under way', async () => {
    const cloud = rolledCluster();
    cloud.rebalanceInProgress = true;

    const outcome = await rebalanceLeaders(refreshSucceeded(cloud), cloud.deps());

    expect(outcome).toMatchObject({ result: 'refused', reason: expect.stringMatching(/another rebalance/) });
    expect(cloud.commands('rebalance')).toHaveLength(1);
    expect(cloud.metric('LeadersRebalanced')).toBe(0);
  });
});
