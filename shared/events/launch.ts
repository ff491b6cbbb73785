import type { EventOf } from './types';
import { LIFECYCLE_TRANSITIONS } from './kinds';
import { toLifecycleAction } from './lifecycle';

/** aws.autoscaling "EC2 Instance-launch Lifecycle Action": an instance waits in Pending:Wait for us. */
export function toLaunchEvent(raw: unknown): EventOf<'launch'> {
  return { kind: 'launch', ...toLifecycleAction(raw, LIFECYCLE_TRANSITIONS.launching, 'launch lifecycle action') };
}
