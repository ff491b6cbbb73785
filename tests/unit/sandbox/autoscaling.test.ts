import { AutoScalingValidationError } from '../../../infra/sandbox/cloud/autoscaling';
import { parseEvent } from '../../../shared/events';
import { GROUP_NAME, localCloud } from './local-cloud';

let cloud: ReturnType<typeof localCloud>;
afterEach(() => cloud.group.dispose());

const complete = (token: string, result: 'CONTINUE' | 'ABANDON', hookName = 'warren-launch') =>
  cloud.group.completeLifecycleAction({ groupName: GROUP_NAME, hookName, token, result });

it('launches the desired capacity across three zones, each waiting on the launch hook with an event', async () => {
  cloud = localCloud({ desiredCapacity: 3 });

  cloud.group.start();
  await cloud.clock.sleep(10_000);

  const members = cloud.group.describe().instances;
  expect(members.map((member) => member.lifecycleState)).toEqual(['Pending:Wait', 'Pending:Wait', 'Pending:Wait']);
  expect(new Set(members.map((member) => member.availabilityZone))).toEqual(new Set(['us-east-1a', 'us-east-1b', 'us-east-1c']));
  const tokens = cloud
    .lifecycleEvents()
    .map((event) => parseEvent(event))
    .map((event) => event.kind === 'launch' && event.action.lifecycleActionToken);
  expect(tokens.sort()).toEqual(
    cloud.group
      .activeActions()
      .map((action) => action.token)
      .sort(),
  );
});

it('puts an instance in service through Pending:Proceed when its launch action completes with CONTINUE', async () => {
  cloud = localCloud({ desiredCapacity: 1 });
  cloud.group.start();
  await cloud.clock.sleep(10_000);
  const [action] = cloud.group.activeActions();

  complete(action!.token, 'CONTINUE');

  expect(cloud.group.member(action!.instanceId)?.lifecycleState).toBe('InService');
  const path = cloud.group.activities.filter((activity) => activity.instanceId === action!.instanceId).map((activity) => activity.to);
  expect(path).toEqual(['Pending', 'Pending:Wait', 'Pending:Proceed', 'InService']);
});

it('applies the launch default result ABANDON on timeout: terminate hook, then a replacement', async () => {
  cloud = localCloud({ desiredCapacity: 1, launchHook: { heartbeatTimeoutSeconds: 60 } });
  cloud.group.start();
  await cloud.clock.sleep(10_000);
  const [first] = cloud.group.activeActions();

  await cloud.clock.sleep(60_000);

  expect(cloud.group.member(first!.instanceId)?.lifecycleState).toBe('Terminating:Wait');
  expect(cloud.lifecycleEvents(first!.instanceId).map((event) => event['detail-type'])).toEqual([
    'EC2 Instance-launch Lifecycle Action',
    'EC2 Instance-terminate Lifecycle Action',
  ]);
  const replacements = cloud.group.describe().instances.filter((member) => member.instanceId !== first!.instanceId);
  expect(replacements).toHaveLength(1);
});

it('keeps an instance waiting while heartbeats arrive, and times out one timeout after the last', async () => {
  cloud = localCloud({ desiredCapacity: 1, launchHook: { heartbeatTimeoutSeconds: 60 } });
  cloud.group.start();
  await cloud.clock.sleep(10_000);
  const [action] = cloud.group.activeActions();

  await cloud.clock.sleep(50_000);
  cloud.group.recordLifecycleActionHeartbeat({ groupName: GROUP_NAME, hookName: 'warren-launch', instanceId: action!.instanceId });
  await cloud.clock.sleep(50_000);
  const stateAfterHeartbeat = cloud.group.member(action!.instanceId)?.lifecycleState;
  await cloud.clock.sleep(15_000);

  expect(stateAfterHeartbeat).toBe('Pending:Wait');
  expect(cloud.group.member(action!.instanceId)?.lifecycleState).toBe('Terminating:Wait');
});

it('ends a wait at the global timeout, 100 heartbeat timeouts, however many heartbeats come', async () => {
  cloud = localCloud({ desiredCapacity: 1, launchHook: { heartbeatTimeoutSeconds: 30 } });
  cloud.group.start();
  await cloud.clock.sleep(10_000);
  const [action] = cloud.group.activeActions();
  const ref = { groupName: GROUP_NAME, hookName: 'warren-launch', token: action!.token };

  let refused: unknown;
  for (let beat = 0; beat < 200 && !refused; beat++) {
    await cloud.clock.sleep(20_000);
    try {
      cloud.group.recordLifecycleActionHeartbeat(ref);
    } catch (error) {
      refused = error;
    }
  }

  expect(cloud.clock.now() - action!.startedAt).toBeGreaterThanOrEqual(3_000_000);
  expect(cloud.clock.now() - action!.startedAt).toBeLessThan(3_020_000);
  expect((refused as Error).message).toBe(`No active Lifecycle Action found with token ${action!.token}`);
});

it('completes by instance id, and answers a repeat with the ValidationError AWS sends', async () => {
  cloud = localCloud({ desiredCapacity: 1 });
  cloud.group.start();
  await cloud.clock.sleep(10_000);
  const [action] = cloud.group.activeActions();
  const byId = { groupName: GROUP_NAME, hookName: 'warren-launch', instanceId: action!.instanceId, result: 'CONTINUE' as const };

  cloud.group.completeLifecycleAction(byId);
  const repeat = () => cloud.group.completeLifecycleAction(byId);
  const repeatByToken = () => complete(action!.token, 'CONTINUE');

  expect(cloud.group.member(action!.instanceId)?.lifecycleState).toBe('InService');
  expect(repeat).toThrow(AutoScalingValidationError);
  expect(repeat).toThrow(`No active Lifecycle Action found with instance ID ${action!.instanceId}`);
  expect(repeatByToken).toThrow(`No active Lifecycle Action found with token ${action!.token}`);
});

it('refuses a completion naming another hook', async () => {
  cloud = localCloud({ desiredCapacity: 1 });
  cloud.group.start();
  await cloud.clock.sleep(10_000);
  const [action] = cloud.group.activeActions();

  const wrongHook = () => complete(action!.token, 'CONTINUE', 'warren-terminate');

  expect(wrongHook).toThrow(`No active Lifecycle Action found with token ${action!.token}`);
  expect(cloud.group.member(action!.instanceId)?.lifecycleState).toBe('Pending:Wait');
});

it('scales out 3 -> 5 with two new instances in Pending:Wait, each announced, zones kept balanced', async () => {
  cloud = localCloud({ desiredCapacity: 3 });
  await cloud.startInService();
  const before = new Set(cloud.group.describe().instances.map((member) => member.instanceId));

  cloud.group.setDesiredCapacity(5);
  await cloud.clock.sleep(10_000);

  const added = cloud.group.describe().instances.filter((member) => !before.has(member.instanceId));
  expect(added.map((member) => member.lifecycleState)).toEqual(['Pending:Wait', 'Pending:Wait']);
  expect(new Set(added.map((member) => member.availabilityZone)).size).toBe(2);
  for (const member of added) {
    expect(cloud.lifecycleEvents(member.instanceId).map((event) => parseEvent(event).kind)).toEqual(['launch']);
  }
});

it('scales in 5 -> 3 through Terminating:Wait, taking from the fuller zones, oldest first', async () => {
  cloud = localCloud({ desiredCapacity: 5 });
  await cloud.startInService();
  const zones = cloud.group.describe().instances.map((member) => member.availabilityZone);

  cloud.group.setDesiredCapacity(3);
  await cloud.settle();
  const leaving = cloud.membersIn('Terminating:Wait');
  for (const action of cloud.group.activeActions()) complete(action.token, 'CONTINUE', 'warren-terminate');
  await cloud.settle();

  expect(zones.sort()).toEqual(['us-east-1a', 'us-east-1a', 'us-east-1b', 'us-east-1b', 'us-east-1c']);
  expect(leaving.map((member) => member.availabilityZone).sort()).toEqual(['us-east-1a', 'us-east-1b']);
  expect(cloud.group.describe().instances.map((member) => member.lifecycleState)).toEqual(['InService', 'InService', 'InService']);
  for (const member of leaving) {
    expect(cloud.stateEvents(member.instanceId)).toEqual(['pending', 'running', 'shutting-down', 'terminated']);
    expect(cloud.lifecycleEvents(member.instanceId).map((event) => parseEvent(event).kind)).toEqual(['launch', 'terminate']);
  }
});

it('reports a crash with state-change events only, then replaces the instance after its EC2 health check', async () => {
  cloud = localCloud({ desiredCapacity: 3, ec2HealthCheckDelayMs: 10_000 });
  await cloud.startInService();
  const [victim] = cloud.group.describe().instances;

  await cloud.ec2.crash(victim!.instanceId);
  await cloud.settle();
  const killedBeforeReport = cloud.host.kills.find((kill) => kill.instanceId === victim!.instanceId);
  await cloud.clock.sleep(20_000);

  expect(killedBeforeReport).toBeDefined();
  expect(cloud.stateEvents(victim!.instanceId)).toEqual(['pending', 'running', 'shutting-down', 'terminated']);
  expect(cloud.lifecycleEvents(victim!.instanceId).map((event) => event['detail-type'])).toEqual(['EC2 Instance-launch Lifecycle Action']);
  expect(cloud.group.member(victim!.instanceId)).toBeUndefined();
  expect(cloud.membersIn('Pending:Wait')).toHaveLength(1);
});

it('replaces an instance set Unhealthy: terminate hook on it, a launch beside it at once', async () => {
  cloud = localCloud({ desiredCapacity: 3 });
  await cloud.startInService();
  const [sick] = cloud.group.describe().instances;

  cloud.group.setInstanceHealth(sick!.instanceId, 'Unhealthy', false);
  await cloud.clock.sleep(10_000);

  expect(cloud.group.member(sick!.instanceId)).toMatchObject({ lifecycleState: 'Terminating:Wait', healthStatus: 'Unhealthy' });
  expect(cloud.membersIn('Pending:Wait')).toHaveLength(1);
  expect(cloud.membersIn('Pending:Wait')[0]!.availabilityZone).toBe(sick!.availabilityZone);
});

it('keeps or shrinks the capacity on TerminateInstanceInAutoScalingGroup as asked', async () => {
  cloud = localCloud({ desiredCapacity: 3 });
  await cloud.startInService();
  const [kept, shrunk] = cloud.group.describe().instances;

  cloud.group.terminateInstance(kept!.instanceId, false);
  cloud.group.terminateInstance(shrunk!.instanceId, true);

  expect(cloud.group.describe().desiredCapacity).toBe(2);
  expect(cloud.membersIn('Terminating:Wait')).toHaveLength(2);
  expect(cloud.membersIn('Pending')).toHaveLength(1);
});

it('refuses capacities outside min and max with AWS wording', () => {
  cloud = localCloud({ minSize: 1, maxSize: 5, desiredCapacity: 3 });

  expect(() => cloud.group.setDesiredCapacity(6)).toThrow('New SetDesiredCapacity value 6 is above max value 5 for the AutoScalingGroup.');
  expect(() => cloud.group.setDesiredCapacity(0)).toThrow('New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup.');
  expect(() => cloud.group.terminateInstance('i-0123456789abcdef0', false)).toThrow(
    'Instance Id not found - No managed instance found for instance ID: i-0123456789abcdef0',
  );
});

it('retries a launch whose instance failed to boot, after the retry delay', async () => {
  cloud = localCloud({ desiredCapacity: 1, launchRetryDelayMs: 30_000 });
  cloud.host.failing.add('*');
  cloud.group.start();
  await cloud.clock.sleep(10_000);
  const bootsAfterFailure = cloud.host.boots.length;
  cloud.host.failing.clear();

  await cloud.clock.sleep(40_000);

  expect(bootsAfterFailure).toBe(1);
  expect(cloud.host.boots).toHaveLength(2);
  expect(cloud.stateEvents(cloud.host.boots[0]!)).toEqual(['pending', 'shutting-down', 'terminated']);
  expect(cloud.membersIn('Pending:Wait').map((member) => member.instanceId)).toEqual([cloud.host.boots[1]]);
});

it('runs without hooks straight to InService and straight to terminated', async () => {
  cloud = localCloud({ desiredCapacity: 2, launchHook: null, terminateHook: null });
  cloud.group.start();
  await cloud.clock.sleep(10_000);
  const inService = cloud.membersIn('InService').length;

  cloud.group.setDesiredCapacity(1);
  await cloud.settle();

  expect(inService).toBe(2);
  expect(cloud.group.describe().instances).toHaveLength(1);
  expect(cloud.lifecycleEvents()).toHaveLength(0);
});
