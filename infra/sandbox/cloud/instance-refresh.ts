import { randomUUID } from 'node:crypto';
import { ApiError } from '../aws/protocol';
import type { GroupMember, LifecycleState } from './autoscaling';
import { type InstanceRefreshEventKind, type LocalEventBus, publishInstanceRefreshEvent } from './event-bus';
import type { LaunchTemplateRef, LocalLaunchTemplates, ResolvedLaunchTemplate } from './launch-templates';
import type { Scheduler } from './scheduler';

/**
 * Instance Refresh as the Auto Scaling User Guide and API reference describe it: one active refresh per
 * group, replacing every instance (or, with SkipMatching, those not launched from the desired launch
 * template version) within the minimum and maximum healthy percentages, through the group's lifecycle
 * hooks, with instance warm-up, checkpoints, bake time, CloudWatch alarms and rollback.
 */

export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
/** The state of a CloudWatch alarm by name; the sandbox's alarms answer it, the default says OK. */
export type AlarmStateReader = (alarmName: string) => AlarmState;

export type InstanceRefreshStatus =
  | 'Pending'
  | 'InProgress'
  | 'Successful'
  | 'Failed'
  | 'Cancelling'
  | 'Cancelled'
  | 'RollbackInProgress'
  | 'RollbackFailed'
  | 'RollbackSuccessful'
  | 'Baking';

/** StartInstanceRefresh's Preferences; seconds where AWS counts seconds. */
export interface RefreshPreferences {
  minHealthyPercentage?: number;
  maxHealthyPercentage?: number;
  instanceWarmup?: number;
  checkpointPercentages?: number[];
  checkpointDelay?: number;
  skipMatching?: boolean;
  autoRollback?: boolean;
  scaleInProtectedInstances?: 'Refresh' | 'Ignore' | 'Wait';
  standbyInstances?: 'Terminate' | 'Ignore' | 'Wait';
  alarms?: string[];
  bakeTime?: number;
}

export interface StartInstanceRefreshRequest {
  strategy?: 'Rolling' | 'ReplaceRootVolume';
  desiredConfiguration?: { launchTemplate?: LaunchTemplateRef };
  preferences?: RefreshPreferences;
}

/** One refresh as DescribeInstanceRefreshes reports it. */
export interface InstanceRefreshView {
  instanceRefreshId: string;
  autoScalingGroupName: string;
  status: InstanceRefreshStatus;
  statusReason?: string;
  startTime: number;
  endTime?: number;
  percentageComplete: number;
  instancesToUpdate: number;
  preferences: Required<Omit<RefreshPreferences, 'checkpointDelay' | 'alarms'>> & { checkpointDelay?: number; alarms: string[] };
  desiredConfiguration?: { launchTemplate: { id: string; name: string; version: string } };
  rollbackDetails?: { rollbackReason: string; rollbackStartTime: number; percentageCompleteOnRollback: number; instancesToUpdateOnRollback: number };
  strategy: 'Rolling';
}

/** What a refresh needs of its group; LocalAutoScalingGroup implements it. */
export interface RefreshedGroup {
  readonly name: string;
  readonly arn: string;
  readonly healthCheckGracePeriodSeconds: number;
  readonly launchTemplates: LocalLaunchTemplates;
  /** the launch template version the group is configured with */
  configuredLaunchTemplate(): LaunchTemplateRef;
  desiredCapacity(): number;
  currentMembers(): GroupMember[];
  /** Launches or scales in to desired + surge, after taking `replace` out of service through the terminate hook. */
  applyRefresh(plan: { surge: number; replace: string[] }): void;
  /** A refresh succeeded: the group launches from its desired configuration from now on. */
  adoptLaunchTemplate(ref: LaunchTemplateRef): void;
}

export interface InstanceRefreshOptions {
  /** CloudWatch alarms' states (AlarmSpecification); default: every alarm OK */
  alarmState?: AlarmStateReader;
  /** how long replacements may keep failing before the refresh fails; AWS documents one hour */
  failureTimeoutMs?: number;
  /** how often the alarms are read while a refresh watches them */
  alarmPollMs?: number;
}

const ACTIVE_STATES: ReadonlySet<LifecycleState> = new Set(['Pending', 'Pending:Wait', 'Pending:Proceed', 'InService']);
const IN_FLIGHT: ReadonlySet<LifecycleState> = new Set([
  'Pending',
  'Pending:Wait',
  'Pending:Proceed',
  'Terminating',
  'Terminating:Wait',
  'Terminating:Proceed',
]);
const LEAVING: ReadonlySet<LifecycleState> = new Set(['Terminating', 'Terminating:Wait', 'Terminating:Proceed']);
const RUNNING: ReadonlySet<InstanceRefreshStatus> = new Set(['Pending', 'InProgress', 'Baking', 'Cancelling', 'RollbackInProgress']);
const ONE_HOUR_MS = 3_600_000;
const MAX_ALARMS = 10;
const MAX_DELAY_SECONDS = 172_800;

/** Every refresh of one group, newest last; at most one is active. */
export class InstanceRefreshes {
  /** Reads alarm states; replace it (or pass options.alarmState) to connect the sandbox's CloudWatch alarms. */
  alarmState: AlarmStateReader;
  private readonly history: InstanceRefresh[] = [];
  private readonly timers = new Set<() => void>();
  private disposed = false;

  constructor(
    private readonly group: RefreshedGroup,
    private readonly bus: LocalEventBus,
    private readonly scheduler: Scheduler,
    private readonly options: InstanceRefreshOptions = {},
  ) {
    this.alarmState = options.alarmState ?? (() => 'OK');
  }

  /** The refresh in Pending, InProgress, Baking, Cancelling or RollbackInProgress, if any. */
  get active(): InstanceRefresh | undefined {
    const last = this.history[this.history.length - 1];
    return last && RUNNING.has(last.status) ? last : undefined;
  }

  /** StartInstanceRefresh; returns the InstanceRefreshId. */
  start(request: StartInstanceRefreshRequest = {}): string {
    if (this.active)
      throw new ApiError('InstanceRefreshInProgress', 'An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.');
    const plan = planRefresh(this.group, request, this.alarmState);
    const refresh = new InstanceRefresh(plan, {
      group: this.group,
      scheduler: this.scheduler,
      alarmState: (name) => this.alarmState(name),
      failureTimeoutMs: this.options.failureTimeoutMs ?? ONE_HOUR_MS,
      alarmPollMs: this.options.alarmPollMs ?? 10_000,
      publish: (kind, checkpoint) =>
        publishInstanceRefreshEvent(this.bus, kind, { groupArn: this.group.arn, groupName: this.group.name, instanceRefreshId: refresh.id, checkpoint }),
      after: (ms, task) => this.after(ms, task),
    });
    this.history.push(refresh);
    refresh.schedule();
    return refresh.id;
  }

  /** DescribeInstanceRefreshes: newest first, or those named. */
  describe(ids: string[] = []): InstanceRefreshView[] {
    return [...this.history]
      .reverse()
      .filter((refresh) => ids.length === 0 || ids.includes(refresh.id))
      .map((refresh) => refresh.view());
  }

  /** CancelInstanceRefresh: Cancelling, then Cancelled once the replacements under way settle; nothing is undone. */
  cancel(): string {
    const active = this.active;
    if (!active || active.status === 'Cancelling') throw notFound();
    active.cancel();
    return active.id;
  }

  /** RollbackInstanceRefresh: the instances launched so far are replaced by the group's own configuration. */
  rollback(): string {
    const active = this.active;
    if (!active || !['Pending', 'InProgress', 'Baking'].includes(active.status)) throw notFound();
    if (!active.plan.desired || isAlias(this.group.configuredLaunchTemplate().version)) {
      throw new ApiError(
        'IrreversibleInstanceRefresh',
        'The request failed because a desired configuration was not found or an incompatible launch template (uses a Systems Manager parameter instead of an AMI ID) or launch template version ($Latest or $Default) is present on the Auto Scaling group.',
      );
    }
    active.rollback('Rollback initiated by the user (RollbackInstanceRefresh).');
    return active.id;
  }

  /** The configuration launches use while a refresh runs (the desired one; the previous one during a rollback). */
  launchConfiguration(): LaunchTemplateRef | undefined {
    return this.active?.launchConfiguration();
  }

  /** Every lifecycle state change of a member, from the group. */
  noteMove(member: GroupMember, from: LifecycleState | undefined, to: LifecycleState): void {
    if (!this.disposed) this.active?.noteMove(member, from, to);
  }

  dispose(): void {
    this.disposed = true;
    for (const cancel of this.timers) cancel();
    this.timers.clear();
  }

  private after(ms: number, task: () => void): void {
    if (this.disposed) return;
    const cancel = this.scheduler.after(ms, () => {
      this.timers.delete(cancel);
      if (!this.disposed) task();
    });
    this.timers.add(cancel);
  }
}

/** What StartInstanceRefresh settled: preferences with their defaults, where to go and where from. */
interface RefreshPlan {
  preferences: InstanceRefreshView['preferences'];
  desired?: ResolvedLaunchTemplate;
  /** the configuration the refresh deploys: the desired one, or the group's own without one */
  target: LaunchTemplateRef;
  /** the group's configuration when the refresh started: what a rollback returns to */
  previous: LaunchTemplateRef;
}

interface RefreshContext {
  group: RefreshedGroup;
  scheduler: Scheduler;
  alarmState: AlarmStateReader;
  failureTimeoutMs: number;
  alarmPollMs: number;
  publish: (kind: InstanceRefreshEventKind, checkpoint?: { percentage: number; delaySeconds: number }) => void;
  after: (ms: number, task: () => void) => void;
}

/** One refresh: a state machine driven by ticks (the group's state changes, warm-up ends, timers). */
export class InstanceRefresh {
  readonly id = randomUUID();
  status: InstanceRefreshStatus = 'Pending';
  private statusReason?: string;
  private readonly startTime: number;
  private endTime?: number;
  private phase: 'forward' | 'rollback' = 'forward';
  private target: LaunchTemplateRef;
  /** the instances this phase replaces: not launched from the target configuration (or all of them) */
  private toReplace = new Set<string>();
  private checkpointIndex = 0;
  private pausedUntil?: number;
  private troubleSince?: number;
  private trouble?: string;
  private updated = 0;
  private desired = 0;
  private rollbackDetails?: InstanceRefreshView['rollbackDetails'];
  private scheduled = false;

  constructor(
    readonly plan: RefreshPlan,
    private readonly context: RefreshContext,
  ) {
    this.startTime = context.scheduler.now();
    this.target = plan.target;
    const target = this.resolve(plan.target);
    for (const member of this.activeMembers()) {
      if (!(plan.preferences.skipMatching && matches(member, target))) this.toReplace.add(member.instanceId);
    }
    this.desired = context.group.desiredCapacity();
    if (plan.preferences.alarms.length > 0) this.pollAlarms();
  }

  get warmupMs(): number {
    return this.plan.preferences.instanceWarmup * 1000;
  }

  launchConfiguration(): LaunchTemplateRef | undefined {
    return ['Pending', 'InProgress', 'Baking', 'RollbackInProgress'].includes(this.status) ? this.target : undefined;
  }

  /** A tick soon, never inside the group's own call. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.context.after(0, () => {
      this.scheduled = false;
      this.tick();
    });
  }

  noteMove(member: GroupMember, from: LifecycleState | undefined, to: LifecycleState): void {
    const replacement = !this.toReplace.has(member.instanceId);
    const launchFailed = to === 'Terminating' || (to === 'Terminated' && from === 'Pending');
    if (replacement && launchFailed && !this.isWarm(member) && (this.status === 'InProgress' || this.status === 'RollbackInProgress')) {
      // "If the instance refresh can't launch any healthy instances, it will eventually fail": AWS retries for an hour
      this.troubleSince ??= this.context.scheduler.now();
      this.trouble = `instance ${member.instanceId} failed to launch into service (${to} from ${from ?? 'nothing'})`;
      this.statusReason = `Replacement instances are failing to launch into service: ${this.trouble}. Retrying for up to ${Math.round(this.context.failureTimeoutMs / 60_000)} minutes.`;
      this.context.after(this.troubleSince + this.context.failureTimeoutMs - this.context.scheduler.now(), () => this.schedule());
    }
    if (to === 'InService' && replacement) this.context.after(this.warmupMs, () => this.schedule());
    this.schedule();
  }

  cancel(): void {
    this.status = 'Cancelling';
    this.statusReason = 'Cancelling: no new replacements start; the replacements under way finish.';
    this.schedule();
  }

  rollback(reason: string): void {
    this.rollbackDetails = {
      rollbackReason: reason,
      rollbackStartTime: this.context.scheduler.now(),
      percentageCompleteOnRollback: this.percentageComplete(),
      instancesToUpdateOnRollback: this.instancesToUpdate(),
    };
    this.phase = 'rollback';
    this.status = 'RollbackInProgress';
    this.statusReason = reason;
    this.target = this.plan.previous;
    const previous = this.resolve(this.plan.previous);
    this.toReplace = new Set(
      this.activeMembers()
        .filter((member) => !matches(member, previous))
        .map((member) => member.instanceId),
    );
    this.pausedUntil = undefined;
    this.troubleSince = undefined;
    this.updated = 0;
    this.context.publish('rollbackStarted');
    this.schedule();
  }

  view(): InstanceRefreshView {
    const desired = this.plan.desired;
    return {
      instanceRefreshId: this.id,
      autoScalingGroupName: this.context.group.name,
      status: this.status,
      statusReason: this.statusReason,
      startTime: this.startTime,
      endTime: this.endTime,
      percentageComplete: this.percentageComplete(),
      instancesToUpdate: this.instancesToUpdate(),
      preferences: {
        ...this.plan.preferences,
        checkpointPercentages: [...this.plan.preferences.checkpointPercentages],
        alarms: [...this.plan.preferences.alarms],
      },
      desiredConfiguration: desired && { launchTemplate: { id: desired.id, name: desired.name, version: desired.version } },
      rollbackDetails: this.rollbackDetails && { ...this.rollbackDetails },
      strategy: 'Rolling',
    };
  }

  /*
   * "For each instance replacement, Amazon EC2 Auto Scaling tracks the instance's health status and warm-up
   * time. When the instance's health status changes to healthy and the specified warm-up time passes, the
   * instance is considered updated and is added to the percentage complete."
   */
  private percentageComplete(): number {
    if (this.status === 'Successful' || this.status === 'RollbackSuccessful') return 100;
    return this.desired === 0 ? 100 : Math.min(100, Math.floor((100 * this.updated) / this.desired));
  }

  private instancesToUpdate(): number {
    if (this.status === 'Successful' || this.status === 'RollbackSuccessful') return 0;
    return Math.max(0, this.desired - this.updated);
  }

  private tick(): void {
    if (!RUNNING.has(this.status)) return;
    const { group, scheduler } = this.context;
    const now = scheduler.now();
    if (this.status === 'Pending') {
      this.status = 'InProgress';
      this.context.publish('started');
    }
    if (this.status === 'Cancelling') {
      group.applyRefresh({ surge: 0, replace: [] });
      if (!group.currentMembers().some((member) => IN_FLIGHT.has(member.lifecycleState)))
        this.end('Cancelled', 'cancelled', 'The instance refresh was cancelled.');
      return;
    }
    let blocked: string | undefined;
    if (this.phase === 'forward') {
      for (const alarm of this.plan.preferences.alarms) {
        const state = this.context.alarmState(alarm);
        if (state === 'ALARM') {
          this.fail(`The CloudWatch alarm ${alarm} went into the ALARM state.`);
          return;
        }
        // "Amazon EC2 Auto Scaling cannot replace instances until new data points are found"
        if (state === 'INSUFFICIENT_DATA') blocked = `Waiting: the CloudWatch alarm ${alarm} has INSUFFICIENT_DATA; no instance is replaced until it has data.`;
      }
    }
    if (this.status === 'Baking') return;

    const desired = group.desiredCapacity();
    const members = group.currentMembers();
    const active = members.filter((member) => ACTIVE_STATES.has(member.lifecycleState));
    const olds = active.filter((member) => this.toReplace.has(member.instanceId));
    const news = active.filter((member) => !this.toReplace.has(member.instanceId));
    const updated = news.filter((member) => this.isWarm(member)).length;
    if (updated > this.updated) this.troubleSince = undefined;
    this.updated = updated;
    this.desired = desired;
    const leaving = members.some((member) => this.toReplace.has(member.instanceId) && LEAVING.has(member.lifecycleState));
    if (olds.length === 0 && !leaving && updated >= desired) {
      this.complete();
      return;
    }
    if (this.troubleSince !== undefined && now - this.troubleSince >= this.context.failureTimeoutMs) {
      this.fail(`Replacement instances kept failing to launch into service: ${this.trouble}.`);
      return;
    }

    if (this.pausedUntil !== undefined && now >= this.pausedUntil) this.pausedUntil = undefined;
    const checkpoints = this.phase === 'forward' ? this.plan.preferences.checkpointPercentages : [];
    if (this.pausedUntil === undefined) this.reachCheckpoints(checkpoints, desired);
    const nextCheckpoint = checkpoints.slice(this.checkpointIndex).find((percentage) => percentage < 100);
    const paused = this.pausedUntil !== undefined || blocked !== undefined;
    // "To reach a checkpoint percentage, Amazon EC2 Auto Scaling will sometimes replace fewer"
    const cap = paused ? news.length : nextCheckpoint === undefined ? desired : Math.ceil((desired * nextCheckpoint) / 100);
    if (blocked) this.statusReason = blocked;
    else if (this.pausedUntil !== undefined) this.statusReason = `Waiting at the checkpoint until ${new Date(this.pausedUntil).toISOString()}.`;
    else if (this.troubleSince === undefined) this.statusReason = undefined;

    const { minHealthy, maxTotal } = healthyBounds(desired, this.plan.preferences);
    const healthyNow = (member: GroupMember) => member.lifecycleState === 'InService' && member.healthStatus === 'Healthy';
    let healthy = olds.filter(healthyNow).length + updated;
    let remaining = olds.length;
    const replace: string[] = [];
    // instances that count for nothing leave first, then the oldest
    const order = [...olds].sort(
      (a, b) => Number(healthyNow(a)) - Number(healthyNow(b)) || a.launchTime - b.launchTime || a.instanceId.localeCompare(b.instanceId),
    );
    for (const old of order) {
      const counts = healthyNow(old);
      if (counts && healthy - 1 < minHealthy) continue;
      // the group refills to its desired capacity at once: never take out more than the cap lets it refill
      if (remaining - 1 + Math.min(cap, desired) < desired) break;
      replace.push(old.instanceId);
      remaining -= 1;
      if (counts) healthy -= 1;
    }
    const total = Math.min(maxTotal, Math.max(desired, remaining + Math.min(cap, desired)));
    group.applyRefresh({ surge: total - desired, replace });
  }

  private reachCheckpoints(checkpoints: number[], desired: number): void {
    const percentage = desired === 0 ? 100 : Math.floor((100 * this.updated) / desired);
    // a checkpoint passed over (two reached at once) is skipped; only the last one reached is announced
    let reached: number | undefined;
    for (let index = this.checkpointIndex; index < checkpoints.length && checkpoints[index]! < 100 && percentage >= checkpoints[index]!; index++) {
      reached = checkpoints[index];
      this.checkpointIndex = index + 1;
    }
    if (reached === undefined) return;
    const delaySeconds = this.plan.preferences.checkpointDelay ?? 3600;
    this.pausedUntil = this.context.scheduler.now() + delaySeconds * 1000;
    this.context.publish('checkpointReached', { percentage: reached, delaySeconds });
    this.context.after(delaySeconds * 1000, () => this.schedule());
  }

  private complete(): void {
    if (this.phase === 'rollback') {
      this.end('RollbackSuccessful', 'rollbackSucceeded', 'The instance refresh was rolled back.');
      return;
    }
    const bakeMs = this.plan.preferences.bakeTime * 1000;
    if (bakeMs > 0) {
      this.status = 'Baking';
      this.statusReason = `Baking for ${this.plan.preferences.bakeTime} seconds before the instance refresh is complete.`;
      this.context.after(bakeMs, () => {
        this.tick(); // the alarms, a last time
        if (this.status === 'Baking') this.succeed();
      });
      return;
    }
    this.succeed();
  }

  private succeed(): void {
    // "the group's settings are updated with the new configuration after the instance refresh succeeds"
    this.context.group.adoptLaunchTemplate(this.plan.target);
    this.end('Successful', 'succeeded', undefined);
  }

  private fail(reason: string): void {
    if (this.phase === 'forward' && this.plan.preferences.autoRollback) {
      this.rollback(`Automatic rollback: ${reason}`);
      return;
    }
    if (this.phase === 'rollback') this.end('RollbackFailed', 'rollbackFailed', reason);
    else this.end('Failed', 'failed', reason);
  }

  private end(status: InstanceRefreshStatus, event: InstanceRefreshEventKind, reason: string | undefined): void {
    this.status = status;
    this.statusReason = reason;
    this.endTime = this.context.scheduler.now();
    this.context.group.applyRefresh({ surge: 0, replace: [] });
    this.context.publish(event);
  }

  private pollAlarms(): void {
    this.context.after(this.context.alarmPollMs, () => {
      if (!RUNNING.has(this.status) || this.phase !== 'forward') return;
      this.schedule();
      this.pollAlarms();
    });
  }

  private isWarm(member: GroupMember): boolean {
    return (
      member.lifecycleState === 'InService' &&
      member.healthStatus === 'Healthy' &&
      this.context.scheduler.now() >= (member.inServiceSince ?? Number.POSITIVE_INFINITY) + this.warmupMs
    );
  }

  private activeMembers(): GroupMember[] {
    return this.context.group.currentMembers().filter((member) => ACTIVE_STATES.has(member.lifecycleState));
  }

  private resolve(ref: LaunchTemplateRef): ResolvedLaunchTemplate {
    return this.context.group.launchTemplates.resolve(ref);
  }
}

/*
 * The capacity bounds of a replacement step. Minimum healthy is rounded up (RefreshPreferences: "rounded up
 * to the nearest integer"), the maximum rounded down. A refresh always makes progress one instance at a
 * time: with MaxHealthyPercentage above 100, or both at 100 ("this changes the behavior of an instance
 * refresh to launch before terminating"), one instance above desired is allowed; otherwise (the maximum
 * at 100) one instance below desired, as AWS does with the default 90 percent on a small group.
 */
export function healthyBounds(
  desired: number,
  preferences: { minHealthyPercentage: number; maxHealthyPercentage: number },
): { minHealthy: number; maxTotal: number } {
  const minHealthy = Math.ceil((desired * preferences.minHealthyPercentage) / 100);
  const maxTotal = Math.floor((desired * preferences.maxHealthyPercentage) / 100);
  const launchFirst = preferences.maxHealthyPercentage > 100 || preferences.minHealthyPercentage === 100;
  if (launchFirst) return { minHealthy, maxTotal: Math.max(maxTotal, desired + 1) };
  return { minHealthy: Math.max(0, Math.min(minHealthy, desired - 1)), maxTotal: desired };
}

/** StartInstanceRefresh's checks, in AWS's wording where the API reference gives it. */
function planRefresh(group: RefreshedGroup, request: StartInstanceRefreshRequest, alarmState: AlarmStateReader): RefreshPlan {
  if (request.strategy !== undefined && request.strategy !== 'Rolling') {
    throw invalidRequest(`The ${request.strategy} strategy needs a mixed instances policy, which the local Auto Scaling group does not have.`);
  }
  const given = request.preferences ?? {};
  within(given.minHealthyPercentage, 'preferences.minHealthyPercentage', 0, 100);
  within(given.maxHealthyPercentage, 'preferences.maxHealthyPercentage', 100, 200);
  within(given.instanceWarmup, 'preferences.instanceWarmup', 0, 2_147_483_647);
  within(given.checkpointDelay, 'preferences.checkpointDelay', 0, MAX_DELAY_SECONDS);
  within(given.bakeTime, 'preferences.bakeTime', 0, MAX_DELAY_SECONDS);
  for (const [index, percentage] of (given.checkpointPercentages ?? []).entries()) {
    within(percentage, `preferences.checkpointPercentages.${index + 1}.member`, 1, 100);
  }
  if (given.maxHealthyPercentage !== undefined && given.minHealthyPercentage === undefined) {
    throw invalidRequest('Both MinHealthyPercentage and MaxHealthyPercentage must be specified.');
  }
  const minHealthyPercentage = given.minHealthyPercentage ?? 90;
  const maxHealthyPercentage = given.maxHealthyPercentage ?? 100;
  if (maxHealthyPercentage - minHealthyPercentage > 100) {
    throw invalidRequest('The difference between MinHealthyPercentage and MaxHealthyPercentage cannot be greater than 100.');
  }
  const checkpoints = given.checkpointPercentages ?? [];
  if (given.checkpointDelay !== undefined && checkpoints.length === 0) {
    throw invalidRequest('CheckpointDelay is specified without CheckpointPercentages: specify a value for CheckpointPercentages too.');
  }
  if (checkpoints.some((percentage, index) => index > 0 && percentage <= checkpoints[index - 1]!)) {
    throw invalidRequest('CheckpointPercentages must be in ascending order and each number must be unique.');
  }
  const alarms = given.alarms ?? [];
  if (alarms.length > MAX_ALARMS) throw invalidRequest(`You can specify a maximum of ${MAX_ALARMS} alarms in AlarmSpecification.`);
  for (const alarm of alarms) {
    const state = alarmState(alarm);
    // "If the alarm state is INSUFFICIENT_DATA or ALARM, you receive an error when you try to start the instance refresh."
    if (state !== 'OK')
      throw invalidRequest(
        `The alarm ${alarm} is in the ${state} state; an instance refresh starts only with every alarm of its AlarmSpecification in the OK state.`,
      );
  }

  const previous = group.configuredLaunchTemplate();
  let desired: ResolvedLaunchTemplate | undefined;
  const wanted = request.desiredConfiguration?.launchTemplate;
  if (wanted) {
    try {
      desired = group.launchTemplates.resolve({ ...wanted, version: wanted.version ?? '$Default' });
    } catch (error) {
      throw invalidRequest((error as Error).message);
    }
    if (!desired.imageId) throw invalidRequest(`Launch template ${desired.id} version ${desired.version} specifies no ImageId.`);
  }
  if (given.autoRollback) {
    if (!desired) throw invalidRequest('AutoRollback is not supported when there is no desired configuration specified for the instance refresh.');
    if (isAlias(previous.version) || isAlias(desired.version)) {
      throw invalidRequest(
        "AutoRollback is not supported when the Auto Scaling group or the desired configuration uses the launch template's $Latest or $Default version.",
      );
    }
  }
  const target: LaunchTemplateRef = desired ? { id: desired.id, version: desired.version } : previous;
  return {
    preferences: {
      minHealthyPercentage,
      maxHealthyPercentage,
      instanceWarmup: given.instanceWarmup ?? group.healthCheckGracePeriodSeconds,
      checkpointPercentages: [...checkpoints],
      ...(checkpoints.length > 0 ? { checkpointDelay: given.checkpointDelay ?? 3600 } : {}),
      skipMatching: given.skipMatching ?? false,
      autoRollback: given.autoRollback ?? false,
      scaleInProtectedInstances: given.scaleInProtectedInstances ?? 'Ignore',
      standbyInstances: given.standbyInstances ?? 'Ignore',
      alarms: [...alarms],
      bakeTime: given.bakeTime ?? 0,
    },
    desired,
    target,
    previous,
  };
}

/** An instance was launched from this template version (the number it resolved to then). */
function matches(member: GroupMember, target: ResolvedLaunchTemplate): boolean {
  return member.launchTemplate?.id === target.id && member.launchTemplate.versionNumber === target.versionNumber;
}

function isAlias(version: string | undefined): boolean {
  return version === undefined || version === '$Latest' || version === '$Default';
}

function within(value: number | undefined, member: string, min: number, max: number): void {
  if (value === undefined) return;
  const bound = !Number.isInteger(value) || value < min ? `greater than or equal to ${min}` : value > max ? `less than or equal to ${max}` : undefined;
  if (bound) throw invalidRequest(`1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: Member must have value ${bound}`);
}

function invalidRequest(message: string): ApiError {
  return new ApiError('ValidationError', message);
}

function notFound(): ApiError {
  return new ApiError(
    'ActiveInstanceRefreshNotFound',
    'The request failed because an active instance refresh or rollback for the specified Auto Scaling group was not found.',
  );
}
