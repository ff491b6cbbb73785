import { type AwsEvent, LocalEventBus, publishInstanceStateChange, publishLifecycleAction } from '../../../infra/sandbox/cloud/event-bus';
import { schedulerOn } from '../../../infra/sandbox/cloud/scheduler';
import { EventSkipped } from '../../../shared/errors';
import { parseEvent, parseQueueMessage } from '../../../shared/events';
import { loadFixture } from '../../events/load';
import { FakeClock } from '../../support/fake-clock';
import { GROUP_NAME, localCloud } from './local-cloud';

function busWorld() {
  const clock = new FakeClock(Date.UTC(2024, 4, 1, 12, 30, 15, 250));
  const bus = new LocalEventBus(schedulerOn(clock));
  const received: Array<{ event: AwsEvent; at: number }> = [];
  bus.subscribe((event) => void received.push({ event, at: clock.now() }));
  return { clock, bus, received };
}

const notice = {
  groupArn: 'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1f0d:autoScalingGroupName/my-asg',
  groupName: 'my-asg',
  hookName: 'my-lifecycle-hook',
  token: '87654321-4321-4321-4321-210987654321',
  instanceId: 'i-1234567890abcdef0',
  transition: 'launching' as const,
  notificationMetadata: 'additional-info',
};

it('builds lifecycle and state-change events with the fields and names of the AWS fixtures', () => {
  const { bus } = busWorld();

  const launch = publishLifecycleAction(bus, notice);
  const terminated = publishInstanceStateChange(bus, 'i-1234567890abcdef0', 'terminated');

  const launchFixture = loadFixture('asg-launch-lifecycle-action');
  const stateFixture = loadFixture('ec2-instance-state-change-terminated');
  expect(Object.keys(launch).sort()).toEqual(Object.keys(launchFixture).sort());
  expect(launch.detail).toMatchObject(launchFixture.detail);
  expect(launch.detail).toMatchObject({ Origin: 'EC2', Destination: 'AutoScalingGroup' });
  expect(terminated.detail).toEqual(stateFixture.detail);
  expect(terminated.resources).toEqual(stateFixture.resources);
  expect(launch.time).toBe('2024-05-01T12:30:15Z');
});

it('produces events that warren parses into the internal events, also through an SQS body', () => {
  const { bus } = busWorld();

  const launch = parseEvent(publishLifecycleAction(bus, notice));
  const terminate = parseQueueMessage(JSON.stringify(publishLifecycleAction(bus, { ...notice, transition: 'terminating', hookName: 'warren-terminate' })));
  const gone = parseEvent(publishInstanceStateChange(bus, 'i-1234567890abcdef0', 'shutting-down'));
  const running = () => parseEvent(publishInstanceStateChange(bus, 'i-1234567890abcdef0', 'running'));

  expect(launch).toMatchObject({
    kind: 'launch',
    instanceId: notice.instanceId,
    action: { lifecycleActionToken: notice.token, lifecycleHookName: 'my-lifecycle-hook' },
  });
  expect(terminate).toMatchObject({ kind: 'terminate', action: { autoScalingGroupName: 'my-asg', lifecycleHookName: 'warren-terminate' } });
  expect(gone).toMatchObject({ kind: 'gone', state: 'shutting-down', time: Date.UTC(2024, 4, 1, 12, 30, 15) });
  expect(running).toThrow(EventSkipped);
});

it('parses every event a whole scale-out, scale-in and crash emit', async () => {
  const cloud = localCloud({ desiredCapacity: 3, ec2HealthCheckDelayMs: 1_000 });
  await cloud.startInService();
  cloud.group.setDesiredCapacity(4);
  await cloud.ec2.crash(cloud.group.describe().instances[0]!.instanceId);
  await cloud.clock.sleep(10_000);
  cloud.group.setDesiredCapacity(2);
  await cloud.settle();
  cloud.group.dispose();

  const kinds = cloud.delivered.map((event) => {
    try {
      return parseEvent(event).kind;
    } catch (error) {
      return (error as EventSkipped).reason;
    }
  });

  expect(new Set(kinds)).toEqual(
    new Set([
      'launch',
      'terminate',
      'gone',
      'instance state "pending" is not shutting-down or terminated',
      'instance state "running" is not shutting-down or terminated',
    ]),
  );
  expect(cloud.lifecycleEvents().every((event) => event.detail.AutoScalingGroupName === GROUP_NAME)).toBe(true);
});

it('delivers later, never inside the publisher, and each subscriber gets its own copy', async () => {
  const { clock, bus, received } = busWorld();
  const other: AwsEvent[] = [];
  bus.subscribe((event) => {
    event.detail.state = 'tampered';
    other.push(event);
  });

  publishInstanceStateChange(bus, 'i-1234567890abcdef0', 'terminated');
  const deliveredInline = received.length;
  await clock.sleep(0);

  expect(deliveredInline).toBe(0);
  expect(received.map(({ event }) => event.detail.state)).toEqual(['terminated']);
  expect(other).toHaveLength(1);
});

it('drops, duplicates and delays the events its faults pick, and only those', async () => {
  const { clock, bus, received } = busWorld();
  const start = clock.now();
  bus.faults = {
    drop: (event) => event.detail.state === 'pending',
    duplicate: (event) => event.detail.state === 'running',
    delayMs: (event) => (event.detail.state === 'terminated' ? 90_000 : 0),
  };

  for (const state of ['pending', 'running', 'shutting-down', 'terminated'] as const) publishInstanceStateChange(bus, 'i-0aaa0aaa0aaa0aaa0', state);
  await clock.sleep(100_000);

  expect(received.map(({ event, at }) => [event.detail.state, at - start])).toEqual([
    ['running', 0],
    ['running', 0],
    ['shutting-down', 0],
    ['terminated', 90_000],
  ]);
  expect(received[0]!.event.id).toBe(received[1]!.event.id);
  expect(bus.published).toHaveLength(4);
});

it('keeps delivering to the others when one subscriber fails', async () => {
  const { clock, bus, received } = busWorld();
  const failures: unknown[] = [];
  const failing = new LocalEventBus(schedulerOn(clock), { onSubscriberError: (error) => failures.push(error) });
  failing.subscribe(async () => {
    throw new Error('handler down');
  });
  failing.subscribe((event) => void received.push({ event, at: clock.now() }));

  publishInstanceStateChange(failing, 'i-0aaa0aaa0aaa0aaa0', 'terminated');
  await clock.sleep(0);
  await clock.sleep(0);

  expect(received).toHaveLength(1);
  expect(failures).toEqual([new Error('handler down')]);
  expect(bus.published).toHaveLength(0);
});
