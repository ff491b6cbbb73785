import * as z from 'zod';
import { EventSkipped } from '../errors';
import type { LifecycleActionRef } from '../ports';
import { LIFECYCLE_TRANSITIONS, autoScalingGroupName, envelope, instanceId, lifecycleActionToken, lifecycleHookName, parseOrSkip } from './kinds';

/** Shared by the launch and terminate converters: both lifecycle actions carry the same detail. */
export const lifecycleActionEvent = envelope.extend({
  detail: z.looseObject({
    LifecycleActionToken: lifecycleActionToken.optional(),
    AutoScalingGroupName: autoScalingGroupName,
    LifecycleHookName: lifecycleHookName,
    EC2InstanceId: instanceId,
    LifecycleTransition: z.string(),
    NotificationMetadata: z.string().optional(),
  }),
});

type Transition = (typeof LIFECYCLE_TRANSITIONS)['launching' | 'terminating'];

export interface ConvertedLifecycleAction {
  id: string;
  time: number;
  instanceId: string;
  action: LifecycleActionRef;
}

/** Lifecycle hooks send a test notification when created; it names no instance and needs no action. */
export function isTestNotification(detail: unknown): boolean {
  if (typeof detail !== 'object' || detail === null) return false;
  const fields = detail as Record<string, unknown>;
  return fields.Event === LIFECYCLE_TRANSITIONS.test || fields.LifecycleTransition === LIFECYCLE_TRANSITIONS.test;
}

export function toLifecycleAction(raw: unknown, expected: Transition, what: string): ConvertedLifecycleAction {
  if (isTestNotification((raw as { detail?: unknown } | null)?.detail)) {
    throw new EventSkipped('Auto Scaling test notification', { transition: LIFECYCLE_TRANSITIONS.test });
  }
  const event = parseOrSkip(lifecycleActionEvent, raw, what);
  const detail = event.detail;
  if (detail.LifecycleTransition !== expected) {
    throw new EventSkipped(`lifecycle transition ${JSON.stringify(detail.LifecycleTransition.slice(0, 100))} is not ${expected}`, {
      id: event.id,
      instanceId: detail.EC2InstanceId,
    });
  }
  return {
    id: event.id,
    time: Date.parse(event.time),
    instanceId: detail.EC2InstanceId,
    action: {
      autoScalingGroupName: detail.AutoScalingGroupName,
      lifecycleHookName: detail.LifecycleHookName,
      lifecycleActionToken: detail.LifecycleActionToken,
      instanceId: detail.EC2InstanceId,
    },
  };
}
