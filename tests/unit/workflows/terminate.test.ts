import { terminate } from '../../../shared/workflows/terminate';
import { testConfig } from '../../support/config';
import { FakeCloud } from '../../support/fake-cloud';

describe('terminate workflow', () => {
  function threeMembersOneLeaving(config = testConfig()) {
    const cloud = new FakeCloud(config);
    cloud.addMember('i-a');
    cloud.addMember('i-b');
    cloud.addMember('i-c');
    cloud.startTerminating('i-c');
    return cloud;
  }

  it('takes the node out of traffic, lets it leave, forgets it from a peer and continues', async () => {
    const cloud = threeMembersOneLeaving();
    const leaving = cloud.get('i-c').node.name;

    const outcome = await terminate(cloud.terminateEvent('i-c'), cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.allMembers()).not.toContain(leaving);
    expect(cloud.targets.has('i-c')).toBe(false);
    expect(cloud.commands().map((c) => `${c.op}@${c.instanceId}`)).toEqual(['leave@i-c', 'forget@i-a']);
    expect(cloud.indexOf('elb', 'deregister', 'i-c')).toBeLessThan(cloud.indexOf('ssm', 'leave', 'i-c'));
    expect(cloud.actions.get('i-c')!.state).toBe('CONTINUE');
  });

  it('continues without forgetting, and without a retry, when the leave leaves a Khepri cluster without a running majority', async () => {
    const cloud = threeMembersOneLeaving();
    cloud.metadataStore = 'khepri';
    cloud.get('i-b').node.running = false;
    const leaving = cloud.get('i-c').node.name;

    const outcome = await terminate(cloud.terminateEvent('i-c'), cloud.deps());

    expect(outcome).toMatchObject({ result: 'continued', reason: 'metadata majority lost: forget held until the cluster is recovered' });
    expect(cloud.allMembers()).toContain(leaving);
    expect(cloud.metric('ForgetHeldMajorityLost')).toBe(1);
    expect(cloud.actions.get('i-c')!.state).toBe('CONTINUE');
  });

  it('holds the hook with heartbeats while the node is critical, then lets it leave (invariant 3)', async () => {
    const cloud = threeMembersOneLeaving();
    const criticalUntil = cloud.clock.now() + 130_000;
    cloud.get('i-c').node.critical = { reason: 'quorum-critical', until: criticalUntil };

    const outcome = await terminate(cloud.terminateEvent('i-c'), cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.metric('LeaveBlocked')).toBeGreaterThanOrEqual(5);
    expect(cloud.calls.filter((c) => c.op === 'heartbeat').length).toBeGreaterThanOrEqual(3);
    const forget = cloud.calls[cloud.indexOf('ssm', 'forget')]!;
    expect(forget.at).toBeGreaterThanOrEqual(criticalUntil);
  });

  it('abandons without stopping or forgetting a node that stays critical past the bound (invariant 3)', async () => {
    const cloud = threeMembersOneLeaving(testConfig({ LEAVE_WAIT_TIMEOUT_SECONDS: '120' }));
    const critical = cloud.get('i-c').node;
    critical.critical = { reason: 'mirror-sync-critical', until: Number.POSITIVE_INFINITY };
    const event = cloud.terminateEvent('i-c');

    const outcome = await terminate(event, cloud.deps());

    expect(outcome.result).toBe('abandoned');
    expect(cloud.metric('LeaveWaitExceeded')).toBe(1);
    expect(cloud.commands('forget')).toHaveLength(0);
    expect(critical.member).toBe(true);
    expect(cloud.clock.now() - event.time).toBeGreaterThanOrEqual(120_000);
    expect(cloud.actions.get('i-c')!.state).toBe('ABANDON');
  });

  it('never stops or forgets the last running member (invariant 2)', async () => {
    const cloud = new FakeCloud();
    const last = cloud.addMember('i-a');
    cloud.startTerminating('i-a');

    const outcome = await terminate(cloud.terminateEvent('i-a'), cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.commands('forget')).toHaveLength(0);
    expect(last.node.member).toBe(true);
    expect(cloud.metric('LastMemberKept')).toBe(1);
  });

  it('does not forget an unreachable node: retried until the bound, then continues without forgetting', async () => {
    const cloud = threeMembersOneLeaving(testConfig({ LEAVE_WAIT_TIMEOUT_SECONDS: '300' }));
    cloud.get('i-c').reachable = false;
    const event = cloud.terminateEvent('i-c');

    await expect(terminate(event, cloud.deps())).rejects.toThrow(/leave on i-c/);
    cloud.clock.advance(300_000);
    const outcome = await terminate(event, cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.commands('forget')).toHaveLength(0);
    expect(cloud.allMembers()).toContain(cloud.get('i-c').node.name);
  });

  it('forgets from the next peer when the first cannot', async () => {
    const cloud = threeMembersOneLeaving();
    cloud.failCommand('i-a', 'forget');

    const outcome = await terminate(cloud.terminateEvent('i-c'), cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.commands('forget').map((c) => c.instanceId)).toEqual(['i-a', 'i-b']);
    expect(cloud.allMembers()).not.toContain(cloud.get('i-c').node.name);
  });

  it('goes on to leave when targets are still draining at the deregistration bound', async () => {
    const cloud = threeMembersOneLeaving(testConfig({ DEREGISTRATION_TIMEOUT_SECONDS: '60' }));
    cloud.stuckDraining = true;

    const outcome = await terminate(cloud.terminateEvent('i-c'), cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.calls[cloud.indexOf('ssm', 'leave', 'i-c')]!.at - cloud.calls[0]!.at).toBeGreaterThanOrEqual(60_000);
  });

  it('is a no-op when the action was already completed (invariant 5)', async () => {
    const cloud = threeMembersOneLeaving();
    const event = cloud.terminateEvent('i-c');
    await terminate(event, cloud.deps());
    const before = cloud.calls.length;

    const outcome = await terminate(event, cloud.deps());

    expect(outcome.result).toBe('done');
    expect(cloud.calls.slice(before).map((c) => c.op)).toEqual(['heartbeat']);
  });
});
