import * as z from 'zod';
import { EventSkipped } from '../errors';

/**
 * Every raw event warren accepts, named once: EventBridge source and detail-type, exactly as AWS
 * spells them. The converters beside this file each handle one of these; index.ts routes by them.
 */
export const SOURCES = {
  autoScaling: 'aws.autoscaling',
  ec2: 'aws.ec2',
  cloudWatch: 'aws.cloudwatch',
  schedule: 'aws.events',
  /** messages warren puts on its own heal queue (HealQueue.enqueueReconcile) */
  warren: 'warren',
} as const;

export const DETAIL_TYPES = {
  launchLifecycleAction: 'EC2 Instance-launch Lifecycle Action',
  terminateLifecycleAction: 'EC2 Instance-terminate Lifecycle Action',
  instanceRefreshSucceeded: 'EC2 Auto Scaling Instance Refresh Succeeded',
  instanceStateChange: 'EC2 Instance State-change Notification',
  spotInterruptionWarning: 'EC2 Spot Instance Interruption Warning',
  rebalanceRecommendation: 'EC2 Instance Rebalance Recommendation',
  alarmStateChange: 'CloudWatch Alarm State Change',
  scheduledEvent: 'Scheduled Event',
  reconcileRequested: 'Reconcile Requested',
} as const;

export const LIFECYCLE_TRANSITIONS = {
  launching: 'autoscaling:EC2_INSTANCE_LAUNCHING',
  terminating: 'autoscaling:EC2_INSTANCE_TERMINATING',
  test: 'autoscaling:TEST_NOTIFICATION',
} as const;

/** EventBridge refuses events above 256 KiB; anything bigger did not come from it. */
export const MAX_EVENT_BYTES = 256 * 1024;

export const INSTANCE_ID_PATTERN = /^i-[0-9a-f]{8,17}$/;

/*
 * Event data never reaches a shell (docs/design.md invariant 7), yet every string we keep is held to a
 * pattern without shell metacharacters, so a forged event is refused here rather than trusted later.
 */
export const instanceId = z.string().regex(INSTANCE_ID_PATTERN, 'not an EC2 instance id');
/** Same rule as ASG_NAME in shared/config.ts, so an event can only name a group the config could. */
export const autoScalingGroupName = z.string().regex(/^[\w.:/-]{1,255}$/, 'not an Auto Scaling group name');
/** PutLifecycleHook's own pattern: [A-Za-z0-9\-_\/]+, at most 255. */
export const lifecycleHookName = z.string().regex(/^[A-Za-z0-9_/-]{1,255}$/, 'not a lifecycle hook name');
/** Lifecycle action tokens are UUIDs. */
export const lifecycleActionToken = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'not a lifecycle action token');
/** AWS allows nearly any character in an alarm name; we accept the printable, shell-inert subset (spaces included). */
export const alarmName = z.string().regex(/^[A-Za-z0-9 _.,:/#+=@-]{1,255}$/, 'alarm name has characters warren does not accept');
/** Instance refresh ids are UUIDs; any alphanumeric-dash id of StartInstanceRefresh's length is kept. */
export const instanceRefreshId = z.string().regex(/^[A-Za-z0-9-]{1,255}$/, 'not an instance refresh id');
/** EventBridge ids are UUIDs; AWS documentation examples use letters outside hex, so any alphanumeric-dash id is kept. */
export const eventId = z.string().regex(/^[A-Za-z0-9-]{1,128}$/, 'not an event id');
export const eventTime = z
  .string()
  .max(64)
  .refine((text) => Number.isFinite(Date.parse(text)), 'not a timestamp');

/** The EventBridge envelope every AWS event shares; `version` is absent from some AWS examples, so it is not required. */
export const envelope = z.looseObject({
  id: eventId,
  time: eventTime,
  source: z.string(),
  'detail-type': z.string(),
});

const MAX_PROBLEMS_LOGGED = 10;

/** Parses `raw` with `schema`, or throws EventSkipped naming the fields that did not fit. */
export function parseOrSkip<T extends z.ZodTypeAny>(schema: T, raw: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    // a forged event can fail on every element of a long array: the log line keeps the first few
    const issues = parsed.error.issues;
    const problems = issues.slice(0, MAX_PROBLEMS_LOGGED).map((issue) => `${issue.path.join('.').slice(0, 200) || '(event)'}: ${issue.message}`);
    if (issues.length > MAX_PROBLEMS_LOGGED) problems.push(`... and ${issues.length - MAX_PROBLEMS_LOGGED} more`);
    throw new EventSkipped(`malformed ${what}: ${problems.join('; ')}`, { problems });
  }
  return parsed.data;
}
