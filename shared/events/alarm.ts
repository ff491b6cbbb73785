import * as z from 'zod';
import type { EventOf } from './types';
import { alarmName, envelope, instanceId, parseOrSkip } from './kinds';

const alarmState = z.looseObject({ value: z.enum(['ALARM', 'OK', 'INSUFFICIENT_DATA']) });

/** A metric of the alarm; expressions (metric math, anomaly bands) have no metricStat. */
const alarmMetric = z.looseObject({
  metricStat: z
    .looseObject({
      metric: z.looseObject({
        dimensions: z.looseObject({ InstanceId: instanceId.optional() }).optional(),
      }),
    })
    .optional(),
});

export const alarmStateChangeEvent = envelope.extend({
  detail: z.looseObject({
    alarmName,
    state: alarmState,
    previousState: alarmState.optional(),
    /** composite alarms carry alarmRule instead of metrics */
    configuration: z.looseObject({ metrics: z.array(alarmMetric).max(100).optional() }).optional(),
  }),
});

/**
 * aws.cloudwatch "CloudWatch Alarm State Change". The instance is the InstanceId dimension of the
 * alarm's metrics; a composite alarm, or one whose metrics name several instances, names none.
 */
export function toAlarmEvent(raw: unknown): EventOf<'alarm'> {
  const event = parseOrSkip(alarmStateChangeEvent, raw, 'alarm state change');
  const detail = event.detail;
  const instanceIds = new Set((detail.configuration?.metrics ?? []).flatMap((metric) => metric.metricStat?.metric.dimensions?.InstanceId ?? []));
  return {
    kind: 'alarm',
    id: event.id,
    time: Date.parse(event.time),
    alarmName: detail.alarmName,
    state: detail.state.value,
    previousState: detail.previousState?.value,
    instanceId: instanceIds.size === 1 ? [...instanceIds][0] : undefined,
  };
}
