import type { AutoScalingGroupOptions, GroupMember } from '../../../infra/sandbox/cloud/autoscaling';
import type { AlarmState, StartInstanceRefreshRequest } from '../../../infra/sandbox/cloud/instance-refresh';
import { BASE_IMAGE_ID, LocalLaunchTemplates } from '../../../infra/sandbox/cloud/launch-templates';
import { GROUP_NAME, localCloud } from './local-cloud';

/*
 * Instance Refresh on virtual time, with warren's hooks played by a stand-in: every launch is continued
 * `verifyMs` after its event (the node verified as a member), every termination at once, unless told otherwise.
 */

let cloud: ReturnType<typeof refreshCloud>;
afterEach(() => cloud.group.dispose());

function refreshCloud(options: Partial<AutoScalingGroupOptions> & { verifyMs?: number } = {}) {
  const templates = new LocalLaunchTemplates();
  const template = templates.createLaunchTemplate({ name: 'warren-sandbox-nodes', data: { imageId: BASE_IMAGE_ID } });
  const newImage = templates.registerImage({ rabbitmqConf: 'consumer_timeout = 3600000' });
  const v2 = templates.createVersion({ id: template.id, sourceVersion: '1', data: { imageId: newImage } });
  const alarms = new Map<string, AlarmState>();
  const local = localCloud({
    desiredCapacity: 3,
    maxSize: 9,
    launchTemplates: templates,
    launchTemplate: { id: template.id, version: '1' },
    instanceRefresh: { alarmState: (name) => alarms.get(name) ?? 'OK', failureTimeoutMs: 600_000 },
    ...options,
  });
  /** the launch hook's answer for an instance; undefined holds it in Pending:Wait */
  let launchAnswer: (instanceId: string) => 'CONTINUE' | 'ABANDON' | undefined = () => 'CONTINUE';
  local.bus.subscribe((event) => {
    const detail = event.detail as Record<string, string>;
    if (event['detail-type'] === 'EC2 Instance-launch Lifecycle Action') {
      const answer = launchAnswer(detail.EC2InstanceId!);
      if (answer) void local.clock.sleep(options.verifyMs ?? 20_000).then(() => complete(detail, answer));
    } else if (event['detail-type'] === 'EC2 Instance-terminate Lifecycle Action') {
      complete(detail, 'CONTINUE');
    }
  });
  const complete = (detail: Record<string, string>, result: 'CONTINUE' | 'ABANDON') => {
    try {
      local.group.completeLifecycleAction({ groupName: GROUP_NAME, hookName: detail.LifecycleHookName!, token: detail.LifecycleActionToken!, result });
    } catch {
      // the action ended meanwhile
    }
  };
  /** The fewest InService instances and the most active ones at any moment since `since`, replayed from the activities. */
  const extremes = (since: number) => {
    const inService = new Set<string>();
    const active = new Set<string>();
    let fewestInService = Number.POSITIVE_INFINITY;
    let mostActive = 0;
    for (const activity of local.group.activities) {
      if (activity.to === 'InService') inService.add(activity.instanceId);
      else inService.delete(activity.instanceId);
      if (activity.to.startsWith('Pending') || activity.to === 'InService') active.add(activity.instanceId);
      else active.delete(activity.instanceId);
      if (activity.at >= since) {
        fewestInService = Math.min(fewestInService, inService.size);
        mostActive = Math.max(mostActive, active.size);
      }
    }
    return { fewestInService, mostActive };
  };
  const refreshEvents = () =>
    local.delivered.filter((event) => event['detail-type'].startsWith('EC2 Auto Scaling Instance Refresh')).map((event) => event['detail-type']);
  const latest = () => local.group.instanceRefreshes.describe()[0]!;
  const toVersion2 = (preferences: StartInstanceRefreshRequest['preferences'] = {}): StartInstanceRefreshRequest => ({
    desiredConfiguration: { launchTemplate: { id: template.id, version: '2' } },
    preferences,
  });
  /** Runs virtual time in steps until the refresh's status is one of `statuses`. */
  const until = async (statuses: string[], stepMs = 5_000, maxSteps = 2_000) => {
    for (let step = 0; step < maxSteps && !statuses.includes(latest().status); step++) await local.clock.sleep(stepMs);
    return latest();
  };
  const startInService = async () => {
    local.group.start();
    await local.clock.sleep(60_000);
  };
  return {
    ...local,
    templates,
    template,
    v2,
    newImage,
    alarms,
    extremes,
    refreshEvents,
    latest,
    toVersion2,
    until,
    startInService,
    holdLaunches: (answer: typeof launchAnswer) => {
      launchAnswer = answer;
    },
  };
}

const versions = (members: GroupMember[]) => members.map((member) => member.launchTemplate.versionNumber).sort();

it('launches before it terminates with MaxHealthyPercentage 200: never fewer than desired in service, every instance replaced by version 2', async () => {
  cloud = refreshCloud();
  await cloud.startInService();
  const before = cloud.group.describe().instances.map((member) => member.instanceId);
  const startedAt = cloud.clock.now();

  cloud.group.instanceRefreshes.start(cloud.toVersion2({ minHealthyPercentage: 100, maxHealthyPercentage: 200, instanceWarmup: 30 }));
  const refresh = await cloud.until(['Successful', 'Failed']);

  const after = cloud.group.describe();
  expect(refresh).toMatchObject({ status: 'Successful', percentageComplete: 100, instancesToUpdate: 0 });
  expect(cloud.extremes(startedAt).fewestInService).toBeGreaterThanOrEqual(3);
  expect(cloud.extremes(startedAt).mostActive).toBeGreaterThan(3);
  expect(after.instances.every((member) => !before.includes(member.instanceId) && member.lifecycleState === 'InService')).toBe(true);
  expect(versions(after.instances)).toEqual([2, 2, 2]);
  expect(after.instances.map((member) => cloud.ec2.get(member.instanceId)!.imageId)).toEqual([cloud.newImage, cloud.newImage, cloud.newImage]);
  expect(after.launchTemplate).toEqual({ id: cloud.template.id, name: 'warren-sandbox-nodes', version: '2' });
  expect(cloud.refreshEvents()).toEqual(['EC2 Auto Scaling Instance Refresh Started', 'EC2 Auto Scaling Instance Refresh Succeeded']);
  const succeeded = cloud.delivered.find((event) => event['detail-type'] === 'EC2 Auto Scaling Instance Refresh Succeeded')!;
  expect(succeeded).toMatchObject({
    source: 'aws.autoscaling',
    resources: [cloud.group.arn],
    detail: { InstanceRefreshId: refresh.instanceRefreshId, AutoScalingGroupName: GROUP_NAME },
  });
});

it('replaces one at a time, launching first, with both percentages at 100', async () => {
  cloud = refreshCloud();
  await cloud.startInService();
  const startedAt = cloud.clock.now();

  cloud.group.instanceRefreshes.start(cloud.toVersion2({ minHealthyPercentage: 100, maxHealthyPercentage: 100 }));
  const refresh = await cloud.until(['Successful', 'Failed']);

  expect(refresh.status).toBe('Successful');
  expect(cloud.extremes(startedAt)).toEqual({ fewestInService: 3, mostActive: 4 });
  expect(versions(cloud.group.describe().instances)).toEqual([2, 2, 2]);
});

it('with the default 90 percent on three instances, terminates one before launching its replacement', async () => {
  cloud = refreshCloud();
  await cloud.startInService();
  const startedAt = cloud.clock.now();

  cloud.group.instanceRefreshes.start(cloud.toVersion2());
  await cloud.until(['Successful', 'Failed']);

  expect(cloud.extremes(startedAt)).toEqual({ fewestInService: 2, mostActive: 3 });
  expect(cloud.latest().preferences).toMatchObject({ minHealthyPercentage: 90, maxHealthyPercentage: 100, skipMatching: false, autoRollback: false });
});

it('waits the instance warm-up after a replacement is in service before it starts the next', async () => {
  cloud = refreshCloud();
  await cloud.startInService();

  cloud.group.instanceRefreshes.start(cloud.toVersion2({ minHealthyPercentage: 100, maxHealthyPercentage: 100, instanceWarmup: 300 }));
  await cloud.until(['Successful']);

  const launches = cloud.group.activities.filter((activity) => activity.to === 'Pending' && activity.from === undefined).slice(3);
  const inService = cloud.group.activities.filter(
    (activity) => activity.to === 'InService' && launches.some((launch) => launch.instanceId === activity.instanceId),
  );
  expect(launches).toHaveLength(3);
  expect(launches[1]!.at - inService[0]!.at).toBeGreaterThanOrEqual(300_000);
  expect(launches[2]!.at - inService[1]!.at).toBeGreaterThanOrEqual(300_000);
});

it('holds while a replacement waits in Pending:Wait on the launch hook, and goes on once it is continued', async () => {
  cloud = refreshCloud();
  await cloud.startInService();
  const originals = cloud.group.describe().instances.map((member) => member.instanceId);
  cloud.holdLaunches(() => undefined);

  cloud.group.instanceRefreshes.start(cloud.toVersion2({ minHealthyPercentage: 100, maxHealthyPercentage: 100 }));
  await cloud.clock.sleep(300_000);
  const held = cloud.membersIn('Pending:Wait');
  const whileHeld = cloud.latest();
  const originalsInService = originals.filter((id) => cloud.group.member(id)?.lifecycleState === 'InService');
  cloud.holdLaunches(() => 'CONTINUE');
  cloud.group.completeLifecycleAction({ groupName: GROUP_NAME, hookName: 'warren-launch', instanceId: held[0]!.instanceId, result: 'CONTINUE' });
  const done = await cloud.until(['Successful']);

  expect(held).toHaveLength(1);
  expect(whileHeld).toMatchObject({ status: 'InProgress', percentageComplete: 0, instancesToUpdate: 3 });
  expect(originalsInService).toHaveLength(3);
  expect(done.status).toBe('Successful');
});

it('reports PercentageComplete as replacements become healthy and warm', async () => {
  cloud = refreshCloud({ desiredCapacity: 4 });
  await cloud.startInService();
  cloud.group.instanceRefreshes.start(cloud.toVersion2({ minHealthyPercentage: 100, maxHealthyPercentage: 100, instanceWarmup: 60 }));

  const seen = new Set<number>();
  for (let step = 0; step < 200 && cloud.latest().status !== 'Successful'; step++) {
    seen.add(cloud.latest().percentageComplete);
    await cloud.clock.sleep(5_000);
  }

  expect([...seen].sort((a, b) => a - b)).toEqual([0, 25, 50, 75]);
  expect(cloud.latest().percentageComplete).toBe(100);
});

it('pauses at a checkpoint for its delay and announces it', async () => {
  cloud = refreshCloud({ desiredCapacity: 4 });
  await cloud.startInService();

  cloud.group.instanceRefreshes.start(
    cloud.toVersion2({ minHealthyPercentage: 100, maxHealthyPercentage: 150, checkpointPercentages: [50, 100], checkpointDelay: 600 }),
  );
  await cloud.until(['Successful']);

  const checkpoint = cloud.delivered.find((event) => event['detail-type'] === 'EC2 Auto Scaling Instance Refresh Checkpoint Reached')!;
  const launches = cloud.group.activities.filter((activity) => activity.to === 'Pending' && activity.from === undefined).slice(4);
  expect(checkpoint.detail).toEqual({
    InstanceRefreshId: cloud.latest().instanceRefreshId,
    AutoScalingGroupName: GROUP_NAME,
    CheckpointPercentage: '50',
    CheckpointDelay: '600',
  });
  expect(launches[2]!.at - Date.parse(checkpoint.time)).toBeGreaterThanOrEqual(599_000);
  expect(cloud.refreshEvents()).toHaveLength(3);
});

it('fails when an alarm goes into ALARM, leaving the replaced instances and the group on version 1', async () => {
  cloud = refreshCloud();
  await cloud.startInService();
  cloud.group.instanceRefreshes.start(cloud.toVersion2({ minHealthyPercentage: 100, maxHealthyPercentage: 100, alarms: ['warren-launch-abandoned'] }));
  await cloud.clock.sleep(60_000);

  cloud.alarms.set('warren-launch-abandoned', 'ALARM');
  const refresh = await cloud.until(['Failed']);

  expect(refresh.statusReason).toContain('warren-launch-abandoned');
  expect(cloud.group.describe().launchTemplate.version).toBe('1');
  expect(versions(cloud.group.describe().instances)).toContain(2);
  expect(cloud.refreshEvents()).toEqual(['EC2 Auto Scaling Instance Refresh Started', 'EC2 Auto Scaling Instance Refresh Failed']);
});

it('rolls back on an alarm with AutoRollback: the version 2 instances are replaced by version 1 ones', async () => {
  cloud = refreshCloud();
  await cloud.startInService();
  cloud.group.instanceRefreshes.start(
    cloud.toVersion2({ minHealthyPercentage: 100, maxHealthyPercentage: 100, autoRollback: true, alarms: ['members-below-minimum'] }),
  );
  await cloud.clock.sleep(60_000);

  cloud.alarms.set('members-below-minimum', 'ALARM');
  const refresh = await cloud.until(['RollbackSuccessful', 'RollbackFailed', 'Failed']);

  expect(refresh.status).toBe('RollbackSuccessful');
  expect(refresh.rollbackDetails).toMatchObject({ rollbackReason: expect.stringContaining('members-below-minimum') });
  expect(versions(cloud.group.describe().instances)).toEqual([1, 1, 1]);
  expect(cloud.group.describe().instances.every((member) => member.lifecycleState === 'InService')).toBe(true);
  expect(cloud.group.describe().launchTemplate.version).toBe('1');
  expect(cloud.refreshEvents()).toEqual([
    'EC2 Auto Scaling Instance Refresh Started',
    'EC2 Auto Scaling Instance Refresh Rollback Started',
    'EC2 Auto Scaling Instance Refresh Rollback Succeeded',
  ]);
});

it('fails, then rolls back, when every replacement is abandoned by the launch hook for the failure timeout', async () => {
  cloud = refreshCloud();
  await cloud.startInService();
  cloud.holdLaunches((instanceId) => (cloud.ec2.get(instanceId)?.imageId === cloud.newImage ? 'ABANDON' : 'CONTINUE'));

  cloud.group.instanceRefreshes.start(cloud.toVersion2({ minHealthyPercentage: 100, maxHealthyPercentage: 100, autoRollback: true }));
  const refresh = await cloud.until(['RollbackSuccessful', 'RollbackFailed', 'Failed']);

  expect(refresh.status).toBe('RollbackSuccessful');
  expect(refresh.rollbackDetails!.rollbackStartTime - refresh.startTime).toBeGreaterThanOrEqual(600_000);
  expect(versions(cloud.group.describe().instances)).toEqual([1, 1, 1]);
});

it('cancels: Cancelling, then Cancelled, keeping what was replaced', async () => {
  cloud = refreshCloud();
  await cloud.startInService();
  cloud.group.instanceRefreshes.start(cloud.toVersion2({ minHealthyPercentage: 100, maxHealthyPercentage: 100 }));
  await cloud.clock.sleep(45_000);

  cloud.group.instanceRefreshes.cancel();
  const cancelling = cloud.latest().status;
  const refresh = await cloud.until(['Cancelled']);
  await cloud.clock.sleep(60_000);

  expect(cancelling).toBe('Cancelling');
  expect(refresh.status).toBe('Cancelled');
  expect(cloud.group.describe().instances).toHaveLength(3);
  // what was replaced stays; the surplus of a replacement under way goes by the group's termination policy
  expect(versions(cloud.group.describe().instances)).toContain(1);
  expect(versions(cloud.group.describe().instances)).toContain(2);
  expect(cloud.group.describe().launchTemplate.version).toBe('1');
  expect(cloud.refreshEvents()).toEqual(['EC2 Auto Scaling Instance Refresh Started', 'EC2 Auto Scaling Instance Refresh Cancelled']);
});

it('rolls back by hand, and refuses a second refresh while one is active', async () => {
  cloud = refreshCloud();
  await cloud.startInService();
  cloud.group.instanceRefreshes.start(cloud.toVersion2({ minHealthyPercentage: 100, maxHealthyPercentage: 200 }));
  await cloud.clock.sleep(10_000);

  expect(() => cloud.group.instanceRefreshes.start(cloud.toVersion2())).toThrow(
    'An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.',
  );
  cloud.group.instanceRefreshes.rollback();
  const refresh = await cloud.until(['RollbackSuccessful', 'RollbackFailed']);

  expect(refresh.status).toBe('RollbackSuccessful');
  expect(versions(cloud.group.describe().instances)).toEqual([1, 1, 1]);
  expect(() => cloud.group.instanceRefreshes.cancel()).toThrow(
    'The request failed because an active instance refresh or rollback for the specified Auto Scaling group was not found.',
  );
});

it('skips instances already on the desired version with SkipMatching', async () => {
  cloud = refreshCloud();
  await cloud.startInService();
  const originals = cloud.group.describe().instances.map((member) => member.instanceId);

  cloud.group.instanceRefreshes.start({
    desiredConfiguration: { launchTemplate: { id: cloud.template.id, version: '1' } },
    preferences: { skipMatching: true },
  });
  const refresh = await cloud.until(['Successful', 'Failed']);

  expect(refresh.status).toBe('Successful');
  expect(cloud.group.describe().instances.map((member) => member.instanceId)).toEqual(originals);
});

it.each([
  [{ maxHealthyPercentage: 150 }, 'Both MinHealthyPercentage and MaxHealthyPercentage must be specified.'],
  [{ minHealthyPercentage: 50, maxHealthyPercentage: 200 }, 'The difference between MinHealthyPercentage and MaxHealthyPercentage cannot be greater than 100.'],
  [
    { minHealthyPercentage: 100, maxHealthyPercentage: 201 },
    "Value '201' at 'preferences.maxHealthyPercentage' failed to satisfy constraint: Member must have value less than or equal to 200",
  ],
  [
    { minHealthyPercentage: 101 },
    "Value '101' at 'preferences.minHealthyPercentage' failed to satisfy constraint: Member must have value less than or equal to 100",
  ],
  [{ checkpointDelay: 60 }, 'CheckpointDelay is specified without CheckpointPercentages'],
  [{ checkpointPercentages: [50, 20] }, 'CheckpointPercentages must be in ascending order and each number must be unique.'],
])('refuses preferences %j with a ValidationError', (preferences, message) => {
  cloud = refreshCloud();

  const start = () => cloud.group.instanceRefreshes.start(cloud.toVersion2(preferences));

  expect(start).toThrow(message);
  expect(start).toThrow(expect.objectContaining({ code: 'ValidationError' }));
});

it('refuses AutoRollback without a desired configuration or with $Latest, and an alarm not OK at the start', () => {
  cloud = refreshCloud();
  cloud.alarms.set('no-data', 'INSUFFICIENT_DATA');

  const withoutDesired = () => cloud.group.instanceRefreshes.start({ preferences: { autoRollback: true } });
  const latest = () =>
    cloud.group.instanceRefreshes.start({
      desiredConfiguration: { launchTemplate: { id: cloud.template.id, version: '$Latest' } },
      preferences: { autoRollback: true },
    });
  const noData = () => cloud.group.instanceRefreshes.start(cloud.toVersion2({ alarms: ['no-data'] }));

  expect(withoutDesired).toThrow('no desired configuration');
  expect(latest).toThrow('$Latest or $Default');
  expect(noData).toThrow('The alarm no-data is in the INSUFFICIENT_DATA state');
  expect(() => cloud.group.instanceRefreshes.rollback()).toThrow(expect.objectContaining({ code: 'ActiveInstanceRefreshNotFound' }));
});
