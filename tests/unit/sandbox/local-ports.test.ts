import { LocalInventory, LocalLifecycle } from '../../../infra/sandbox/cloud/local-ports';
import { AutoScalingGroupNotFound, AwsRequestFailed } from '../../../shared/aws/errors';
import { parseEvent } from '../../../shared/events';
import type { LifecycleActionRef } from '../../../shared/ports';
import { GROUP_NAME, localCloud } from './local-cloud';

let cloud: ReturnType<typeof localCloud>;
afterEach(() => cloud.group.dispose());

/** API faults are the chaos soak's (infra/sandbox/chaos/control.ts, tested in tests/unit/chaos/). */
function ports() {
  const model = { ec2: cloud.ec2, group: cloud.group };
  return { inventory: new LocalInventory(model, { autoScalingGroupName: GROUP_NAME }), lifecycle: new LocalLifecycle(model) };
}

/** The action as warren gets it: parsed out of the launch event the bus delivered. */
function launchActionOf(instanceId: string): LifecycleActionRef {
  const event = parseEvent(cloud.lifecycleEvents(instanceId)[0]!);
  if (event.kind !== 'launch') throw new Error(`expected a launch event, got ${event.kind}`);
  return event.action;
}

it('reads the group and the instances it launched, like the AWS adapter against moto', async () => {
  cloud = localCloud({ minSize: 3, maxSize: 5, desiredCapacity: 3 });
  await cloud.startInService();
  const { inventory } = ports();

  const group = await inventory.describeGroup();
  const tagged = await inventory.describeGroupInstances();

  expect(group).toMatchObject({ name: GROUP_NAME, minSize: 3, maxSize: 5, desiredCapacity: 3 });
  expect(group.instances.map((instance) => [instance.lifecycleState, instance.healthStatus])).toEqual([
    ['InService', 'Healthy'],
    ['InService', 'Healthy'],
    ['InService', 'Healthy'],
  ]);
  expect(tagged.map((instance) => instance.instanceId).sort()).toEqual(group.instances.map((instance) => instance.instanceId).sort());
  expect(tagged.every((instance) => instance.state === 'running' && instance.autoScalingGroupName === GROUP_NAME)).toBe(true);
  expect(tagged.every((instance) => /^ip-10-0-\d-\d+\.ec2\.internal$/.test(instance.privateDnsName ?? ''))).toBe(true);
});

it('leaves unknown ids out of describeInstances and keeps terminated instances in describeGroupInstances', async () => {
  cloud = localCloud({ desiredCapacity: 2, terminateHook: null });
  await cloud.startInService();
  const { inventory } = ports();
  const [first, second] = (await inventory.describeGroup()).instances;
  cloud.group.setDesiredCapacity(1);
  await cloud.settle();

  const facts = await inventory.describeInstances([first!.instanceId, 'i-0123456789abcdef0', second!.instanceId, first!.instanceId]);
  const tagged = await inventory.describeGroupInstances();

  expect(facts.map((fact) => fact.instanceId).sort()).toEqual([first!.instanceId, second!.instanceId].sort());
  expect(tagged.map((instance) => instance.state).sort()).toEqual(['running', 'terminated']);
});

it('writes the node name tag where describeInstances reads it, and fails on an unknown instance', async () => {
  cloud = localCloud({ desiredCapacity: 1 });
  await cloud.startInService();
  const { inventory } = ports();
  const [first] = (await inventory.describeGroup()).instances;

  await inventory.tagNodeName(first!.instanceId, 'rabbit@ip-10-0-1-10');
  const unknown = await inventory.tagNodeName('i-0123456789abcdef0', 'rabbit@x').catch((error: unknown) => error);

  expect((await inventory.describeInstances([first!.instanceId]))[0]!.nodeName).toBe('rabbit@ip-10-0-1-10');
  expect(unknown).toBeInstanceOf(AwsRequestFailed);
  expect((unknown as Error).message).toBe("CreateTags failed: InvalidInstanceID.NotFound: The instance ID 'i-0123456789abcdef0' does not exist");
});

it('marks an instance unhealthy, so the group reports it and replaces it', async () => {
  cloud = localCloud({ desiredCapacity: 3 });
  await cloud.startInService();
  const { inventory } = ports();
  const [, , third] = (await inventory.describeGroup()).instances;

  await inventory.markUnhealthy(third!.instanceId);
  const after = await inventory.describeGroup();

  expect(after.instances.find((instance) => instance.instanceId === third!.instanceId)?.healthStatus).toBe('Unhealthy');
  expect(after.instances.filter((instance) => instance.lifecycleState === 'Pending')).toHaveLength(1);
});

it('names a group that does not exist', async () => {
  cloud = localCloud();
  const stranger = new LocalInventory({ ec2: cloud.ec2, group: cloud.group }, { autoScalingGroupName: 'no-such-group' });

  await expect(stranger.describeGroup()).rejects.toThrow(new AutoScalingGroupNotFound('Auto Scaling group "no-such-group" (ASG_NAME) does not exist'));
});

it('completes the action named in the event, and answers a repeat with no-active-action', async () => {
  cloud = localCloud({ desiredCapacity: 1 });
  cloud.group.start();
  await cloud.clock.sleep(10_000);
  const { lifecycle } = ports();
  const action = launchActionOf(cloud.group.describe().instances[0]!.instanceId);

  const heartbeat = await lifecycle.heartbeat(action);
  const first = await lifecycle.complete(action, 'CONTINUE');
  const repeat = await lifecycle.complete(action, 'CONTINUE');
  const repeatById = await lifecycle.complete({ ...action, lifecycleActionToken: undefined }, 'ABANDON');
  const lateHeartbeat = await lifecycle.heartbeat(action);

  expect([heartbeat, first, repeat, repeatById, lateHeartbeat]).toEqual(['recorded', 'completed', 'no-active-action', 'no-active-action', 'no-active-action']);
  expect(cloud.group.member(action.instanceId)?.lifecycleState).toBe('InService');
});

it('says no-active-action once the default result has applied', async () => {
  cloud = localCloud({ desiredCapacity: 1, launchHook: { heartbeatTimeoutSeconds: 30 } });
  cloud.group.start();
  await cloud.clock.sleep(10_000);
  const { lifecycle } = ports();
  const action = launchActionOf(cloud.group.describe().instances[0]!.instanceId);

  await cloud.clock.sleep(30_000);

  expect(await lifecycle.complete(action, 'CONTINUE')).toBe('no-active-action');
  expect(cloud.group.member(action.instanceId)?.lifecycleState).toBe('Terminating:Wait');
});

