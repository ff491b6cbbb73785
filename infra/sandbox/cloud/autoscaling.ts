import { randomUUID } from 'node:crypto';
import { GROUP_NAME_TAG } from '../../../shared/aws/inventory';
import type { Ec2State } from '../../../shared/ports';
import { ApiError } from '../aws/protocol';
import type { Ec2Instance, LocalEc2 } from './ec2';
import { type LocalEventBus, publishLifecycleAction } from './event-bus';
import { InstanceRefreshes, type InstanceRefreshOptions, type RefreshedGroup } from './instance-refresh';
import { BASE_IMAGE_ID, type LaunchTemplateRef, LocalLaunchTemplates, type ResolvedLaunchTemplate } from './launch-templates';
import type { Scheduler } from './scheduler';

export type LifecycleState =
  | 'Pending'
  | 'Pending:Wait'
  | 'Pending:Proceed'
  | 'InService'
  | 'Terminating'
  | 'Terminating:Wait'
  | 'Terminating:Proceed'
  | 'Terminated';
export type LifecycleResult = 'CONTINUE' | 'ABANDON';

export interface LifecycleHookSpec {
  name: string;
  /** PutLifecycleHook accepts 30 to 7200; AWS's default is 3600 */
  heartbeatTimeoutSeconds: number;
  defaultResult: LifecycleResult;
  notificationMetadata?: string;
}

/** An open lifecycle action; a group has at most one per instance. */
export interface LifecycleAction {
  token: string;
  hookName: string;
  hook: LifecycleHookSpec;
  instanceId: string;
  transition: 'launching' | 'terminating';
  startedAt: number;
  /** when the default result applies unless a heartbeat comes first */
  timeoutAt: number;
  globalTimeoutAt: number;
}

/** CompleteLifecycleAction / RecordLifecycleActionHeartbeat name the action by token or by instance id. */
export interface LifecycleActionRequest {
  groupName: string;
  hookName: string;
  token?: string;
  instanceId?: string;
}

/** Auto Scaling's ValidationError, in AWS's own wording. */
export class AutoScalingValidationError extends ApiError {
  constructor(message: string) {
    super('ValidationError', message);
  }
}

export interface GroupMember {
  instanceId: string;
  availabilityZone: string;
  lifecycleState: LifecycleState;
  healthStatus: 'Healthy' | 'Unhealthy';
  launchTime: number;
  inServiceSince?: number;
  /** the launch template version it was launched from (DescribeAutoScalingInstances' LaunchTemplate) */
  launchTemplate: ResolvedLaunchTemplate;
}

/** One line of the group's activity history: every lifecycle state change, with why. */
export interface Activity {
  at: number;
  instanceId: string;
  availabilityZone: string;
  from?: LifecycleState;
  to: LifecycleState;
  cause: string;
}

export interface AutoScalingGroupOptions {
  name: string;
  minSize: number;
  maxSize: number;
  desiredCapacity: number;
  /** defaults to the first three zones of the bus's region, balanced like AWS balances them */
  availabilityZones?: string[];
  /** null: no launch hook. Defaults: warren-launch, 3600 s, ABANDON */
  launchHook?: Partial<LifecycleHookSpec> | null;
  /** null: no terminate hook. Defaults: warren-terminate, 3600 s, CONTINUE */
  terminateHook?: Partial<LifecycleHookSpec> | null;
  /** CreateAutoScalingGroup's default is 0 */
  healthCheckGracePeriodSeconds?: number;
  /** how long the group takes to notice that EC2 no longer runs an instance (its EC2 health check) */
  ec2HealthCheckDelayMs?: number;
  /** pause before launching again after an instance failed to start */
  launchRetryDelayMs?: number;
  /** the region's launch templates; defaults to a catalogue of its own */
  launchTemplates?: LocalLaunchTemplates;
  /** the version the group launches from (a number, as the cluster stack's LatestVersionNumber, or $Latest/$Default);
   *  defaults to version 1 of a template `<name>-nodes` of the base image, created in `launchTemplates` */
  launchTemplate?: LaunchTemplateRef;
  /** Instance Refresh: the alarms' states (default all OK) and its timings */
  instanceRefresh?: InstanceRefreshOptions;
}

const ACTIVE: ReadonlySet<LifecycleState> = new Set(['Pending', 'Pending:Wait', 'Pending:Proceed', 'InService']);
const GONE: ReadonlySet<Ec2State> = new Set(['shutting-down', 'terminated']);
/** A wait state lasts at most 48 hours or 100 heartbeat timeouts, whichever is smaller. */
const MAX_GLOBAL_TIMEOUT_SECONDS = 172_800;

/**
 * One Auto Scaling group: keeps desired capacity balanced across zones, puts launches and
 * terminations through their lifecycle hooks (events on the bus, tokens, heartbeats, default
 * results), and replaces instances that are unhealthy or that EC2 stopped running.
 */
export class LocalAutoScalingGroup implements RefreshedGroup {
  readonly name: string;
  readonly arn: string;
  readonly availabilityZones: string[];
  readonly launchHook?: LifecycleHookSpec;
  readonly terminateHook?: LifecycleHookSpec;
  readonly activities: Activity[] = [];
  /** CreateAutoScalingGroup's time (DescribeAutoScalingGroups' CreatedTime) */
  readonly createdAt: number;
  readonly healthCheckGracePeriodSeconds: number;
  /** the group's own tags (CreateOrUpdateTags), by key; those with propagateAtLaunch go onto each instance it launches */
  readonly tags = new Map<string, { value: string; propagateAtLaunch: boolean }>();
  private desired: number;
  private readonly members = new Map<string, GroupMember>();
  private readonly open = new Map<string, { action: LifecycleAction; cancelTimer: () => void }>();
  private readonly timers = new Set<() => void>();
  private readonly failedLaunches = new Set<string>();
  private disposed = false;
  readonly launchTemplates: LocalLaunchTemplates;
  /** StartInstanceRefresh and the others; `instanceRefreshes.alarmState` reads the CloudWatch alarms */
  readonly instanceRefreshes: InstanceRefreshes;
  private launchTemplateRef: LaunchTemplateRef;
  /** instances above desired an instance refresh launches before terminating (MaxHealthyPercentage above 100) */
  private refreshSurge = 0;

  constructor(
    private readonly ec2: LocalEc2,
    private readonly bus: LocalEventBus,
    private readonly scheduler: Scheduler,
    private readonly options: AutoScalingGroupOptions,
  ) {
    this.name = options.name;
    this.arn = `arn:aws:autoscaling:${bus.region}:${bus.account}:autoScalingGroup:${randomUUID()}:autoScalingGroupName/${options.name}`;
    this.availabilityZones = options.availabilityZones ?? ['a', 'b', 'c'].map((zone) => `${bus.region}${zone}`);
    this.launchHook = hookSpec(options.launchHook, { name: 'warren-launch', heartbeatTimeoutSeconds: 3600, defaultResult: 'ABANDON' });
    this.terminateHook = hookSpec(options.terminateHook, { name: 'warren-terminate', heartbeatTimeoutSeconds: 3600, defaultResult: 'CONTINUE' });
    if (!(options.minSize <= options.desiredCapacity && options.desiredCapacity <= options.maxSize)) {
      throw new AutoScalingValidationError(
        `Desired capacity:${options.desiredCapacity} must be between the specified min size:${options.minSize} and max size:${options.maxSize}`,
      );
    }
    this.desired = options.desiredCapacity;
    this.createdAt = scheduler.now();
    this.healthCheckGracePeriodSeconds = options.healthCheckGracePeriodSeconds ?? 0;
    this.launchTemplates = options.launchTemplates ?? new LocalLaunchTemplates(() => scheduler.now());
    this.launchTemplateRef = options.launchTemplate ?? {
      id: this.launchTemplates.createLaunchTemplate({ name: `${options.name}-nodes`, data: { imageId: BASE_IMAGE_ID } }).id,
      version: '1',
    };
    // refused now, as CreateAutoScalingGroup refuses a template or version that does not exist
    this.launchTemplates.resolve(this.launchTemplateRef);
    this.instanceRefreshes = new InstanceRefreshes(this, bus, scheduler, options.instanceRefresh);
    ec2.onStateChange((instance, previous) => this.onEc2StateChange(instance, previous));
  }

  start(): void {
    this.reconcileCapacity();
  }

  /** Stops every timer; the model is inert afterwards. */
  dispose(): void {
    this.disposed = true;
    this.instanceRefreshes.dispose();
    for (const cancel of this.timers) cancel();
    this.timers.clear();
  }

  describe(): {
    name: string;
    arn: string;
    minSize: number;
    maxSize: number;
    desiredCapacity: number;
    instances: GroupMember[];
    launchTemplate: { id: string; name: string; version: string };
  } {
    const instances = [...this.members.values()].map(copyOfMember);
    const { minSize, maxSize } = this.options;
    const { id, name, version } = this.launchTemplates.resolve(this.launchTemplateRef);
    return { name: this.name, arn: this.arn, minSize, maxSize, desiredCapacity: this.desired, instances, launchTemplate: { id, name, version } };
  }

  /** The launch template version the group is configured with (an instance refresh changes it when it succeeds). */
  configuredLaunchTemplate(): LaunchTemplateRef {
    return { ...this.launchTemplateRef };
  }

  /** Every member, copied (for the instance refresh). */
  currentMembers(): GroupMember[] {
    return [...this.members.values()].map(copyOfMember);
  }

  desiredCapacity(): number {
    return this.desired;
  }

  /** An instance refresh's step: its surge above desired, and the instances it takes out of service now. */
  applyRefresh(plan: { surge: number; replace: string[] }): void {
    if (this.disposed) return;
    this.refreshSurge = Math.max(0, plan.surge);
    for (const instanceId of plan.replace) {
      const member = this.members.get(instanceId);
      if (member && ACTIVE.has(member.lifecycleState)) {
        this.beginTermination(member, 'an instance was taken out of service in response to an instance refresh');
      }
    }
    this.reconcileCapacity();
  }

  adoptLaunchTemplate(ref: LaunchTemplateRef): void {
    this.launchTemplateRef = { ...ref };
  }

  member(instanceId: string): GroupMember | undefined {
    const member = this.members.get(instanceId);
    return member && copyOfMember(member);
  }

  activeActions(): LifecycleAction[] {
    return [...this.open.values()].map(({ action }) => ({ ...action }));
  }

  setDesiredCapacity(desiredCapacity: number): void {
    const { minSize, maxSize } = this.options;
    if (desiredCapacity > maxSize)
      throw new AutoScalingValidationError(`New SetDesiredCapacity value ${desiredCapacity} is above max value ${maxSize} for the AutoScalingGroup.`);
    if (desiredCapacity < minSize)
      throw new AutoScalingValidationError(`New SetDesiredCapacity value ${desiredCapacity} is below min value ${minSize} for the AutoScalingGroup.`);
    this.desired = desiredCapacity;
    this.reconcileCapacity();
  }

  /** TerminateInstanceInAutoScalingGroup: through the terminate hook; without decrement a replacement launches at once. */
  terminateInstance(instanceId: string, shouldDecrementDesiredCapacity: boolean): void {
    const member = this.requireMember(instanceId);
    if (!ACTIVE.has(member.lifecycleState)) return;
    if (shouldDecrementDesiredCapacity) {
      if (this.desired - 1 < this.options.minSize) {
        throw new AutoScalingValidationError(
          `Currently, desiredSize equals minSize (${this.options.minSize}). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.`,
        );
      }
      this.desired -= 1;
    }
    this.beginTermination(
      member,
      `instance was taken out of service in response to a user request${shouldDecrementDesiredCapacity ? ', shrinking the capacity' : ''}`,
    );
    this.reconcileCapacity();
  }

  /** SetInstanceHealth. An Unhealthy InService instance is replaced; a pending one once it is in service. */
  setInstanceHealth(instanceId: string, healthStatus: 'Healthy' | 'Unhealthy', shouldRespectGracePeriod = true): void {
    const member = this.requireMember(instanceId);
    const grace = this.healthCheckGracePeriodSeconds * 1000;
    if (shouldRespectGracePeriod && member.inServiceSince !== undefined && this.scheduler.now() < member.inServiceSince + grace) return;
    if (!ACTIVE.has(member.lifecycleState)) return;
    member.healthStatus = healthStatus;
    if (healthStatus === 'Unhealthy' && member.lifecycleState === 'InService') {
      this.beginTermination(member, 'instance was taken out of service in response to a health check (SetInstanceHealth Unhealthy)');
      this.reconcileCapacity();
    }
  }

  completeLifecycleAction(request: LifecycleActionRequest & { result: LifecycleResult }): void {
    const action = this.findAction(request);
    this.closeAction(action.instanceId);
    this.actionEnded(action, request.result, 'completed');
  }

  /** RecordLifecycleActionHeartbeat: the timeout starts over, but never past the global timeout. */
  recordLifecycleActionHeartbeat(request: LifecycleActionRequest): void {
    this.heartbeat(this.findAction(request));
  }

  private startAction(member: GroupMember, transition: LifecycleAction['transition'], hook: LifecycleHookSpec): void {
    this.move(member, transition === 'launching' ? 'Pending:Wait' : 'Terminating:Wait', `lifecycle hook ${hook.name}`);
    const now = this.scheduler.now();
    const globalTimeoutAt = now + Math.min(MAX_GLOBAL_TIMEOUT_SECONDS, 100 * hook.heartbeatTimeoutSeconds) * 1000;
    const action: LifecycleAction = {
      token: randomUUID(),
      hookName: hook.name,
      hook,
      instanceId: member.instanceId,
      transition,
      startedAt: now,
      timeoutAt: now,
      globalTimeoutAt,
    };
    this.open.set(member.instanceId, { action, cancelTimer: () => undefined });
    this.heartbeat(action);
    publishLifecycleAction(this.bus, { ...action, groupArn: this.arn, groupName: this.name, notificationMetadata: hook.notificationMetadata });
  }

  private heartbeat(action: LifecycleAction): void {
    const entry = this.open.get(action.instanceId)!;
    entry.cancelTimer();
    const now = this.scheduler.now();
    action.timeoutAt = Math.min(now + action.hook.heartbeatTimeoutSeconds * 1000, action.globalTimeoutAt);
    entry.cancelTimer = this.after(action.timeoutAt - now, () => {
      if (this.closeAction(action.instanceId) === action) this.actionEnded(action, action.hook.defaultResult, 'timed out');
    });
  }

  private closeAction(instanceId: string): LifecycleAction | undefined {
    const entry = this.open.get(instanceId);
    entry?.cancelTimer();
    this.open.delete(instanceId);
    return entry?.action;
  }

  /** The open action a request names, or AWS's ValidationError for one that is not open. */
  private findAction(request: LifecycleActionRequest): LifecycleAction {
    const candidate = request.token
      ? [...this.open.values()].find(({ action }) => action.token === request.token)?.action
      : this.open.get(request.instanceId ?? '')?.action;
    if (candidate && request.groupName === this.name && candidate.hookName === request.hookName) return candidate;
    throw new AutoScalingValidationError(
      `No active Lifecycle Action found with ${request.token ? `token ${request.token}` : `instance ID ${request.instanceId}`}`,
    );
  }

  private actionEnded(action: LifecycleAction, result: LifecycleResult, how: string): void {
    const member = this.members.get(action.instanceId);
    if (!member) return;
    const why = `lifecycle action ${how} with ${result}`;
    if (action.transition === 'terminating') {
      this.proceedTermination(member, why);
    } else if (result === 'CONTINUE') {
      this.move(member, 'Pending:Proceed', why);
      this.move(member, 'InService', why);
      if (member.healthStatus === 'Unhealthy') this.beginTermination(member, 'instance was marked Unhealthy before it came into service');
    } else {
      // an abandoned launch is terminated through the terminate hook, and replaced
      member.healthStatus = 'Unhealthy';
      this.beginTermination(member, why);
    }
    this.reconcileCapacity();
  }

  /* Re-reads the members on every step: a termination may finish, and call back here, mid-loop. */
  private reconcileCapacity(): void {
    if (this.disposed) return;
    const active = () => [...this.members.values()].filter((member) => ACTIVE.has(member.lifecycleState));
    // an instance refresh launching before it terminates holds the group above its desired capacity
    const target = this.desired + this.refreshSurge;
    while (active().length < target) this.launch(this.leastUsedZone());
    while (active().length > target) {
      const shrinking = `shrinking the capacity from ${active().length} to ${target}`;
      this.beginTermination(
        this.pickScaleInVictim(active()),
        `instance was taken out of service in response to a difference between desired and actual capacity, ${shrinking}`,
      );
    }
  }

  private launch(availabilityZone: string): void {
    const propagated = [...this.tags].filter(([, tag]) => tag.propagateAtLaunch).map(([key, tag]) => [key, tag.value]);
    // during an instance refresh, launches use its desired configuration (a rollback's: the previous one)
    const launchTemplate = this.launchTemplates.resolve(this.instanceRefreshes.launchConfiguration() ?? this.launchTemplateRef);
    const instanceId = this.ec2.runInstance({
      availabilityZone,
      tags: { ...Object.fromEntries(propagated), [GROUP_NAME_TAG]: this.name },
      imageId: launchTemplate.imageId ?? BASE_IMAGE_ID,
      launchTemplate: { id: launchTemplate.id, version: String(launchTemplate.versionNumber) },
    });
    const member: GroupMember = {
      instanceId,
      availabilityZone,
      lifecycleState: 'Pending',
      healthStatus: 'Healthy',
      launchTime: this.scheduler.now(),
      launchTemplate,
    };
    this.members.set(instanceId, member);
    this.instanceRefreshes.noteMove(member, undefined, 'Pending');
    this.activities.push({
      at: member.launchTime,
      instanceId,
      availabilityZone,
      to: 'Pending',
      cause: 'launching a new instance to reach the desired capacity',
    });
  }

  private beginTermination(member: GroupMember, cause: string): void {
    this.closeAction(member.instanceId);
    this.move(member, 'Terminating', cause);
    const machineGone = GONE.has(this.ec2.get(member.instanceId)?.state ?? 'terminated');
    if (this.terminateHook && !machineGone) this.startAction(member, 'terminating', this.terminateHook);
    else this.proceedTermination(member, machineGone ? 'EC2 no longer runs the instance' : 'no terminate hook');
  }

  private proceedTermination(member: GroupMember, cause: string): void {
    this.move(member, 'Terminating:Proceed', cause);
    if ((this.ec2.get(member.instanceId)?.state ?? 'terminated') === 'terminated') this.finishTermination(member);
    else void this.ec2.terminate(member.instanceId);
  }

  private finishTermination(member: GroupMember): void {
    this.move(member, 'Terminated', 'EC2 terminated the instance');
    this.members.delete(member.instanceId);
    this.reconcileCapacity();
  }

  private onEc2StateChange(instance: Readonly<Ec2Instance>, previous: Ec2State): void {
    const member = this.members.get(instance.instanceId);
    if (!member || this.disposed) return;
    if (instance.state === 'running' && member.lifecycleState === 'Pending') {
      if (this.launchHook) this.startAction(member, 'launching', this.launchHook);
      else this.move(member, 'InService', 'no launch hook');
    } else if (instance.state === 'shutting-down' && previous === 'pending' && member.lifecycleState === 'Pending') {
      this.failedLaunches.add(member.instanceId);
    } else if (instance.state === 'terminated' && this.failedLaunches.delete(member.instanceId)) {
      this.move(member, 'Terminated', 'the instance failed to start');
      this.members.delete(member.instanceId);
      this.after(this.options.launchRetryDelayMs ?? 10_000, () => this.reconcileCapacity());
    } else if (instance.state === 'terminated' && member.lifecycleState === 'Terminating:Proceed') {
      this.finishTermination(member);
    } else if (instance.state === 'shutting-down' && ACTIVE.has(member.lifecycleState)) {
      // nobody asked the group: its EC2 health check notices a little later and replaces the instance
      this.after(this.options.ec2HealthCheckDelayMs ?? 10_000, () => {
        const current = this.members.get(instance.instanceId);
        if (!current || !ACTIVE.has(current.lifecycleState)) return;
        current.healthStatus = 'Unhealthy';
        this.beginTermination(current, 'instance was taken out of service in response to an EC2 health check indicating it has been terminated or stopped');
        this.reconcileCapacity();
      });
    }
  }

  /** Launches go to the zone with the fewest active instances; ties to the first zone listed. */
  private leastUsedZone(): string {
    const counts = this.zoneCounts([...this.members.values()].filter((member) => ACTIVE.has(member.lifecycleState)));
    return this.availabilityZones.reduce((best, zone) => (counts.get(zone)! < counts.get(best)! ? zone : best));
  }

  /*
   * The default termination policy, simplified: first the zone with the most instances (zone balance
   * comes before any policy), then, where AWS looks at launch template age and the next billing hour
   * and then picks at random, the oldest launch; the instance id breaks ties so runs repeat.
   */
  private pickScaleInVictim(candidates: GroupMember[]): GroupMember {
    const counts = this.zoneCounts(candidates);
    const zone = this.availabilityZones.reduce((best, next) => (counts.get(next)! > counts.get(best)! ? next : best));
    const inZone = candidates.filter((member) => member.availabilityZone === zone);
    return inZone.sort((a, b) => a.launchTime - b.launchTime || a.instanceId.localeCompare(b.instanceId))[0]!;
  }

  private zoneCounts(members: GroupMember[]): Map<string, number> {
    const counts = new Map(this.availabilityZones.map((zone) => [zone, 0]));
    for (const member of members) counts.set(member.availabilityZone, (counts.get(member.availabilityZone) ?? 0) + 1);
    return counts;
  }

  private move(member: GroupMember, to: LifecycleState, cause: string): void {
    const at = this.scheduler.now();
    const from = member.lifecycleState;
    this.activities.push({ at, instanceId: member.instanceId, availabilityZone: member.availabilityZone, from, to, cause });
    member.lifecycleState = to;
    if (to === 'InService') member.inServiceSince = at;
    this.instanceRefreshes.noteMove(member, from, to);
  }

  private requireMember(instanceId: string): GroupMember {
    const member = this.members.get(instanceId);
    if (!member) throw new AutoScalingValidationError(`Instance Id not found - No managed instance found for instance ID: ${instanceId}`);
    return member;
  }

  private after(ms: number, task: () => void): () => void {
    const cancel = this.scheduler.after(ms, () => {
      this.timers.delete(cancel);
      if (!this.disposed) task();
    });
    this.timers.add(cancel);
    return () => {
      this.timers.delete(cancel);
      cancel();
    };
  }
}

function copyOfMember(member: GroupMember): GroupMember {
  return { ...member, launchTemplate: { ...member.launchTemplate } };
}

/** PutLifecycleHook's checks on top of the given defaults; null means the group has no such hook. */
function hookSpec(given: Partial<LifecycleHookSpec> | null | undefined, defaults: LifecycleHookSpec): LifecycleHookSpec | undefined {
  if (given === null) return undefined;
  const spec = { ...defaults, ...given };
  if (!Number.isInteger(spec.heartbeatTimeoutSeconds) || spec.heartbeatTimeoutSeconds < 30 || spec.heartbeatTimeoutSeconds > 7200) {
    throw new AutoScalingValidationError(`HeartbeatTimeout must be between 30 and 7200 seconds, not ${spec.heartbeatTimeoutSeconds}`);
  }
  return spec;
}
