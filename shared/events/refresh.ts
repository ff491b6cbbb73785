import * as z from 'zod';
import type { EventOf } from './types';
import { autoScalingGroupName, envelope, instanceRefreshId, parseOrSkip } from './kinds';

export const instanceRefreshSucceededEvent = envelope.extend({
  detail: z.looseObject({
    InstanceRefreshId: instanceRefreshId,
    AutoScalingGroupName: autoScalingGroupName,
  }),
});

/**
 * aws.autoscaling "EC2 Auto Scaling Instance Refresh Succeeded": every instance of the group was replaced
 * ("Instance refresh example events and patterns"). The group is checked by the workflow, like a lifecycle action's.
 */
export function toRefreshSucceededEvent(raw: unknown): EventOf<'refresh-succeeded'> {
  const event = parseOrSkip(instanceRefreshSucceededEvent, raw, 'instance refresh succeeded');
  return {
    kind: 'refresh-succeeded',
    id: event.id,
    time: Date.parse(event.time),
    autoScalingGroupName: event.detail.AutoScalingGroupName,
    instanceRefreshId: event.detail.InstanceRefreshId,
  };
}
