import {
  ActiveInstanceRefreshNotFoundFault,
  CancelInstanceRefreshCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeInstanceRefreshesCommand,
  StartInstanceRefreshCommand,
  type AutoScalingClient,
  type InstanceRefresh,
  type RefreshPreferences,
  type StartInstanceRefreshCommandInput,
} from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateVersionCommand, DescribeLaunchTemplatesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { PAUSE_TAG } from '../../shared/aws/inventory';

/**
 * `warren roll`: every node of a live cluster replaced, one at a time, by Auto Scaling's Instance
 * Refresh, with preferences chosen for RabbitMQ. Refresh does the mechanics and respects the lifecycle
 * hooks; warren's hooks are what make each step safe: a launch is CONTINUEd only once the new node is a
 * verified member whose quorum replicas have caught up and whose targets are healthy, and a terminating
 * node leaves only when no queue would lose its last copy. The preferences below keep Refresh from going
 * faster than those hooks, and the alarms stop and roll back a refresh that makes the cluster worse.
 */

/** What an operator asked to roll to; neither: the group's own launch template version (fresh machines, same image). */
export interface RollTarget {
  /** a new AMI: a launch template version is created from the group's current one with this ImageId */
  imageId?: string;
  /** an existing version of the group's launch template */
  launchTemplateVersion?: number;
}

/** The group as DescribeAutoScalingGroups and DescribeLaunchTemplates answer it: what the plan depends on. */
export interface RollGroup {
  name: string;
  desiredCapacity: number;
  maxSize: number;
  /** a specific version number: Refresh cannot roll back a group on $Latest or $Default */
  launchTemplate: { id: string; version: string };
  /** the launch template's newest version number, so a dry run can name the version it would create */
  latestVersion: number;
  instances: Array<{ instanceId: string; lifecycleState: string; launchTemplateVersion?: string }>;
  /** the warren:paused tag's note, when warren is paused */
  paused?: string;
}

export interface Reason {
  setting: string;
  value: string;
  why: string;
}

export interface RollPlan {
  /** sent first when rolling to a new image */
  createVersion?: { LaunchTemplateId: string; SourceVersion: string; VersionDescription: string; LaunchTemplateData: { ImageId: string } };
  request: StartInstanceRefreshCommandInput;
  reasons: Reason[];
}

/** A roll that cannot be started safely: the message says why and what to change. */
export class RollRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RollRefused';
  }
}

/** AlarmSpecification takes at most 10 alarms. */
const MAX_ALARMS = 10;
const AMI_ID = /^ami-[0-9a-f]{8,17}$/;

/**
 * The Instance Refresh request for a group, and why each preference is what it is. Pure: everything it
 * needs is read before (readRollGroup), so `--dry-run` prints exactly what would be sent.
 */
export function planRoll(group: RollGroup, target: RollTarget, alarms: readonly string[]): RollPlan {
  const n = group.desiredCapacity;
  if (group.paused !== undefined) {
    throw new RollRefused(
      `warren is paused (warren:paused tag on ${group.name}${group.paused ? `: ${group.paused}` : ''}): its lifecycle hooks would hold every replacement until they time out; resume warren first`,
    );
  }
  if (n < 1) throw new RollRefused(`${group.name} has a desired capacity of 0: there is nothing to roll`);
  if (!/^\d+$/.test(group.launchTemplate.version)) {
    throw new RollRefused(
      `${group.name} uses its launch template's ${group.launchTemplate.version} version; Instance Refresh can only roll back a group on a numbered version`,
    );
  }
  const unsteady = group.instances.filter((instance) => instance.lifecycleState !== 'InService');
  if (group.instances.length !== n || unsteady.length > 0) {
    const states = group.instances.map((i) => `${i.instanceId} ${i.lifecycleState}`).join(', ') || 'none';
    throw new RollRefused(
      `${group.name} is not steady (desired ${n}, instances: ${states}); a roll starts only from a whole cluster: wait until \`warren status\` shows every instance InService`,
    );
  }
  if (target.imageId !== undefined && !AMI_ID.test(target.imageId)) throw new RollRefused(`--image-id ${target.imageId} is not an AMI id (ami-…)`);
  if (target.imageId !== undefined && target.launchTemplateVersion !== undefined) {
    throw new RollRefused('give --image-id or --launch-template-version, not both');
  }
  if (target.launchTemplateVersion !== undefined && (target.launchTemplateVersion < 1 || target.launchTemplateVersion > group.latestVersion)) {
    throw new RollRefused(`launch template ${group.launchTemplate.id} has versions 1 to ${group.latestVersion}, not ${target.launchTemplateVersion}`);
  }
  if (alarms.length > MAX_ALARMS) throw new RollRefused(`an Instance Refresh watches at most ${MAX_ALARMS} alarms, not ${alarms.length}`);

  const current = group.launchTemplate.version;
  const version = target.imageId !== undefined ? String(group.latestVersion + 1) : String(target.launchTemplateVersion ?? current);
  const sameVersion = version === current;
  const reasons: Reason[] = [];
  const preferences: RefreshPreferences = {};
  reasons.push({
    setting: 'DesiredConfiguration',
    value: `${group.launchTemplate.id} version ${version}`,
    why:
      target.imageId !== undefined
        ? `the version CreateLaunchTemplateVersion creates: version ${current} (the group's) with ImageId ${target.imageId}; named by number, so a rollback can return to version ${current}`
        : `named by number, so a rollback can return to version ${current} (the group's)`,
  });

  const majority = Math.floor(n / 2) + 1;
  const keep = Math.min(n, majority + 1);
  if (group.maxSize > n) {
    // one extra instance whatever way Auto Scaling rounds: n·(100 + ⌊100/n⌋)/100 lies in (n, n+1]
    preferences.MinHealthyPercentage = 100;
    preferences.MaxHealthyPercentage = Math.min(200, 100 + Math.floor(100 / n));
    reasons.push(
      {
        setting: 'MinHealthyPercentage',
        value: '100',
        why: `launch before terminate: all ${n} members keep running while each replacement joins, so never fewer than a majority plus one (${keep})`,
      },
      {
        setting: 'MaxHealthyPercentage',
        value: String(preferences.MaxHealthyPercentage),
        why: `room for exactly one extra instance (${n + 1} of MaxSize ${group.maxSize}): one replacement at a time, as RabbitMQ's own rolling upgrades go`,
      },
    );
  } else {
    const min = Math.floor((100 * (n - 1)) / n);
    if (Math.floor((n * min) / 100) < keep) {
      throw new RollRefused(
        `${group.name} runs at its MaxSize (${n}): a replacement would have to terminate first, leaving ${n - 1} members, fewer than a majority plus one (${keep}); raise MaxClusterSize to ${n + 1} (npm run deploy -- --param MaxClusterSize=${n + 1}) so the roll can launch before it terminates`,
      );
    }
    preferences.MinHealthyPercentage = min;
    preferences.MaxHealthyPercentage = 100;
    reasons.push(
      {
        setting: 'MinHealthyPercentage',
        value: String(min),
        why: `the group is at its MaxSize (${n}), so each replacement terminates first; ${min}% keeps at least ${n - 1} members running (a majority plus one is ${keep})`,
      },
      { setting: 'MaxHealthyPercentage', value: '100', why: `no room above MaxSize ${group.maxSize}: terminate, then launch` },
    );
  }
  preferences.InstanceWarmup = 0;
  reasons.push({
    setting: 'InstanceWarmup',
    value: '0',
    why: "InService already means ready: warren CONTINUEs a launch only once the node is a verified member, its quorum replicas caught up and its targets healthy; the group's HealthCheckGracePeriod would add minutes per node and prove nothing more",
  });
  preferences.SkipMatching = !sameVersion;
  reasons.push({
    setting: 'SkipMatching',
    value: String(!sameVersion),
    why: sameVersion
      ? 'rolling to the version the instances already run (fresh machines, same image): every instance is replaced'
      : `only instances not yet on version ${version} are replaced, so a roll started again after a failure or a cancel goes on where it stopped`,
  });
  preferences.AutoRollback = true;
  reasons.push({
    setting: 'AutoRollback',
    value: 'true',
    why: `if the refresh fails or an alarm fires, Auto Scaling replaces what it launched with instances of version ${current}, through the same hooks`,
  });
  if (alarms.length > 0) {
    preferences.AlarmSpecification = { Alarms: [...alarms] };
    reasons.push({
      setting: 'AlarmSpecification',
      value: alarms.join(', '),
      why: 'warren alarms on a launch it abandoned, a leave blocked past its bound and members below a majority: any of them in ALARM fails the refresh, which then rolls back',
    });
  }
  reasons.push({
    setting: 'CheckpointPercentages',
    value: '(none)',
    why: 'each replacement already waits for the previous one: the launch hook holds it until the new member is verified and caught up, the terminate hook until no queue depends on the leaving node',
  });

  const request: StartInstanceRefreshCommandInput = {
    AutoScalingGroupName: group.name,
    Strategy: 'Rolling',
    DesiredConfiguration: { LaunchTemplate: { LaunchTemplateId: group.launchTemplate.id, Version: version } },
    Preferences: preferences,
  };
  const createVersion =
    target.imageId === undefined
      ? undefined
      : {
          LaunchTemplateId: group.launchTemplate.id,
          SourceVersion: current,
          VersionDescription: `warren roll: image ${target.imageId}`,
          LaunchTemplateData: { ImageId: target.imageId },
        };
  return { ...(createVersion ? { createVersion } : {}), request, reasons };
}

export interface RollClients {
  autoScaling: AutoScalingClient;
  ec2: EC2Client;
}

/** The group and its launch template as planRoll needs them. */
export async function readRollGroup(clients: RollClients, groupName: string): Promise<RollGroup> {
  const answer = await clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] }));
  const group = answer.AutoScalingGroups?.[0];
  if (!group) throw new RollRefused(`Auto Scaling group ${groupName} does not exist`);
  const template = group.LaunchTemplate ?? group.MixedInstancesPolicy?.LaunchTemplate?.LaunchTemplateSpecification;
  if (!template?.LaunchTemplateId || !template.Version) throw new RollRefused(`${groupName} does not launch from a launch template`);
  const templates = await clients.ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [template.LaunchTemplateId] }));
  const paused = group.Tags?.find((tag) => tag.Key === PAUSE_TAG);
  return {
    name: groupName,
    desiredCapacity: group.DesiredCapacity ?? 0,
    maxSize: group.MaxSize ?? 0,
    launchTemplate: { id: template.LaunchTemplateId, version: template.Version },
    latestVersion: templates.LaunchTemplates?.[0]?.LatestVersionNumber ?? 1,
    instances: (group.Instances ?? []).map((instance) => ({
      instanceId: instance.InstanceId ?? '',
      lifecycleState: instance.LifecycleState ?? 'unknown',
      launchTemplateVersion: instance.LaunchTemplate?.Version,
    })),
    ...(paused ? { paused: paused.Value ?? '' } : {}),
  };
}

/** Creates the launch template version (a new image) if the plan has one, then starts the refresh; returns its id. */
export async function startRoll(clients: RollClients, plan: RollPlan): Promise<{ instanceRefreshId: string; version: string }> {
  let request = plan.request;
  if (plan.createVersion) {
    const created = await clients.ec2.send(new CreateLaunchTemplateVersionCommand(plan.createVersion));
    const version = String(created.LaunchTemplateVersion?.VersionNumber ?? '');
    if (!version) throw new Error('CreateLaunchTemplateVersion answered no version number');
    const launchTemplate = { ...request.DesiredConfiguration!.LaunchTemplate!, Version: version };
    request = { ...request, DesiredConfiguration: { ...request.DesiredConfiguration, LaunchTemplate: launchTemplate } };
  }
  const started = await clients.autoScaling.send(new StartInstanceRefreshCommand(request));
  if (!started.InstanceRefreshId) throw new Error('StartInstanceRefresh answered no InstanceRefreshId');
  return { instanceRefreshId: started.InstanceRefreshId, version: request.DesiredConfiguration!.LaunchTemplate!.Version! };
}

/** The group's newest instance refresh as `warren status` shows it; null when it never had one. */
export interface RefreshStatus {
  id: string;
  status: string;
  statusReason: string | null;
  percentageComplete: number | null;
  instancesToUpdate: number | null;
  startTime: string | null;
  endTime: string | null;
  /** the launch template version it rolls to */
  version: string | null;
  rollback: { instancesToUpdate: number | null; percentageComplete: number | null; reason: string | null } | null;
}

export function refreshStatusOf(refresh: InstanceRefresh): RefreshStatus {
  return {
    id: refresh.InstanceRefreshId ?? '',
    status: refresh.Status ?? 'unknown',
    statusReason: refresh.StatusReason ?? null,
    percentageComplete: refresh.PercentageComplete ?? null,
    instancesToUpdate: refresh.InstancesToUpdate ?? null,
    startTime: refresh.StartTime?.toISOString() ?? null,
    endTime: refresh.EndTime?.toISOString() ?? null,
    version: refresh.DesiredConfiguration?.LaunchTemplate?.Version ?? null,
    rollback: refresh.RollbackDetails
      ? {
          instancesToUpdate: refresh.RollbackDetails.InstancesToUpdateOnRollback ?? null,
          percentageComplete: refresh.RollbackDetails.PercentageCompleteOnRollback ?? null,
          reason: refresh.RollbackDetails.RollbackReason ?? null,
        }
      : null,
  };
}

/** The newest refresh of the group (DescribeInstanceRefreshes lists newest first). */
export async function latestRefresh(autoScaling: AutoScalingClient, groupName: string): Promise<RefreshStatus | null> {
  const answer = await autoScaling.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: groupName, MaxRecords: 1 }));
  const refresh = answer.InstanceRefreshes?.[0];
  return refresh ? refreshStatusOf(refresh) : null;
}

export async function cancelRoll(autoScaling: AutoScalingClient, groupName: string): Promise<string> {
  try {
    const answer = await autoScaling.send(new CancelInstanceRefreshCommand({ AutoScalingGroupName: groupName }));
    return answer.InstanceRefreshId ?? '';
  } catch (error) {
    if (!(error instanceof ActiveInstanceRefreshNotFoundFault)) throw error;
    throw new RollRefused(`no instance refresh of ${groupName} is in progress: nothing to cancel (\`warren status\` shows the last one)`);
  }
}

export function formatRollPlan(plan: RollPlan): string {
  const width = Math.max(...plan.reasons.map((reason) => reason.setting.length));
  return [
    ...(plan.createVersion ? ['EC2 CreateLaunchTemplateVersion:', JSON.stringify(plan.createVersion, null, 2), ''] : []),
    'Auto Scaling StartInstanceRefresh:',
    JSON.stringify(plan.request, null, 2),
    '',
    'why:',
    ...plan.reasons.map((reason) => `  ${reason.setting.padEnd(width)}  ${reason.value}: ${reason.why}`),
  ].join('\n');
}

export function formatRefresh(refresh: RefreshStatus | null): string {
  if (!refresh) return 'instance refresh: none';
  const done = refresh.percentageComplete === null ? '' : ` ${refresh.percentageComplete}% replaced`;
  const left = refresh.instancesToUpdate === null ? '' : `, ${refresh.instancesToUpdate} to go`;
  const rollback = refresh.rollback
    ? `; rollback ${refresh.rollback.percentageComplete ?? 0}% (${refresh.rollback.instancesToUpdate ?? 0} to go)${refresh.rollback.reason ? `: ${refresh.rollback.reason}` : ''}`
    : '';
  const reason = refresh.statusReason ? ` (${refresh.statusReason})` : '';
  return `instance refresh ${refresh.id} to version ${refresh.version ?? '?'}: ${refresh.status}${done}${left}${reason}${rollback}`;
}
