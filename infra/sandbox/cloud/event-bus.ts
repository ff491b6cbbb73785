import { randomUUID } from 'node:crypto';
import { DETAIL_TYPES, LIFECYCLE_TRANSITIONS, SOURCES } from '../../../shared/events/kinds';
import type { Ec2State } from '../../../shared/ports';
import type { LifecycleAction } from './autoscaling';
import type { Scheduler } from './scheduler';

/** An event exactly as EventBridge hands it to a rule target (and as an SQS record body carries it). */
export interface AwsEvent<Detail = Record<string, unknown>> {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Detail;
}

export type Subscriber = (event: AwsEvent) => unknown;

/**
 * Faults EventBridge really has: delivery is best-effort, at-least-once and unordered. Each is a
 * predicate over the event, so a test can hit exactly the event it cares about.
 */
export interface DeliveryFaults {
  /** the event never arrives */
  drop?: (event: AwsEvent) => boolean;
  /** the event arrives twice, with the same id */
  duplicate?: (event: AwsEvent) => boolean;
  /** the event arrives this many ms late */
  delayMs?: (event: AwsEvent) => number;
}

export interface EventBusOptions {
  account?: string;
  region?: string;
  faults?: DeliveryFaults;
  /** a subscriber threw or rejected; the bus keeps delivering to the others */
  onSubscriberError?: (error: unknown, event: AwsEvent) => void;
}

/** The default EventBridge bus of one account and region, with the local cloud as the only publisher. */
export class LocalEventBus {
  readonly account: string;
  readonly region: string;
  faults: DeliveryFaults;
  /** every event AWS emitted, delivered or not, in order */
  readonly published: AwsEvent[] = [];
  private readonly subscribers = new Set<Subscriber>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly options: EventBusOptions = {},
  ) {
    this.account = options.account ?? '123456789012';
    this.region = options.region ?? 'us-east-1';
    this.faults = options.faults ?? {};
  }

  /** Returns the function that unsubscribes. */
  subscribe(subscriber: Subscriber): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  publish(source: string, detailType: string, resources: string[], detail: Record<string, unknown>): AwsEvent {
    const event: AwsEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': detailType,
      source,
      account: this.account,
      time: eventTime(this.scheduler.now()),
      region: this.region,
      resources,
      detail,
    };
    this.published.push(event);
    if (this.faults.drop?.(event)) return event;
    const copies = this.faults.duplicate?.(event) ? 2 : 1;
    const delay = Math.max(0, this.faults.delayMs?.(event) ?? 0);
    for (let copy = 0; copy < copies; copy++) {
      // Always later, never inside the publisher's call: EventBridge delivers asynchronously.
      this.scheduler.after(delay, () => this.deliver(event));
    }
    return event;
  }

  private deliver(event: AwsEvent): void {
    for (const subscriber of [...this.subscribers]) {
      // each target gets its own copy, as each gets its own JSON document from EventBridge
      const copy = structuredClone(event);
      try {
        void Promise.resolve(subscriber(copy)).catch((error) => this.reportError(error, event));
      } catch (error) {
        this.reportError(error, event);
      }
    }
  }

  private reportError(error: unknown, event: AwsEvent): void {
    if (this.options.onSubscriberError) this.options.onSubscriberError(error, event);
    else console.error(`local event bus: subscriber failed on ${event['detail-type']} ${event.id}`, error);
  }
}

/** EventBridge prints whole seconds in UTC: 2024-01-01T00:00:00Z. */
export function eventTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** EC2 Instance State-change Notification, as the EC2 User Guide shows it. */
export function publishInstanceStateChange(bus: LocalEventBus, instanceId: string, state: Ec2State): AwsEvent {
  const arn = `arn:aws:ec2:${bus.region}:${bus.account}:instance/${instanceId}`;
  return bus.publish(SOURCES.ec2, DETAIL_TYPES.instanceStateChange, [arn], { 'instance-id': instanceId, state });
}

export type LifecycleActionNotice = Pick<LifecycleAction, 'hookName' | 'token' | 'instanceId' | 'transition'> & {
  groupArn: string;
  groupName: string;
  notificationMetadata?: string;
};

/**
 * EC2 Instance-launch / -terminate Lifecycle Action, as the Auto Scaling event reference shows it,
 * including Origin and Destination (EC2 -> AutoScalingGroup on launch, the reverse on terminate).
 */
export function publishLifecycleAction(bus: LocalEventBus, notice: LifecycleActionNotice): AwsEvent {
  const launching = notice.transition === 'launching';
  return bus.publish(SOURCES.autoScaling, launching ? DETAIL_TYPES.launchLifecycleAction : DETAIL_TYPES.terminateLifecycleAction, [notice.groupArn], {
    LifecycleActionToken: notice.token,
    AutoScalingGroupName: notice.groupName,
    LifecycleHookName: notice.hookName,
    EC2InstanceId: notice.instanceId,
    LifecycleTransition: launching ? LIFECYCLE_TRANSITIONS.launching : LIFECYCLE_TRANSITIONS.terminating,
    ...(notice.notificationMetadata !== undefined ? { NotificationMetadata: notice.notificationMetadata } : {}),
    Origin: launching ? 'EC2' : 'AutoScalingGroup',
    Destination: launching ? 'AutoScalingGroup' : 'EC2',
  });
}

/** The instance refresh events of the Auto Scaling User Guide ("Instance refresh example events and patterns"). */
export const INSTANCE_REFRESH_DETAIL_TYPES = {
  checkpointReached: 'EC2 Auto Scaling Instance Refresh Checkpoint Reached',
  started: 'EC2 Auto Scaling Instance Refresh Started',
  succeeded: 'EC2 Auto Scaling Instance Refresh Succeeded',
  failed: 'EC2 Auto Scaling Instance Refresh Failed',
  cancelled: 'EC2 Auto Scaling Instance Refresh Cancelled',
  rollbackStarted: 'EC2 Auto Scaling Instance Refresh Rollback Started',
  rollbackSucceeded: 'EC2 Auto Scaling Instance Refresh Rollback Succeeded',
  rollbackFailed: 'EC2 Auto Scaling Instance Refresh Rollback Failed',
} as const;

export type InstanceRefreshEventKind = keyof typeof INSTANCE_REFRESH_DETAIL_TYPES;

/**
 * One instance refresh event: the group's ARN as the resource, InstanceRefreshId and AutoScalingGroupName
 * in the detail, and for a checkpoint its percentage and delay, as strings as the guide prints them.
 */
export function publishInstanceRefreshEvent(
  bus: LocalEventBus,
  kind: InstanceRefreshEventKind,
  notice: { groupArn: string; groupName: string; instanceRefreshId: string; checkpoint?: { percentage: number; delaySeconds: number } },
): AwsEvent {
  return bus.publish(SOURCES.autoScaling, INSTANCE_REFRESH_DETAIL_TYPES[kind], [notice.groupArn], {
    InstanceRefreshId: notice.instanceRefreshId,
    AutoScalingGroupName: notice.groupName,
    ...(notice.checkpoint ? { CheckpointPercentage: String(notice.checkpoint.percentage), CheckpointDelay: String(notice.checkpoint.delaySeconds) } : {}),
  });
}
