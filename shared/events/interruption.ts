import * as z from 'zod';
import type { EventOf } from './types';
import { envelope, instanceId, parseOrSkip } from './kinds';

export const spotInterruptionWarningEvent = envelope.extend({
  detail: z.looseObject({
    'instance-id': instanceId,
    'instance-action': z.enum(['hibernate', 'stop', 'terminate']),
  }),
});

export const rebalanceRecommendationEvent = envelope.extend({
  detail: z.looseObject({ 'instance-id': instanceId }),
});

/** aws.ec2 "EC2 Spot Instance Interruption Warning": about two minutes before EC2 takes the instance. */
export function toSpotInterruptionEvent(raw: unknown): EventOf<'interruption'> {
  const event = parseOrSkip(spotInterruptionWarningEvent, raw, 'spot interruption warning');
  return { kind: 'interruption', id: event.id, time: Date.parse(event.time), instanceId: event.detail['instance-id'], reason: 'spot-interruption' };
}

/** aws.ec2 "EC2 Instance Rebalance Recommendation": the instance is at elevated risk of interruption. */
export function toRebalanceRecommendationEvent(raw: unknown): EventOf<'interruption'> {
  const event = parseOrSkip(rebalanceRecommendationEvent, raw, 'rebalance recommendation');
  return {
    kind: 'interruption',
    id: event.id,
    time: Date.parse(event.time),
    instanceId: event.detail['instance-id'],
    reason: 'rebalance-recommendation',
  };
}
