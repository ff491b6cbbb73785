import { createHash } from 'node:crypto';
import { type Activity, AutoScalingValidationError, type LifecycleHookSpec, type LocalAutoScalingGroup } from '../cloud/autoscaling';
import { ApiError, type ServiceApi } from './protocol';

/**
 * Auto Scaling's query API over one local group: describing it, changing its capacity and its
 * instances' health, terminating one of them, the lifecycle-action calls, its scaling activities and
 * hooks. The model's AutoScalingValidationError answers as AWS's ValidationError, with its message.
 */

export const AUTOSCALING_XMLNS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';

const MAX_RECORDS = 100;
const MAX_GLOBAL_TIMEOUT_SECONDS = 172_800;

export function autoScalingApi(group: LocalAutoScalingGroup): ServiceApi {
  /** Operations that name the group answer AWS's ValidationError for another name. */
  const named = (input: Record<string, any>): LocalAutoScalingGroup => {
    const name = String(input.AutoScalingGroupName ?? '');
    if (name !== group.name && name !== group.arn) throw new ApiError('ValidationError', `AutoScalingGroup name not found - AutoScalingGroup ${name} not found`);
    return group;
  };
  return {
    service: 'autoscaling',
    protocol: 'awsQuery',
    xmlns: AUTOSCALING_XMLNS,
    operations: {
      DescribeAutoScalingGroups: (input) => validation(() => describeAutoScalingGroups(group, input)),
      SetDesiredCapacity: (input) =>
        validation(() => {
          named(input).setDesiredCapacity(integer(input, 'DesiredCapacity'));
          return {};
        }),
      TerminateInstanceInAutoScalingGroup: (input) =>
        validation(() => {
          const instanceId = required(input, 'InstanceId');
          group.terminateInstance(instanceId, boolean(input, 'ShouldDecrementDesiredCapacity'));
          const activity = scalingActivities(group).reverse().find((candidate) => candidate.instanceId === instanceId && candidate.kind === 'terminate');
          return { Activity: activity && activityShape(group, activity) };
        }),
      SetInstanceHealth: (input) =>
        validation(() => {
          const healthStatus = required(input, 'HealthStatus');
          if (healthStatus !== 'Healthy' && healthStatus !== 'Unhealthy') {
            throw new ApiError('ValidationError', `Value '${healthStatus}' at 'healthStatus' failed to satisfy constraint: Member must be Healthy or Unhealthy`);
          }
          group.setInstanceHealth(required(input, 'InstanceId'), healthStatus, input.ShouldRespectGracePeriod === undefined ? true : boolean(input, 'ShouldRespectGracePeriod'));
          return {};
        }),
      CompleteLifecycleAction: (input) =>
        validation(() => {
          const result = required(input, 'LifecycleActionResult');
          if (result !== 'CONTINUE' && result !== 'ABANDON') {
            throw new ApiError('ValidationError', `Value '${result}' at 'lifecycleActionResult' failed to satisfy constraint: Member must be CONTINUE or ABANDON`);
          }
          group.completeLifecycleAction({ ...actionRequest(input), result });
          return {};
        }),
      RecordLifecycleActionHeartbeat: (input) =>
        validation(() => {
          group.recordLifecycleActionHeartbeat(actionRequest(input));
          return {};
        }),
      DescribeScalingActivities: (input) => validation(() => describeScalingActivities(group, input)),
      DescribeLifecycleHooks: (input) =>
        validation(() => {
          named(input);
          const wanted = listOf(input.LifecycleHookNames);
          const hooks = [
            ...(group.launchHook ? [hookShape(group, group.launchHook, 'autoscaling:EC2_INSTANCE_LAUNCHING')] : []),
            ...(group.terminateHook ? [hookShape(group, group.terminateHook, 'autoscaling:EC2_INSTANCE_TERMINATING')] : []),
          ];
          return { LifecycleHooks: hooks.filter((hook) => wanted.length === 0 || wanted.includes(hook.LifecycleHookName)) };
        }),
    },
  };
}

function describeAutoScalingGroups(group: LocalAutoScalingGroup, input: Record<string, any>) {
  if (listOf(input.Filters).length > 0) throw new ApiError('ValidationError', 'Filters are not answered by the local Auto Scaling API; name the group instead');
  const names = listOf(input.AutoScalingGroupNames);
  if (input.MaxRecords !== undefined) boundedRecords(input);
  // AWS answers an empty list for a name it does not know, not an error
  if (names.length > 0 && !names.includes(group.name)) return { AutoScalingGroups: [] };
  const described = group.describe();
  return {
    AutoScalingGroups: [
      {
        AutoScalingGroupName: described.name,
        AutoScalingGroupARN: described.arn,
        MinSize: described.minSize,
        MaxSize: described.maxSize,
        DesiredCapacity: described.desiredCapacity,
        DefaultCooldown: 300,
        AvailabilityZones: group.availabilityZones,
        LoadBalancerNames: [],
        TargetGroupARNs: [],
        HealthCheckType: 'EC2',
        HealthCheckGracePeriod: group.healthCheckGracePeriodSeconds,
        CreatedTime: new Date(group.createdAt),
        Instances: described.instances.map((member) => ({
          InstanceId: member.instanceId,
          InstanceType: 't3.medium',
          AvailabilityZone: member.availabilityZone,
          LifecycleState: member.lifecycleState,
          HealthStatus: member.healthStatus,
          ProtectedFromScaleIn: false,
        })),
        SuspendedProcesses: [],
        EnabledMetrics: [],
        Tags: [],
        TerminationPolicies: ['Default'],
        NewInstancesProtectedFromScaleIn: false,
        ServiceLinkedRoleARN: `arn:aws:iam::${accountOf(group.arn)}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`,
        CapacityRebalance: false,
      },
    ],
  };
}

function describeScalingActivities(group: LocalAutoScalingGroup, input: Record<string, any>) {
  const maxRecords = input.MaxRecords === undefined ? MAX_RECORDS : boundedRecords(input);
  const name = input.AutoScalingGroupName === undefined ? undefined : String(input.AutoScalingGroupName);
  const ids = listOf(input.ActivityIds);
  if (name !== undefined && name !== group.name) return { Activities: [] };
  const all = scalingActivities(group)
    .reverse()
    .filter((activity) => ids.length === 0 || ids.includes(activity.id));
  let start = 0;
  if (input.NextToken !== undefined) {
    const after = Buffer.from(String(input.NextToken), 'base64url').toString('utf8');
    start = all.findIndex((activity) => activity.id === after) + 1;
    if (start === 0) throw new ApiError('InvalidNextToken', 'The token is invalid.');
  }
  const page = all.slice(start, start + maxRecords);
  const more = start + page.length < all.length;
  return {
    Activities: page.map((activity) => activityShape(group, activity)),
    NextToken: more ? Buffer.from(page[page.length - 1]!.id).toString('base64url') : undefined,
  };
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
  const begin = (entry: Activity, kind: ScalingActivity['kind']) => {
    const activity: ScalingActivity = {
      id: activityId(group.arn, entry, kind),
      kind,
      instanceId: entry.instanceId,
      availabilityZone: entry.availabilityZone,
      startedAt: entry.at,
      cause: `At ${awsTime(entry.at)} ${entry.cause}.`,
      statusCode: 'InProgress',
      progress: 0,
    };
    activities.push(activity);
    open.set(entry.instanceId, activity);
  };
  const end = (entry: Activity, statusCode: ScalingActivity['statusCode'], statusMessage?: string) => {
    const activity = open.get(entry.instanceId);
    if (!activity) return;
    Object.assign(activity, { endedAt: entry.at, statusCode, progress: 100, ...(statusMessage ? { statusMessage } : {}) });
    open.delete(entry.instanceId);
  };
  const step = (entry: Activity, statusCode: ScalingActivity['statusCode'], progress: number) => {
    const activity = open.get(entry.instanceId);
    if (activity) Object.assign(activity, { statusCode, progress });
  };
  for (const entry of group.activities) {
    switch (entry.to) {
      case 'Pending':
        if (entry.from === undefined) begin(entry, 'launch');
        break;
      case 'Pending:Wait':
      case 'Terminating:Wait':
        step(entry, 'MidLifecycleAction', 30);
        break;
      case 'Pending:Proceed':
      case 'Terminating:Proceed':
        step(entry, 'InProgress', 60);
        break;
      case 'InService':
        end(entry, 'Successful');
        break;
      case 'Terminating':
        end(entry, 'Cancelled', `Instance failed to complete launch: ${entry.cause}`);
        begin(entry, 'terminate');
        break;
      case 'Terminated':
        if (open.get(entry.instanceId)?.kind === 'launch') end(entry, 'Failed', entry.cause);
        else end(entry, 'Successful');
        break;
    }
  }
  return activities;
}

function activityShape(group: LocalAutoScalingGroup, activity: ScalingActivity) {
  return {
    ActivityId: activity.id,
    AutoScalingGroupName: group.name,
    AutoScalingGroupARN: group.arn,
    Description: activity.kind === 'launch' ? `Launching a new EC2 instance: ${activity.instanceId}` : `Terminating EC2 instance: ${activity.instanceId}`,
    Cause: activity.cause,
    StartTime: new Date(activity.startedAt),
    EndTime: activity.endedAt === undefined ? undefined : new Date(activity.endedAt),
    StatusCode: activity.statusCode,
    StatusMessage: activity.statusMessage,
    Progress: activity.progress,
    Details: JSON.stringify({ 'Availability Zone': activity.availabilityZone }),
  };
}

function hookShape(group: LocalAutoScalingGroup, hook: LifecycleHookSpec, transition: string) {
  return {
    LifecycleHookName: hook.name,
    AutoScalingGroupName: group.name,
    LifecycleTransition: transition,
    NotificationMetadata: hook.notificationMetadata,
    HeartbeatTimeout: hook.heartbeatTimeoutSeconds,
    GlobalTimeout: Math.min(MAX_GLOBAL_TIMEOUT_SECONDS, 100 * hook.heartbeatTimeoutSeconds),
    DefaultResult: hook.defaultResult,
  };
}

function actionRequest(input: Record<string, any>) {
  const token = input.LifecycleActionToken === undefined ? undefined : String(input.LifecycleActionToken);
  const instanceId = input.InstanceId === undefined ? undefined : String(input.InstanceId);
  if (!token && !instanceId) throw new ApiError('ValidationError', 'Either LifecycleActionToken or InstanceId must be specified');
  return {
    groupName: required(input, 'AutoScalingGroupName'),
    hookName: required(input, 'LifecycleHookName'),
    ...(token ? { token } : { instanceId }),
  };
}

function boundedRecords(input: Record<string, any>): number {
  const value = Number(input.MaxRecords);
  if (!Number.isInteger(value) || value < 1 || value > MAX_RECORDS) {
    throw new ApiError('ValidationError', `1 validation error detected: Value '${input.MaxRecords}' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and ${MAX_RECORDS}`);
  }
  return value;
}

function required(input: Record<string, any>, member: string): string {
  const value = input[member];
  if (value === undefined || value === '') {
    throw new ApiError('ValidationError', `1 validation error detected: Value null at '${member[0]!.toLowerCase()}${member.slice(1)}' failed to satisfy constraint: Member must not be null`);
  }
  return String(value);
}

function integer(input: Record<string, any>, member: string): number {
  const value = Number(required(input, member));
  if (!Number.isInteger(value)) throw new ApiError('ValidationError', `Value '${input[member]}' for ${member} is not an integer`);
  return value;
}

function boolean(input: Record<string, any>, member: string): boolean {
  return required(input, member) === 'true';
}

/** An awsQuery list: absent, empty (`Name=` is how the SDK sends an empty list), or the decoded array. */
function listOf(value: unknown): string[] {
  if (value === undefined || value === '') return [];
  return (Array.isArray(value) ? value : [value]).filter((item) => item !== undefined).map(String);
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

/** The model's validation errors answer as AWS's ValidationError with their message. */
function validation<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof AutoScalingValidationError) throw new ApiError('ValidationError', error.message);
    throw error;
  }
}
