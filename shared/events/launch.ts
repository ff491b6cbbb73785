import * as z from 'zod';
import type { EventOf, LifecycleDestination } from './types';
import { LIFECYCLE_TRANSITIONS } from './kinds';
import { toLifecycleAction } from './lifecycle';

/**
 * A group with a warm pool says where a launching instance comes from and goes to: Origin EC2 or
 * WarmPool, Destination AutoScalingGroup or WarmPool ("Warm pool example events and patterns").
 * Events of a group without one carry neither field.
 */
const warmPoolFields = z.looseObject({
  detail: z.looseObject({ Destination: z.enum(['AutoScalingGroup', 'WarmPool']).optional() }),
});

/** aws.autoscaling "EC2 Instance-launch Lifecycle Action": an instance waits in Pending:Wait (or Warmed:Pending:Wait) for us. */
export function toLaunchEvent(raw: unknown): EventOf<'launch'> {
  const launch = toLifecycleAction(raw, LIFECYCLE_TRANSITIONS.launching, 'launch lifecycle action');
  // an unknown Destination is read as the group: a real launch is never left to time out into ABANDON
  const parsed = warmPoolFields.safeParse(raw);
  const destination: LifecycleDestination | undefined = parsed.success ? parsed.data.detail.Destination : undefined;
  return { kind: 'launch', ...launch, ...(destination ? { destination } : {}) };
}
