import { EventSkipped } from '../../../shared/errors';
import type { EventOf } from '../../../shared/events/types';
import { alarm } from '../../../shared/workflows/alarm';
import { DEADLINE_MARGIN_MS } from '../../../shared/workflows/invocation';
import { deployed } from '../../support/deployed';
import { testConfig } from '../../support/config';
import { FakeCloud } from '../../support/fake-cloud';

const RUNBOOK = JSON.stringify([
  { alarm: 'rabbit-node-down-', match: 'prefix', action: 'replace-instance' },
  { alarm: 'rabbit-partition', action: 'reconcile' },
]);

function threeMembers(env: Record<string, string> = {}) {
  const cloud = new FakeCloud(testConfig({ ALARM_RUNBOOK: RUNBOOK, HEAL_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/heal.fifo', ...env }));
  cloud.addMember('i-a');
  cloud.addMember('i-b');
  cloud.addMember('i-c');
  return cloud;
}

const alarmEvent = (cloud: FakeCloud, alarmName: string, instanceId?: string, state: EventOf<'alarm'>['state'] = 'ALARM'): EventOf<'alarm'> => ({
  kind: 'alarm',
  id: 'evt-alarm',
  time: cloud.clock.now(),
  alarmName,
  state,
  instanceId,
});

describe('alarm workflow', () => {
  it('asks the ASG to replace the alarmed instance when enough healthy members remain', async () => {
    const cloud = threeMembers();

    const outcome = await alarm(alarmEvent(cloud, 'rabbit-node-down-i-c', 'i-c'), cloud.deps());

    expect(outcome.result).toBe('acted');
    expect(cloud.get('i-c').health).toBe('Unhealthy');
  });

  it('enqueues a reconcile for an exact-name reconcile runbook', async () => {
    const cloud = threeMembers();

    await alarm(alarmEvent(cloud, 'rabbit-partition'), cloud.deps());

    expect(cloud.reconcileRequests).toEqual(['alarm rabbit-partition']);
  });

  it('acts only on ALARM', async () => {
    const cloud = threeMembers();

    await expect(alarm(alarmEvent(cloud, 'rabbit-node-down-i-c', 'i-c', 'OK'), cloud.deps())).rejects.toBeInstanceOf(EventSkipped);

    expect(cloud.get('i-c').health).toBe('Healthy');
  });

  it('refuses a second replacement while one is in flight', async () => {
    const cloud = threeMembers();
    cloud.addLaunching('i-new');

    const outcome = await alarm(alarmEvent(cloud, 'rabbit-node-down-i-c', 'i-c'), cloud.deps());

    expect(outcome.result).toBe('refused');
    expect(outcome.reason).toMatch(/in flight/);
    expect(cloud.metric('UnsafeActionRefused')).toBe(1);
    expect(cloud.indexOf('asg', 'markUnhealthy')).toBe(-1);
  });

  it('refuses a replacement that would leave fewer healthy running members than the minimum', async () => {
    const cloud = threeMembers({ MIN_HEALTHY_MEMBERS: '3' });

    const outcome = await alarm(alarmEvent(cloud, 'rabbit-node-down-i-c', 'i-c'), cloud.deps());

    expect(outcome.result).toBe('refused');
    expect(cloud.get('i-c').health).toBe('Healthy');
  });

  it('replaces a dead node even in a small cluster: it takes no running member away', async () => {
    const cloud = threeMembers();
    cloud.get('i-c').node.running = false;

    const outcome = await alarm(alarmEvent(cloud, 'rabbit-node-down-i-c', 'i-c'), cloud.deps());

    expect(outcome.result).toBe('acted');
    expect(cloud.get('i-c').health).toBe('Unhealthy');
  });

  describe('within the time the invocation has left', () => {
    // a node command bound as long as the function's own timeout: a wait bounded by it alone outlives the invocation
    const slowCommands = () => threeMembers({ SSM_COMMAND_TIMEOUT_SECONDS: String(deployed.functionTimeoutSeconds.heal) });
    const deadlineOf = (cloud: FakeCloud) => cloud.clock.now() + deployed.functionTimeoutSeconds.heal! * 1000 - DEADLINE_MARGIN_MS;

    it('replaces an alarming instance whose node never answers, without waiting for it', async () => {
      const cloud = slowCommands();
      cloud.get('i-c').silent = true;
      const started = cloud.clock.now();
      const deadline = deadlineOf(cloud);

      const outcome = await alarm(alarmEvent(cloud, 'rabbit-node-down-i-c', 'i-c'), cloud.deps({ deadline }));

      expect(cloud.clock.now()).toBeLessThanOrEqual(deadline);
      // replacing it leaves the others: only their statuses are asked for
      expect(cloud.clock.now()).toBe(started);
      expect(outcome).toMatchObject({ result: 'acted', details: { instanceId: 'i-c' } });
      expect(cloud.get('i-c').health).toBe('Unhealthy');
    });

    it('counts a member whose status did not come back before the deadline as not healthy, and returns by then', async () => {
      const cloud = slowCommands();
      cloud.get('i-c').silent = true;
      cloud.get('i-b').silent = true;
      const deadline = deadlineOf(cloud);

      const outcome = await alarm(alarmEvent(cloud, 'rabbit-node-down-i-c', 'i-c'), cloud.deps({ deadline }));

      expect(cloud.clock.now()).toBeLessThanOrEqual(deadline);
      // i-a alone answered: replacing i-c would leave 1 healthy running member, below the majority of 3
      expect(outcome).toMatchObject({ result: 'refused', reason: expect.stringMatching(/^1 healthy running members would remain/) });
      expect(cloud.get('i-c').health).toBe('Healthy');
    });
  });

  it('skips an instance outside the group', async () => {
    const cloud = threeMembers();

    await expect(alarm(alarmEvent(cloud, 'rabbit-node-down-x', 'i-foreign'), cloud.deps())).rejects.toThrow(/not in group/);

    expect(cloud.indexOf('asg', 'markUnhealthy')).toBe(-1);
  });
});
