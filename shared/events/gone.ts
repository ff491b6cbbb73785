import * as z from 'zod';
import { EventSkipped } from '../errors';
import type { EventOf } from './types';
import { envelope, instanceId, parseOrSkip } from './kinds';

const DEPARTED_STATES = ['shutting-down', 'terminated'] as const;

export const instanceStateChangeEvent = envelope.extend({
  detail: z.looseObject({
    'instance-id': instanceId,
    state: z.string().max(64),
  }),
});

/**
 * aws.ec2 "EC2 Instance State-change Notification". Only a departing instance concerns warren:
 * the other states (pending, running, stopping, stopped) are reported but never acted on.
 */
export function toGoneEvent(raw: unknown): EventOf<'gone'> {
  const event = parseOrSkip(instanceStateChangeEvent, raw, 'instance state-change notification');
  const state = event.detail.state;
  if (!isDeparted(state)) {
    throw new EventSkipped(`instance state ${JSON.stringify(state)} is not shutting-down or terminated`, {
      id: event.id,
      instanceId: event.detail['instance-id'],
      state,
    });
  }
  return { kind: 'gone', id: event.id, time: Date.parse(event.time), instanceId: event.detail['instance-id'], state };
}

function isDeparted(state: string): state is (typeof DEPARTED_STATES)[number] {
  return (DEPARTED_STATES as readonly string[]).includes(state);
}
