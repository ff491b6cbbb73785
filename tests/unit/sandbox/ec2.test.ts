import { ApiError } from '../../../infra/sandbox/aws/protocol';
import { LocalEc2, privateDnsName } from '../../../infra/sandbox/cloud/ec2';
import { LocalEventBus } from '../../../infra/sandbox/cloud/event-bus';
import { schedulerOn } from '../../../infra/sandbox/cloud/scheduler';
import { FakeClock } from '../../support/fake-clock';
import { RecordingHost } from './local-cloud';

function ec2World() {
  const clock = new FakeClock();
  const scheduler = schedulerOn(clock);
  const bus = new LocalEventBus(scheduler);
  const host = new RecordingHost(clock, 5_000);
  const ec2 = new LocalEc2({ host, bus, scheduler });
  const states = (instanceId: string) => bus.published.filter((event) => event.detail['instance-id'] === instanceId).map((event) => event.detail.state);
  return { clock, bus, host, ec2, states };
}

it('boots an instance from pending to running with an EC2-style id, address and DNS name', async () => {
  const { clock, ec2, states } = ec2World();

  const id = ec2.runInstance({ availabilityZone: 'us-east-1b', tags: { 'aws:autoscaling:groupName': 'orders' } });
  const whilePending = ec2.get(id);
  await clock.sleep(6_000);

  expect(id).toMatch(/^i-[0-9a-f]{17}$/);
  expect(whilePending?.state).toBe('pending');
  expect(whilePending?.privateIp).toBeUndefined();
  expect(ec2.get(id)).toMatchObject({
    state: 'running',
    availabilityZone: 'us-east-1b',
    privateIp: '10.0.2.10',
    privateDnsName: 'ip-10-0-2-10.ec2.internal',
    tags: { 'aws:autoscaling:groupName': 'orders' },
  });
  expect(states(id)).toEqual(['pending', 'running']);
});

it('names hosts the way EC2 does outside us-east-1', () => {
  expect(privateDnsName('10.0.1.5', 'eu-west-1')).toBe('ip-10-0-1-5.eu-west-1.compute.internal');
});

it('reports an orderly termination before the machine dies, and a crash after', async () => {
  const { clock, ec2, host } = ec2World();
  const orderly = ec2.runInstance({ availabilityZone: 'us-east-1a' });
  const crashed = ec2.runInstance({ availabilityZone: 'us-east-1a' });
  await clock.sleep(6_000);
  const stateAtKill = new Map<string, string | undefined>();
  host.onKill = (instanceId) => stateAtKill.set(instanceId, ec2.get(instanceId)?.state);

  await ec2.terminate(orderly);
  await ec2.crash(crashed);

  expect(stateAtKill).toEqual(
    new Map([
      [orderly, 'shutting-down'],
      [crashed, 'running'],
    ]),
  );
  expect([ec2.get(orderly)?.state, ec2.get(crashed)?.state]).toEqual(['terminated', 'terminated']);
});

it('keeps a terminated instance describable for an hour, without its address but with its tags', async () => {
  const { clock, ec2 } = ec2World();
  const id = ec2.runInstance({ availabilityZone: 'us-east-1a', tags: { 'warren:node-name': 'rabbit@ip-10-0-1-10' } });
  await clock.sleep(6_000);

  await ec2.terminate(id);
  const justAfter = ec2.get(id);
  await clock.sleep(61 * 60 * 1000);

  expect(justAfter?.state).toBe('terminated');
  expect([justAfter?.privateIp, justAfter?.privateDnsName]).toEqual([undefined, undefined]);
  expect(justAfter?.tags['warren:node-name']).toBe('rabbit@ip-10-0-1-10');
  expect(ec2.describe()).toEqual([]);
});

it('kills an instance terminated while booting only after its boot settled, and never reports it running', async () => {
  const { clock, ec2, host, states } = ec2World();
  const launchedAt = clock.now();
  const id = ec2.runInstance({ availabilityZone: 'us-east-1a' });

  const termination = ec2.terminate(id);
  await clock.sleep(1_000);
  const killsWhileBooting = host.kills.length;
  await termination;

  expect(killsWhileBooting).toBe(0);
  expect(host.kills.map((kill) => kill.at - launchedAt)).toEqual([5_000]);
  expect(states(id)).toEqual(['pending', 'shutting-down', 'terminated']);
});

it('refuses to tag an instance it does not know, with EC2 error code and wording', () => {
  const { ec2 } = ec2World();

  const tagging = () => ec2.createTags('i-0123456789abcdef0', { a: 'b' });

  expect(tagging).toThrow(ApiError);
  expect(tagging).toThrow("The instance ID 'i-0123456789abcdef0' does not exist");
  try {
    tagging();
  } catch (error) {
    expect((error as Error).name).toBe('InvalidInstanceID.NotFound');
  }
});
