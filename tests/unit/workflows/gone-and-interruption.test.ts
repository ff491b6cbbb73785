import { EventSkipped } from '../../../shared/errors';
import type { EventOf } from '../../../shared/events/types';
import { gone } from '../../../shared/workflows/gone';
import { interruption } from '../../../shared/workflows/interruption';
import { FakeCloud } from '../../support/fake-cloud';

const goneEvent = (cloud: FakeCloud, instanceId: string): EventOf<'gone'> => ({
  kind: 'gone',
  id: `evt-gone-${instanceId}`,
  time: cloud.clock.now(),
  instanceId,
  state: 'terminated',
});
const interruptionEvent = (cloud: FakeCloud, instanceId: string): EventOf<'interruption'> => ({
  kind: 'interruption',
  id: `evt-int-${instanceId}`,
  time: cloud.clock.now(),
  instanceId,
  reason: 'spot-interruption',
});

function threeMembers() {
  const cloud = new FakeCloud();
  cloud.addMember('i-a');
  cloud.addMember('i-b');
  cloud.addMember('i-c');
  return cloud;
}

describe('gone workflow', () => {
  it('forgets a terminated node from a running peer with one command', async () => {
    const cloud = threeMembers();
    cloud.terminateInEc2('i-c');

    const outcome = await gone(goneEvent(cloud, 'i-c'), cloud.deps());

    expect(outcome.result).toBe('acted');
    expect(cloud.allMembers()).not.toContain(cloud.get('i-c').node.name);
    expect(cloud.commands()).toHaveLength(1);
    expect(cloud.indexOf('elb', 'deregister', 'i-c')).toBeLessThan(cloud.indexOf('ssm', 'forget'));
  });

  it('does not forget an unreachable node that EC2 still reports running (invariant 1)', async () => {
    const cloud = threeMembers();
    cloud.get('i-c').reachable = false;

    await expect(gone(goneEvent(cloud, 'i-c'), cloud.deps())).rejects.toBeInstanceOf(EventSkipped);

    expect(cloud.commands()).toHaveLength(0);
    expect(cloud.allMembers()).toContain(cloud.get('i-c').node.name);
  });

  it('leaves a node that still runs on a shutting-down instance to the terminated event (invariant 1)', async () => {
    const cloud = threeMembers();
    cloud.terminateInEc2('i-c', 'shutting-down', true);

    await expect(gone(goneEvent(cloud, 'i-c'), cloud.deps())).resolves.toMatchObject({ result: 'refused' });

    expect(cloud.allMembers()).toContain(cloud.get('i-c').node.name);
  });

  it('refuses to forget when no running peer would remain (invariant 2)', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.terminateInEc2('i-a');

    const outcome = await gone(goneEvent(cloud, 'i-a'), cloud.deps());

    expect(outcome.result).toBe('refused');
    expect(cloud.commands()).toHaveLength(0);
    expect(cloud.metric('UnsafeActionRefused')).toBe(1);
  });

  it('holds the forget, without a retry, while a Khepri cluster has no running majority', async () => {
    const cloud = threeMembers();
    cloud.metadataStore = 'khepri';
    cloud.terminateInEc2('i-b');
    cloud.terminateInEc2('i-c');

    const outcome = await gone(goneEvent(cloud, 'i-c'), cloud.deps());

    expect(outcome).toEqual({ result: 'refused', reason: 'metadata majority lost: forget held until the cluster is recovered' });
    expect(cloud.allMembers()).toContain(cloud.get('i-c').node.name);
    expect(cloud.metric('ForgetHeldMajorityLost')).toBe(1);

    // one lost member of three leaves a majority: the same forget goes through
    const whole = threeMembers();
    whole.metadataStore = 'khepri';
    whole.terminateInEc2('i-c');
    await expect(gone(goneEvent(whole, 'i-c'), whole.deps())).resolves.toMatchObject({ result: 'acted' });
    expect(whole.allMembers()).not.toContain(whole.get('i-c').node.name);
  });

  it('skips an instance of another group without acting', async () => {
    const cloud = threeMembers();
    cloud.get('i-c').group = 'someone-else';
    cloud.terminateInEc2('i-c');

    await expect(gone(goneEvent(cloud, 'i-c'), cloud.deps())).rejects.toThrow(/another Auto Scaling group/);

    expect(cloud.indexOf('elb', 'deregister')).toBe(-1);
  });
});

describe('interruption workflow', () => {
  it('deregisters the node, then drains it, and forgets nothing', async () => {
    const cloud = threeMembers();

    const outcome = await interruption(interruptionEvent(cloud, 'i-c'), cloud.deps());

    expect(outcome.result).toBe('acted');
    expect(cloud.get('i-c').node.drained).toBe(true);
    expect(cloud.indexOf('elb', 'deregister', 'i-c')).toBeLessThan(cloud.indexOf('ssm', 'drain', 'i-c'));
    expect(cloud.commands().map((c) => c.op)).toEqual(['drain']);
    expect(cloud.allMembers()).toHaveLength(3);
  });

  it('neither drains nor deregisters the last running member (invariant 2)', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');

    const outcome = await interruption(interruptionEvent(cloud, 'i-a'), cloud.deps());

    expect(outcome.result).toBe('refused');
    expect(cloud.get('i-a').node.drained).toBe(false);
    expect(cloud.targets.get('i-a')).toBe('healthy');
  });
});
