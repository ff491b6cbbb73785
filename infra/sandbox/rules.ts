import { DETAIL_TYPES, SOURCES } from '../../shared/events';

/**
 * The EventBridge rules of serverless.yml, for the sandbox's bus. tests/infra/package.test.ts holds
 * them equal to the packaged template's patterns, so the sandbox routes exactly as AWS would.
 */
export type EventPattern = { [field: string]: EventPattern | Array<string | { prefix: string }> };
/** EC2 events go to the triage queue: no pattern can keep other fleets' instances out of them */
export type RuleTarget = 'heal-queue' | 'triage-queue';

export interface Rule {
  name: string;
  target: RuleTarget;
  pattern: EventPattern;
}

export function rules(groupName: string, alarmPrefix: string): Rule[] {
  return [
    {
      name: 'LifecycleRule',
      target: 'heal-queue',
      pattern: {
        source: [SOURCES.autoScaling],
        'detail-type': [DETAIL_TYPES.launchLifecycleAction, DETAIL_TYPES.terminateLifecycleAction],
        detail: { AutoScalingGroupName: [groupName] },
      },
    },
    {
      name: 'RefreshSucceededRule',
      target: 'heal-queue',
      pattern: { source: [SOURCES.autoScaling], 'detail-type': [DETAIL_TYPES.instanceRefreshSucceeded], detail: { AutoScalingGroupName: [groupName] } },
    },
    {
      name: 'InstanceStateRule',
      target: 'triage-queue',
      pattern: { source: [SOURCES.ec2], 'detail-type': [DETAIL_TYPES.instanceStateChange], detail: { state: ['shutting-down', 'terminated'] } },
    },
    {
      name: 'InterruptionRule',
      target: 'triage-queue',
      pattern: { source: [SOURCES.ec2], 'detail-type': [DETAIL_TYPES.spotInterruptionWarning, DETAIL_TYPES.rebalanceRecommendation] },
    },
    { name: 'ReconcileSchedule', target: 'heal-queue', pattern: { source: [SOURCES.schedule], 'detail-type': [DETAIL_TYPES.scheduledEvent] } },
    {
      name: 'AlarmRule',
      target: 'heal-queue',
      pattern: {
        source: [SOURCES.cloudWatch],
        'detail-type': [DETAIL_TYPES.alarmStateChange],
        detail: { alarmName: [{ prefix: alarmPrefix }], state: { value: ['ALARM'] } },
      },
    },
  ];
}

/** EventBridge matching for the pattern forms warren uses: lists of exact values and prefixes, nested objects. */
export function matches(pattern: EventPattern, event: unknown): boolean {
  if (typeof event !== 'object' || event === null) return false;
  return Object.entries(pattern).every(([field, expected]) => {
    const actual = (event as Record<string, unknown>)[field];
    if (!Array.isArray(expected)) return matches(expected, actual);
    return expected.some((value) => (typeof value === 'string' ? actual === value : typeof actual === 'string' && actual.startsWith(value.prefix)));
  });
}

/** Where EventBridge delivers the event; undefined when no rule matches (it is dropped). */
export function routeOf(event: unknown, groupName: string, alarmPrefix: string): RuleTarget | undefined {
  return rules(groupName, alarmPrefix).find((rule) => matches(rule.pattern, event))?.target;
}
