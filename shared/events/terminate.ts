import type { EventOf } from './types';
import { LIFECYCLE_TRANSITIONS } from './kinds';
import { toLifecycleAction } from './lifecycle';

/** aws.autoscaling "EC2 Instance-terminate Lifecycle Action": an instance waits in Terminating:Wait for us. */
export function toTerminateEvent(raw: unknown): EventOf<'terminate'> {
  return { kind: 'terminate', ...toLifecycleAction(raw, LIFECYCLE_TRANSITIONS.terminating, 'terminate lifecycle action') };
}
