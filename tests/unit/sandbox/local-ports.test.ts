import { AutoScalingValidationError } from '../../../infra/sandbox/cloud/autoscaling';
import { AutoScalingGroupNotFound, AwsRequestFailed } from '../../../shared/aws/errors';
import { CreateOrUpdateTagsCommand, DeleteTagsCommand, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { Ec2AutoScalingInventory, PAUSE_TAG } from '../../../shared/aws/inventory';
import { isNoActiveLifecycleAction } from '../../../shared/aws/lifecycle';
import { parseEvent } from '../../../shared/events';
import { closeAll, eventually, localAws } from './aws-endpoint-helpers';
import { GROUP_NAME, localCloud } from './local-cloud';

/*
 * warren's Inventory and Lifecycle ports as the sandbox serves them: the real AWS adapters over the
 * local endpoint, on real time. API faults are the endpoint's (tests/unit/sandbox/aws-query.test.ts)
 * and the chaos soak's.
 */

jest.setTimeout(10_000);
afterEach(closeAll);

it('reads the group and the instances it launched', async () => {
  const aws = await localAws({ group: { minSize: 3, maxSize: 5, desiredCapacity: 3 } });
  await aws.startInService();

  const group = await aws.inventory.describeGroup();
  const tagged = await aws.inventory.describeGroupInstances();

  expect(group).toMatchObject({ name: GROUP_NAME, minSize: 3, maxSize: 5, desiredCapacity: 3 });
  expect(group.instances.map((instance) => [instance.lifecycleState, instance.healthStatus])).toEqual([
    ['InService', 'Healthy'],
    ['InService', 'Healthy'],
    ['InService', 'Healthy'],
  ]);
  expect(new Set(group.instances.map((instance) => instance.availabilityZone))).toEqual(new Set(['us-east-1a', 'us-east-1b', 'us-east-1c']));
  expect(tagged.map((instance) => instance.instanceId).sort()).toEqual(group.instances.map((instance) => instance.instanceId).sort());
  expect(tagged.every((instance) => instance.state === 'running' && instance.autoScalingGroupName === GROUP_NAME)).toBe(true);
  expect(tagged.every((instance) => /^ip-10-0-\d-\d+\.ec2\.internal$/.test(instance.privateDnsName ?? ''))).toBe(true);
});

it('leaves unknown ids out of describeInstances and keeps terminated instances in describeGroupInstances', async () => {
  const aws = await localAws({ group: { desiredCapacity: 2, terminateHook: null } });
  const [first, second] = await aws.startInService();
  aws.group.setDesiredCapacity(1);
  await eventually(() => aws.ec2.describe().some((instance) => instance.state === 'terminated'), 'the scaled-in instance terminated');

  const facts = await aws.inventory.describeInstances([first!.instanceId, 'i-0123456789abcdef0', second!.instanceId, first!.instanceId]);
  const tagged = await aws.inventory.describeGroupInstances();

  expect(facts.map((fact) => fact.instanceId).sort()).toEqual([first!.instanceId, second!.instanceId].sort());
  expect(tagged.map((instance) => instance.state).sort()).toEqual(['running', 'terminated']);
  expect(tagged.find((instance) => instance.state === 'terminated')).toMatchObject({ privateIp: undefined, privateDnsName: undefined });
});

it('writes the node name tag where describeInstances reads it, and fails on an unknown instance', async () => {
  const aws = await localAws({ group: { desiredCapacity: 1 } });
  const [first] = await aws.startInService();

  await aws.inventory.tagNodeName(first!.instanceId, 'rabbit@ip-10-0-1-10');
  const unknown = await aws.inventory.tagNodeName('i-0123456789abcdef0', 'rabbit@x').catch((error: unknown) => error);

  expect((await aws.inventory.describeInstances([first!.instanceId]))[0]!.nodeName).toBe('rabbit@ip-10-0-1-10');
  expect(unknown).toBeInstanceOf(AwsRequestFailed);
  expect((unknown as Error).message).toBe("CreateTags failed: InvalidInstanceID.NotFound: The instance ID 'i-0123456789abcdef0' does not exist");
});

it('marks an instance unhealthy, so the group reports it and replaces it', async () => {
  const aws = await localAws({ group: { desiredCapacity: 3 } });
  const members = await aws.startInService();

  await aws.inventory.markUnhealthy(members[2]!.instanceId);
  const after = await aws.inventory.describeGroup();

  expect(after.instances.find((instance) => instance.instanceId === members[2]!.instanceId)).toMatchObject({
    healthStatus: 'Unhealthy',
    lifecycleState: 'Terminating:Wait',
  });
  const replacements = after.instances.filter((instance) => !members.some((member) => member.instanceId === instance.instanceId));
  expect(replacements.map((instance) => instance.lifecycleState)).toEqual([expect.stringMatching(/^Pending(:Wait)?$/)]);
});

it('names a group that does not exist', async () => {
  const aws = await localAws();
  const stranger = new Ec2AutoScalingInventory({ autoScalingGroupName: 'no-such-group' }, aws.clients);

  await expect(stranger.describeGroup()).rejects.toThrow(new AutoScalingGroupNotFound('Auto Scaling group "no-such-group" (ASG_NAME) does not exist'));
});

it('completes the action named in the event, and answers a repeat with no-active-action', async () => {
  const aws = await localAws({ group: { desiredCapacity: 1 } });
  aws.group.start();
  const [open] = await eventually(() => aws.group.activeActions().length === 1 && aws.group.activeActions(), 'the launch action open');
  const action = aws.actionOf(open!.instanceId);

  const heartbeat = await aws.lifecycle.heartbeat(action);
  const first = await aws.lifecycle.complete(action, 'CONTINUE');
  const repeat = await aws.lifecycle.complete(action, 'CONTINUE');
  const repeatById = await aws.lifecycle.complete({ ...action, lifecycleActionToken: undefined }, 'ABANDON');
  const lateHeartbeat = await aws.lifecycle.heartbeat(action);
  const otherGroup = await aws.lifecycle.heartbeat({ ...action, autoScalingGroupName: '' }).catch((error: unknown) => error as Error);

  expect([heartbeat, first, repeat, repeatById, lateHeartbeat]).toEqual(['recorded', 'completed', 'no-active-action', 'no-active-action', 'no-active-action']);
  expect(aws.group.member(action.instanceId)?.lifecycleState).toBe('InService');
  expect(aws.endpoint.calls.filter((call) => call.operation === 'CompleteLifecycleAction').map((call) => call.error)).toEqual([
    undefined,
    'ValidationError',
    'ValidationError',
  ]);
  expect(otherGroup).toBeInstanceOf(AwsRequestFailed);
  expect((otherGroup as Error).message).toMatch(/^RecordLifecycleActionHeartbeat failed: ValidationError: /);
});

/*
 * A hook times out after at least 30 s, too long for real time: on the model and virtual time, the
 * answer AWS gives once the default result applied, which the endpoint passes on word for word, and
 * which the lifecycle adapter reads as no-active-action.
 */
it('says no-active-action once the default result has applied', async () => {
  const cloud = localCloud({ desiredCapacity: 1, launchHook: { heartbeatTimeoutSeconds: 30 } });
  try {
    cloud.group.start();
    await cloud.clock.sleep(10_000);
    const event = parseEvent(cloud.lifecycleEvents(cloud.group.describe().instances[0]!.instanceId)[0]!);
    if (event.kind !== 'launch') throw new Error(`expected a launch event, got ${event.kind}`);
    const { action } = event;

    await cloud.clock.sleep(30_000);
    const late = (() => {
      try {
        cloud.group.completeLifecycleAction({
          groupName: GROUP_NAME,
          hookName: action.lifecycleHookName,
          token: action.lifecycleActionToken,
          result: 'CONTINUE',
        });
        return undefined;
      } catch (error) {
        return error;
      }
    })();

    expect(late).toBeInstanceOf(AutoScalingValidationError);
    expect(late).toMatchObject({ name: 'ValidationError', message: `No active Lifecycle Action found with token ${action.lifecycleActionToken}` });
    expect(isNoActiveLifecycleAction(late)).toBe(true);
    expect(cloud.group.member(action.instanceId)?.lifecycleState).toBe('Terminating:Wait');
  } finally {
    cloud.group.dispose();
  }
});

it('reads the pause switch: the warren:paused tag an operator puts on the group and takes off again', async () => {
  const aws = await localAws({ group: { minSize: 1, maxSize: 3, desiredCapacity: 1 } });
  await aws.startInService();
  const tag = (Key: string, Value?: string) => ({ ResourceId: GROUP_NAME, ResourceType: 'auto-scaling-group', Key, Value, PropagateAtLaunch: false });
  expect((await aws.inventory.describeGroup()).paused).toBeUndefined();

  await aws.clients.autoScaling.send(new CreateOrUpdateTagsCommand({ Tags: [tag(PAUSE_TAG, 'alice: manual surgery'), tag('team', 'messaging')] }));
  expect((await aws.inventory.describeGroup()).paused).toBe('alice: manual surgery');
  // an empty note still pauses; a second CreateOrUpdateTags overwrites without an error
  await aws.clients.autoScaling.send(new CreateOrUpdateTagsCommand({ Tags: [tag(PAUSE_TAG, '')] }));
  expect((await aws.inventory.describeGroup()).paused).toBe('');

  // a tag naming another group changes nothing, even the valid tags sent with it
  await expect(
    aws.clients.autoScaling.send(new DeleteTagsCommand({ Tags: [tag(PAUSE_TAG), { ...tag('team'), ResourceId: 'other-asg' }] })),
  ).rejects.toMatchObject({ name: 'ValidationError' });
  expect((await aws.inventory.describeGroup()).paused).toBe('');

  await aws.clients.autoScaling.send(new DeleteTagsCommand({ Tags: [tag(PAUSE_TAG)] }));
  expect((await aws.inventory.describeGroup()).paused).toBeUndefined();
  const described = await aws.clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [GROUP_NAME] }));
  expect(described.AutoScalingGroups![0]!.Tags).toEqual([
    { ResourceId: GROUP_NAME, ResourceType: 'auto-scaling-group', Key: 'team', Value: 'messaging', PropagateAtLaunch: false },
  ]);

  // a tag with PropagateAtLaunch goes onto the instances launched after it, not onto those running
  await aws.clients.autoScaling.send(new CreateOrUpdateTagsCommand({ Tags: [{ ...tag('cost-centre', 'mq'), PropagateAtLaunch: true }] }));
  aws.group.setDesiredCapacity(2);
  await eventually(() => aws.ec2.describe().length === 2, 'the second instance launched');
  expect(aws.ec2.describe().map((instance) => instance.tags['cost-centre'])).toEqual([undefined, 'mq']);
});
