import { createHash } from 'node:crypto';
import type { Activity, LocalAutoScalingGroup } from '../cloud/autoscaling';
import type { InstanceRefreshView, RefreshPreferences, StartInstanceRefreshRequest } from '../cloud/instance-refresh';
import { ApiError, bounded, invalid, listOf, offsetOf, page, required, type ServiceApi } from './protocol';

/**
 * Auto Scaling's query API over one local group: describing it and its instances, changing its capacity and its
 * instances' health, terminating one of them, the lifecycle-action calls, its scaling activities and its
 * instance refreshes.
 */

export const AUTOSCALING_XMLNS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';

const RECORDS: [number, number] = [1, 100];
/** DescribeAutoScalingInstances: MaxRecords and InstanceIds, at most 50 each */
const INSTANCES: [number, number] = [1, 50];

export function autoScalingApi(group: LocalAutoScalingGroup): ServiceApi {
  /** Operations that name the group answer AWS's ValidationError for another name. */
  const named = (input: Record<string, any>): LocalAutoScalingGroup => {
    const name = String(input.AutoScalingGroupName ?? '');
    if (name !== group.name && name !== group.arn)
      throw new ApiError('ValidationError', `AutoScalingGroup name not found - AutoScalingGroup ${name} not found`);
    return group;
  };
  return {
    service: 'autoscaling',
    protocol: 'awsQuery',
    xmlns: AUTOSCALING_XMLNS,
    operations: {
      DescribeAutoScalingGroups: (input) => describeAutoScalingGroups(group, input),
      DescribeAutoScalingInstances: (input) => describeAutoScalingInstances(group, input),
      SetDesiredCapacity: (input) => {
        named(input).setDesiredCapacity(integer(input, 'DesiredCapacity'));
        return {};
      },
      TerminateInstanceInAutoScalingGroup: (input) => {
        const instanceId = member(input, 'InstanceId');
        group.terminateInstance(instanceId, member(input, 'ShouldDecrementDesiredCapacity') === 'true');
        const activity = scalingActivities(group)
          .reverse()
          .find((candidate) => candidate.instanceId === instanceId && candidate.kind === 'terminate');
        return { Activity: activity && activityShape(group, activity) };
      },
      SetInstanceHealth: (input) => {
        const healthStatus = member(input, 'HealthStatus');
        if (healthStatus !== 'Healthy' && healthStatus !== 'Unhealthy') {
          throw new ApiError('ValidationError', `Value '${healthStatus}' at 'healthStatus' failed to satisfy constraint: Member must be Healthy or Unhealthy`);
        }
        group.setInstanceHealth(
          member(input, 'InstanceId'),
          healthStatus,
          input.ShouldRespectGracePeriod === undefined || input.ShouldRespectGracePeriod === 'true',
        );
        return {};
      },
      CompleteLifecycleAction: (input) => {
        const result = member(input, 'LifecycleActionResult');
        if (result !== 'CONTINUE' && result !== 'ABANDON') {
          throw new ApiError(
            'ValidationError',
            `Value '${result}' at 'lifecycleActionResult' failed to satisfy constraint: Member must be CONTINUE or ABANDON`,
          );
        }
        group.completeLifecycleAction({ ...actionRequest(input), result });
        return {};
      },
      RecordLifecycleActionHeartbeat: (input) => {
        group.recordLifecycleActionHeartbeat(actionRequest(input));
        return {};
      },
      DescribeScalingActivities: (input) => describeScalingActivities(group, input),
      // A tag with a key the group has is overwritten without an error; deleting one it lacks is no error either.
      CreateOrUpdateTags: (input) => {
        for (const tag of tagsOf(group, input, true)) group.tags.set(tag.key, { value: tag.value, propagateAtLaunch: tag.propagateAtLaunch });
        return {};
      },
      DeleteTags: (input) => {
        for (const tag of tagsOf(group, input, false)) group.tags.delete(tag.key);
        return {};
      },
      StartInstanceRefresh: (input) => ({ InstanceRefreshId: named(input).instanceRefreshes.start(startRequest(input)) }),
      DescribeInstanceRefreshes: (input) => describeInstanceRefreshes(named(input), input),
      CancelInstanceRefresh: (input) => ({ InstanceRefreshId: named(input).instanceRefreshes.cancel() }),
      RollbackInstanceRefresh: (input) => ({ InstanceRefreshId: named(input).instanceRefreshes.rollback() }),
    },
  };
}

function describeAutoScalingGroups(group: LocalAutoScalingGroup, input: Record<string, any>) {
  if (listOf(input.Filters).length > 0) throw new ApiError('ValidationError', 'Filters are not answered by the local Auto Scaling API; name the group instead');
  const names = listOf(input.AutoScalingGroupNames);
  bounded(input.MaxRecords, 'maxRecords', RECORDS);
  // AWS answers an empty list for a name it does not know, not an error
  if (names.length > 0 && !names.includes(group.name)) return { AutoScalingGroups: [] };
  const described = group.describe();
  return {
    AutoScalingGroups: [
      {
        ...{
          AutoScalingGroupName: described.name,
          AutoScalingGroupARN: described.arn,
          MinSize: described.minSize,
          MaxSize: described.maxSize,
          DesiredCapacity: described.desiredCapacity,
        },
        ...{ AvailabilityZones: group.availabilityZones, HealthCheckGracePeriod: group.healthCheckGracePeriodSeconds, CreatedTime: new Date(group.createdAt) },
        LaunchTemplate: launchTemplateShape(described.launchTemplate),
        Instances: described.instances.map(({ instanceId, availabilityZone, lifecycleState, healthStatus, launchTemplate }) => ({
          InstanceId: instanceId,
          InstanceType: 't3.medium',
          AvailabilityZone: availabilityZone,
          LifecycleState: lifecycleState,
          HealthStatus: healthStatus,
          LaunchTemplate: launchTemplateShape(launchTemplate),
          ProtectedFromScaleIn: false,
        })),
        ServiceLinkedRoleARN: `arn:aws:iam::${accountOf(group.arn)}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`,
        // what the sandbox's group never changes from CreateAutoScalingGroup's defaults
        ...{ DefaultCooldown: 300, HealthCheckType: 'EC2', LoadBalancerNames: [], TargetGroupARNs: [], SuspendedProcesses: [], EnabledMetrics: [] },
        Tags: [...group.tags]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([Key, tag]) => ({
            ResourceId: group.name,
            ResourceType: 'auto-scaling-group',
            Key,
            Value: tag.value,
            PropagateAtLaunch: tag.propagateAtLaunch,
          })),
        ...{ TerminationPolicies: ['Default'], NewInstancesProtectedFromScaleIn: false, CapacityRebalance: false },
      },
    ],
  };
}

/**
 * The group's instances one by one, in pages of MaxRecords (at most 50); InstanceIds (at most 50) picks
 * some, an id not in the group is left out. HealthStatus is upper-case here (HEALTHY), as AWS answers it
 * in this operation, unlike DescribeAutoScalingGroups' Healthy.
 */
function describeAutoScalingInstances(group: LocalAutoScalingGroup, input: Record<string, any>) {
  const ids = listOf(input.InstanceIds);
  if (ids.length > INSTANCES[1]) {
    throw invalid(`Value '[${ids.join(', ')}]' at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to ${INSTANCES[1]}`);
  }
  const maxRecords = bounded(input.MaxRecords, 'maxRecords', INSTANCES);
  const all = group.describe().instances.filter((instance) => ids.length === 0 || ids.includes(instance.instanceId));
  const { items, NextToken } = page(all, offsetOf(input.NextToken, all.length), maxRecords);
  return {
    AutoScalingInstances: items.map(({ instanceId, availabilityZone, lifecycleState, healthStatus, launchTemplate }) => ({
      ...{ InstanceId: instanceId, InstanceType: 't3.medium', AutoScalingGroupName: group.name, AvailabilityZone: availabilityZone },
      ...{
        LifecycleState: lifecycleState,
        HealthStatus: healthStatus.toUpperCase(),
        LaunchTemplate: launchTemplateShape(launchTemplate),
        ProtectedFromScaleIn: false,
      },
    })),
    NextToken,
  };
}

function describeScalingActivities(group: LocalAutoScalingGroup, input: Record<string, any>) {
  const maxRecords = bounded(input.MaxRecords, 'maxRecords', RECORDS);
  const name = input.AutoScalingGroupName === undefined ? undefined : String(input.AutoScalingGroupName);
  const ids = listOf(input.ActivityIds);
  if (name !== undefined && name !== group.name) return { Activities: [] };
  const all = scalingActivities(group)
    .reverse()
    .filter((activity) => ids.length === 0 || ids.includes(activity.id));
  // the token names the last activity listed, so newer activities do not shift the next page
  const after = input.NextToken === undefined ? undefined : Buffer.from(String(input.NextToken), 'base64url').toString('utf8');
  const start = after === undefined ? 0 : all.findIndex((activity) => activity.id === after) + 1;
  if (start === 0 && after !== undefined) throw new ApiError('InvalidNextToken', 'The token is invalid.');
  const { items, NextToken } = page(all, start, maxRecords, (last) => Buffer.from(last.id).toString('base64url'));
  return { Activities: items.map((activity) => activityShape(group, activity)), NextToken };
}

/** One scaling activity as AWS reports it: a launch or a termination, from its first state change to its last. */
interface ScalingActivity {
  id: string;
  kind: 'launch' | 'terminate';
  instanceId: string;
  availabilityZone: string;
  startedAt: number;
  endedAt?: number;
  cause: string;
  statusCode: 'InProgress' | 'MidLifecycleAction' | 'Successful' | 'Failed' | 'Cancelled';
  statusMessage?: string;
  progress: number;
}

/**
 * The model records every lifecycle state change; AWS reports activities: one per launch (Pending until
 * InService, or until it failed or was given up) and one per termination (Terminating until Terminated).
 * Oldest first.
 */
export function scalingActivities(group: LocalAutoScalingGroup): ScalingActivity[] {
  const activities: ScalingActivity[] = [];
  const open = new Map<string, ScalingActivity>();
  const update = (entry: Activity, change: Partial<ScalingActivity>, ends = false) => {
    const activity = open.get(entry.instanceId);
    if (activity) Object.assign(activity, change, ends ? { endedAt: entry.at, progress: 100 } : {});
    if (ends) open.delete(entry.instanceId);
  };
  for (const entry of group.activities) {
    const { to, instanceId } = entry;
    if (to === 'Terminating') update(entry, { statusCode: 'Cancelled', statusMessage: `Instance failed to complete launch: ${entry.cause}` }, true);
    if ((to === 'Pending' && entry.from === undefined) || to === 'Terminating') {
      const kind = to === 'Pending' ? 'launch' : 'terminate';
      const activity: ScalingActivity = {
        id: activityId(group.arn, entry, kind),
        kind,
        instanceId,
        availabilityZone: entry.availabilityZone,
        startedAt: entry.at,
        cause: `At ${awsTime(entry.at)} ${entry.cause}.`,
        statusCode: 'InProgress',
        progress: 0,
      };
      activities.push(activity);
      open.set(instanceId, activity);
    } else if (to === 'Pending:Wait' || to === 'Terminating:Wait') update(entry, { statusCode: 'MidLifecycleAction', progress: 30 });
    else if (to === 'Pending:Proceed' || to === 'Terminating:Proceed') update(entry, { statusCode: 'InProgress', progress: 60 });
    else if (to === 'InService') update(entry, { statusCode: 'Successful' }, true);
    else if (to === 'Terminated')
      update(entry, open.get(instanceId)?.kind === 'launch' ? { statusCode: 'Failed', statusMessage: entry.cause } : { statusCode: 'Successful' }, true);
  }
  return activities;
}

function activityShape(group: LocalAutoScalingGroup, activity: ScalingActivity) {
  return {
    ...{ ActivityId: activity.id, AutoScalingGroupName: group.name, AutoScalingGroupARN: group.arn },
    Description: activity.kind === 'launch' ? `Launching a new EC2 instance: ${activity.instanceId}` : `Terminating EC2 instance: ${activity.instanceId}`,
    ...{ Cause: activity.cause, StartTime: new Date(activity.startedAt), EndTime: activity.endedAt === undefined ? undefined : new Date(activity.endedAt) },
    ...{ StatusCode: activity.statusCode, StatusMessage: activity.statusMessage, Progress: activity.progress },
    Details: JSON.stringify({ 'Availability Zone': activity.availabilityZone }),
  };
}

function actionRequest(input: Record<string, any>) {
  const token = input.LifecycleActionToken === undefined ? undefined : String(input.LifecycleActionToken);
  const instanceId = input.InstanceId === undefined ? undefined : String(input.InstanceId);
  if (!token && !instanceId) throw new ApiError('ValidationError', 'Either LifecycleActionToken or InstanceId must be specified');
  return {
    groupName: member(input, 'AutoScalingGroupName'),
    hookName: member(input, 'LifecycleHookName'),
    ...(token ? { token } : { instanceId }),
  };
}

/** Tag limits of the API reference (Tag: Key 1-128, Value 0-256) and the quota of 50 tags per group. */
const TAGS_PER_GROUP = 50;

/**
 * Tags.member.N of CreateOrUpdateTags / DeleteTags: each names this group (auto-scaling-group is the only
 * resource type), a key of 1 to 128 characters and a value of at most 256; nothing changes unless all are valid.
 */
function tagsOf(
  group: LocalAutoScalingGroup,
  input: Record<string, any>,
  creating: boolean,
): Array<{ key: string; value: string; propagateAtLaunch: boolean }> {
  const tags = listOf<Record<string, any>>(required(input.Tags, 'tags'));
  if (tags.length === 0) throw invalid("Value null at 'tags' failed to satisfy constraint: Member must not be null");
  const parsed = tags.map((tag, index) => {
    const at = `tags.${index + 1}.member`;
    const key = String(required(tag.Key, `${at}.key`));
    if (key.length > 128) throw invalid(`Value '${key}' at '${at}.key' failed to satisfy constraint: Member must have length less than or equal to 128`);
    const value = tag.Value === undefined ? '' : String(tag.Value);
    if (value.length > 256) throw invalid(`Value at '${at}.value' failed to satisfy constraint: Member must have length less than or equal to 256`);
    if (tag.ResourceType !== undefined && tag.ResourceType !== 'auto-scaling-group')
      throw new ApiError('ValidationError', `Invalid resource type: ${tag.ResourceType}`);
    const resource = String(tag.ResourceId ?? '');
    if (resource !== group.name) throw new ApiError('ValidationError', `AutoScalingGroup name not found - AutoScalingGroup ${resource} not found`);
    if (tag.PropagateAtLaunch !== undefined && tag.PropagateAtLaunch !== 'true' && tag.PropagateAtLaunch !== 'false') {
      throw invalid(`Value '${tag.PropagateAtLaunch}' at '${at}.propagateAtLaunch' failed to satisfy constraint: Member must be true or false`);
    }
    return { key, value, propagateAtLaunch: tag.PropagateAtLaunch === 'true' };
  });
  if (creating && new Set([...group.tags.keys(), ...parsed.map((tag) => tag.key)]).size > TAGS_PER_GROUP) {
    throw new ApiError('LimitExceeded', `The quota of ${TAGS_PER_GROUP} tags per Auto Scaling group would be exceeded`);
  }
  return parsed;
}

/** LaunchTemplateSpecification: the version as the group (or the launch) names it, $Latest included. */
function launchTemplateShape(template: { id: string; name: string; version: string }) {
  return { LaunchTemplateId: template.id, LaunchTemplateName: template.name, Version: template.version };
}

/** StartInstanceRefresh's members: DesiredConfiguration.LaunchTemplate and Preferences (query lists already arrays). */
function startRequest(input: Record<string, any>): StartInstanceRefreshRequest {
  const template = input.DesiredConfiguration?.LaunchTemplate as Record<string, string> | undefined;
  if (input.DesiredConfiguration?.MixedInstancesPolicy !== undefined) {
    throw new ApiError('ValidationError', 'A MixedInstancesPolicy is not answered by the local Auto Scaling API; give DesiredConfiguration.LaunchTemplate');
  }
  const p = (input.Preferences ?? {}) as Record<string, any>;
  const number = (name: string) => (p[name] === undefined ? undefined : Number(p[name]));
  const flag = (name: string) => (p[name] === undefined ? undefined : p[name] === 'true');
  const preferences: RefreshPreferences = {
    minHealthyPercentage: number('MinHealthyPercentage'),
    maxHealthyPercentage: number('MaxHealthyPercentage'),
    instanceWarmup: number('InstanceWarmup'),
    checkpointPercentages: p.CheckpointPercentages === undefined ? undefined : listOf<string>(p.CheckpointPercentages).map(Number),
    checkpointDelay: number('CheckpointDelay'),
    skipMatching: flag('SkipMatching'),
    autoRollback: flag('AutoRollback'),
    scaleInProtectedInstances: p.ScaleInProtectedInstances,
    standbyInstances: p.StandbyInstances,
    alarms: p.AlarmSpecification?.Alarms === undefined ? undefined : listOf<string>(p.AlarmSpecification.Alarms),
    bakeTime: number('BakeTime'),
  };
  return {
    strategy: input.Strategy,
    desiredConfiguration: template
      ? { launchTemplate: { id: template.LaunchTemplateId, name: template.LaunchTemplateName, version: template.Version } }
      : undefined,
    preferences,
  };
}

/** DescribeInstanceRefreshes: newest first, MaxRecords (at most 100, default 50) a page. */
function describeInstanceRefreshes(group: LocalAutoScalingGroup, input: Record<string, any>) {
  const maxRecords = bounded(input.MaxRecords, 'maxRecords', RECORDS, undefined, 50);
  const all = group.instanceRefreshes.describe(listOf(input.InstanceRefreshIds));
  const { items, NextToken } = page(all, offsetOf(input.NextToken, all.length), maxRecords);
  return { InstanceRefreshes: items.map(instanceRefreshShape), NextToken };
}

function instanceRefreshShape(refresh: InstanceRefreshView) {
  const p = refresh.preferences;
  const progress = { PercentageComplete: refresh.percentageComplete, InstancesToUpdate: refresh.instancesToUpdate };
  const template = refresh.desiredConfiguration?.launchTemplate;
  const rollback = refresh.rollbackDetails;
  return {
    ...{ InstanceRefreshId: refresh.instanceRefreshId, AutoScalingGroupName: refresh.autoScalingGroupName, Status: refresh.status },
    ...{
      StatusReason: refresh.statusReason,
      StartTime: new Date(refresh.startTime),
      EndTime: refresh.endTime === undefined ? undefined : new Date(refresh.endTime),
    },
    ...{ PercentageComplete: refresh.percentageComplete, InstancesToUpdate: refresh.instancesToUpdate },
    ProgressDetails: { LivePoolProgress: progress, WarmPoolProgress: { PercentageComplete: 100, InstancesToUpdate: 0 } },
    Preferences: {
      ...{ MinHealthyPercentage: p.minHealthyPercentage, MaxHealthyPercentage: p.maxHealthyPercentage, InstanceWarmup: p.instanceWarmup },
      ...{ CheckpointPercentages: p.checkpointPercentages.length > 0 ? p.checkpointPercentages : undefined, CheckpointDelay: p.checkpointDelay },
      ...{
        SkipMatching: p.skipMatching,
        AutoRollback: p.autoRollback,
        ScaleInProtectedInstances: p.scaleInProtectedInstances,
        StandbyInstances: p.standbyInstances,
      },
      ...{ AlarmSpecification: p.alarms.length > 0 ? { Alarms: p.alarms } : undefined, BakeTime: p.bakeTime },
    },
    DesiredConfiguration: template && { LaunchTemplate: launchTemplateShape(template) },
    RollbackDetails: rollback && {
      ...{ RollbackReason: rollback.rollbackReason, RollbackStartTime: new Date(rollback.rollbackStartTime) },
      ...{ PercentageCompleteOnRollback: rollback.percentageCompleteOnRollback, InstancesToUpdateOnRollback: rollback.instancesToUpdateOnRollback },
    },
    Strategy: refresh.strategy,
  };
}

/** A member that must be given, named in the message as the API reference names it (camelCase). */
function member(input: Record<string, any>, name: string): string {
  return String(required(input[name], `${name[0]!.toLowerCase()}${name.slice(1)}`));
}

function integer(input: Record<string, any>, name: string): number {
  const value = Number(member(input, name));
  if (!Number.isInteger(value)) throw new ApiError('ValidationError', `Value '${input[name]}' for ${name} is not an integer`);
  return value;
}

/** AWS writes activity times to the second: 2024-05-01T12:00:00Z. */
function awsTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function activityId(groupArn: string, entry: Activity, kind: string): string {
  const hex = createHash('sha256').update(`${groupArn}|${entry.instanceId}|${kind}|${entry.at}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function accountOf(arn: string): string {
  return arn.split(':')[4] ?? '123456789012';
}
