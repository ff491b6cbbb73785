import { formatRefresh, planRoll, refreshStatusOf, RollRefused, type RollGroup } from '../../../infra/operate/roll';
import { deployed } from '../../../infra/deploy/settings';

/*
 * `warren roll`'s Instance Refresh request, for the cluster sizes the cluster stack allows, at its
 * default ClusterSize and MaxClusterSize (infra/cluster.yml) and at MaxSize.
 */

const parameters = deployed.cluster.Parameters as Record<string, { Default: number; MaxValue: number }>;
const CLUSTER_SIZE = Number(parameters.ClusterSize!.Default);
const MAX_CLUSTER_SIZE = Number(parameters.MaxClusterSize!.Default);
const ALARMS = ['ops orders warren launch abandoned', 'ops orders warren leave blocked'];

function group(desired: number, overrides: Partial<RollGroup> = {}): RollGroup {
  return {
    name: 'orders-asg',
    desiredCapacity: desired,
    maxSize: MAX_CLUSTER_SIZE,
    launchTemplate: { id: 'lt-0123456789abcdef0', version: '4' },
    latestVersion: 5,
    instances: Array.from({ length: desired }, (_, i) => ({ instanceId: `i-0000000000000000${i}`, lifecycleState: 'InService', launchTemplateVersion: '4' })),
    ...overrides,
  };
}

/** Instances Auto Scaling may run at once under a percentage, rounded either way. */
const bounds = (desired: number, percentage: number) => [Math.floor((desired * percentage) / 100), Math.ceil((desired * percentage) / 100)];

describe('planRoll', () => {
  test.each([1, CLUSTER_SIZE, 5, 7, MAX_CLUSTER_SIZE - 1])('%i nodes below MaxSize: launch before terminate, exactly one extra, all members kept', (n) => {
    const { request } = planRoll(group(n), { launchTemplateVersion: 5 }, ALARMS);
    const { MinHealthyPercentage: min, MaxHealthyPercentage: max } = request.Preferences!;
    expect(min).toBe(100);
    // whichever way Auto Scaling rounds, n·max/100 allows n+1 instances and never n+2
    for (const count of bounds(n, max!)) expect(count).toBeLessThanOrEqual(n + 1);
    expect(Math.ceil((n * max!) / 100)).toBe(n + 1);
    expect(max! - min!).toBeLessThanOrEqual(100);
  });

  test('the deployed default cluster rolls to the named version, may roll back, skips instances already on it, watches the alarms', () => {
    const plan = planRoll(group(CLUSTER_SIZE), { launchTemplateVersion: 5 }, ALARMS);
    expect(plan.createVersion).toBeUndefined();
    expect(plan.request).toEqual({
      AutoScalingGroupName: 'orders-asg',
      Strategy: 'Rolling',
      DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: 'lt-0123456789abcdef0', Version: '5' } },
      Preferences: expect.objectContaining({ InstanceWarmup: 0, SkipMatching: true, AutoRollback: true, AlarmSpecification: { Alarms: ALARMS } }),
    });
    // every preference sent is explained
    const explained = new Set(plan.reasons.map((reason) => reason.setting));
    for (const setting of Object.keys(plan.request.Preferences!)) expect(explained).toContain(setting);
  });

  test("a new image: a version created from the group's, and the refresh names the version it will get", () => {
    const plan = planRoll(group(CLUSTER_SIZE), { imageId: 'ami-0abcdef1234567890' }, ALARMS);
    expect(plan.createVersion).toEqual({
      LaunchTemplateId: 'lt-0123456789abcdef0',
      SourceVersion: '4',
      VersionDescription: 'warren roll: image ami-0abcdef1234567890',
      LaunchTemplateData: { ImageId: 'ami-0abcdef1234567890' },
    });
    expect(plan.request.DesiredConfiguration?.LaunchTemplate?.Version).toBe('6');
  });

  test('the same version: every instance replaced (no skip matching)', () => {
    const plan = planRoll(group(CLUSTER_SIZE), {}, []);
    expect(plan.request.DesiredConfiguration?.LaunchTemplate?.Version).toBe('4');
    expect(plan.request.Preferences?.SkipMatching).toBe(false);
    expect(plan.request.Preferences?.AlarmSpecification).toBeUndefined();
  });

  test.each([5, 7, 9])('%i nodes at MaxSize: terminate first, one at a time, a majority plus one kept', (n) => {
    const { request } = planRoll(group(n, { maxSize: n }), {}, ALARMS);
    const { MinHealthyPercentage: min, MaxHealthyPercentage: max } = request.Preferences!;
    expect(max).toBe(100);
    const [low, high] = bounds(n, min!);
    expect(low).toBeGreaterThanOrEqual(Math.floor(n / 2) + 2);
    expect(high).toBe(n - 1);
  });

  test.each([
    ['3 nodes at MaxSize', group(3, { maxSize: 3 }), {}, /raise MaxClusterSize to 4/],
    ['paused', group(3, { paused: 'upgrade in progress' }), {}, /warren is paused .*upgrade in progress/],
    [
      'an instance still pending',
      group(3, { instances: [...group(2).instances, { instanceId: 'i-09', lifecycleState: 'Pending:Wait' }] }),
      {},
      /not steady .*i-09 Pending:Wait/,
    ],
    ['fewer instances than desired', group(3, { instances: group(2).instances }), {}, /not steady/],
    ['no capacity', group(0), {}, /nothing to roll/],
    ['$Latest', group(3, { launchTemplate: { id: 'lt-0123456789abcdef0', version: '$Latest' } }), {}, /numbered version/],
    ['a version that does not exist', group(3), { launchTemplateVersion: 9 }, /versions 1 to 5, not 9/],
    ['a bad image id', group(3), { imageId: 'ubuntu' }, /not an AMI id/],
    ['both', group(3), { imageId: 'ami-0abcdef1234567890', launchTemplateVersion: 5 }, /not both/],
  ])('refused: %s', (_name, shape, target, message) => {
    expect(() => planRoll(shape, target, ALARMS)).toThrow(RollRefused);
    expect(() => planRoll(shape, target, ALARMS)).toThrow(message);
  });

  test('more alarms than AlarmSpecification takes are refused', () => {
    expect(() =>
      planRoll(
        group(3),
        {},
        Array.from({ length: 11 }, (_, i) => `a${i}`),
      ),
    ).toThrow(/at most 10 alarms/);
  });
});

describe('the refresh as `warren status` shows it', () => {
  test('progress, what is left, and a rollback with its reason', () => {
    const refresh = refreshStatusOf({
      InstanceRefreshId: 'c613620e-07e2-4ed2-a977-1234567890ab',
      AutoScalingGroupName: 'orders-asg',
      Status: 'RollbackInProgress',
      StatusReason: 'An alarm went into ALARM state',
      StartTime: new Date('2026-12-08T03:00:00Z'),
      PercentageComplete: 33,
      InstancesToUpdate: 2,
      DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: 'lt-0123456789abcdef0', Version: '6' } },
      RollbackDetails: { RollbackReason: 'ops orders warren launch abandoned', InstancesToUpdateOnRollback: 1, PercentageCompleteOnRollback: 0 },
    });
    expect(refresh).toMatchObject({ status: 'RollbackInProgress', percentageComplete: 33, instancesToUpdate: 2, version: '6', endTime: null });
    expect(formatRefresh(refresh)).toBe(
      'instance refresh c613620e-07e2-4ed2-a977-1234567890ab to version 6: RollbackInProgress 33% replaced, 2 to go (An alarm went into ALARM state); rollback 0% (1 to go): ops orders warren launch abandoned',
    );
    expect(formatRefresh(null)).toBe('instance refresh: none');
  });
});
