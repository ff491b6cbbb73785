import { EventSkipped } from '../../../shared/errors';
import type { EventOf } from '../../../shared/events';
import { launch } from '../../../shared/workflows/launch';
import { resetPolicyNotes } from '../../../shared/workflows/policy-choice';
import { FakeCloud } from '../../support/fake-cloud';

beforeEach(resetPolicyNotes);

/*
 * A group with a warm pool runs its launch hook twice per instance: once when the instance is launched
 * into the pool (Warmed:Pending:Wait; Destination WarmPool) and once when it leaves the pool for the
 * group (Pending:Wait; Origin WarmPool, Destination AutoScalingGroup). Only the second one makes a member.
 */
describe('launch workflow with a warm pool', () => {
  function clusterAndAWarmingInstance() {
    const cloud = new FakeCloud();
    cloud.addMember('i-a', '3.10.8', 'both');
    cloud.addMember('i-b', '3.10.8', 'both');
    cloud.addInstance('i-warm', 'Warmed:Pending:Wait');
    cloud.actions.set('i-warm', { hook: 'launch', state: 'open' });
    return cloud;
  }
  const into = (cloud: FakeCloud, destination: 'WarmPool' | 'AutoScalingGroup', group?: string): EventOf<'launch'> => ({
    ...cloud.launchEvent('i-warm', group),
    destination,
  });

  it('continues a launch into the warm pool and does nothing else: no join, no tags, no targets', async () => {
    const cloud = clusterAndAWarmingInstance();

    const attempt = launch(into(cloud, 'WarmPool'), cloud.deps());

    await expect(attempt).rejects.toThrow(EventSkipped);
    await expect(attempt).rejects.toMatchObject({
      reason: 'launch into the warm pool: its node joins when it leaves the pool for the group',
      details: { instanceId: 'i-warm', lifecycleAction: 'continued' },
    });
    expect(cloud.actions.get('i-warm')!.state).toBe('CONTINUE');
    expect(cloud.calls.map((c) => `${c.port}:${c.op}`)).toEqual(['lifecycle:complete']);
    expect(cloud.calls[0]!.args).toBe('CONTINUE');
    expect(cloud.get('i-warm').node.member).toBe(false);
    expect(cloud.get('i-warm').nodeTag).toBeUndefined();
    expect(cloud.targets.has('i-warm')).toBe(false);
    expect(cloud.metric('LaunchContinued')).toBe(0);
  });

  it('joins the same instance when it leaves the warm pool for the group', async () => {
    const cloud = clusterAndAWarmingInstance();
    await launch(into(cloud, 'WarmPool'), cloud.deps()).catch(() => undefined);
    // later, a scale-out takes it from the pool: started again, Pending:Wait, a new launch action
    const instance = cloud.get('i-warm');
    instance.lifecycle = 'Pending:Wait';
    instance.agentOnlineAt = cloud.clock.now() + 10_000;
    cloud.actions.set('i-warm', { hook: 'launch', state: 'open' });

    const outcome = await launch(into(cloud, 'AutoScalingGroup'), cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.runningMembers()).toContain(instance.node.name);
    expect(cloud.commands('join').map((c) => c.instanceId)).toEqual(['i-warm']);
    expect(cloud.targets.get('i-warm')).toBe('healthy');
    expect(cloud.actions.get('i-warm')!.state).toBe('CONTINUE');
  });

  it('finds the action of a repeated warm-pool event already completed: still a skip, not a failure', async () => {
    const cloud = clusterAndAWarmingInstance();
    await launch(into(cloud, 'WarmPool'), cloud.deps()).catch(() => undefined);

    await expect(launch(into(cloud, 'WarmPool'), cloud.deps())).rejects.toMatchObject({ details: { lifecycleAction: 'already completed' } });
    expect(cloud.commands()).toEqual([]);
  });

  it('leaves the warm pool of another group alone: its action is not ours to complete', async () => {
    const cloud = clusterAndAWarmingInstance();

    await expect(launch(into(cloud, 'WarmPool', 'someone-elses-asg'), cloud.deps())).rejects.toMatchObject({
      reason: 'lifecycle action of another Auto Scaling group',
    });
    expect(cloud.calls).toEqual([]);
    expect(cloud.actions.get('i-warm')!.state).toBe('open');
  });
});
