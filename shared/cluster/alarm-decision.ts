import type { AlarmRule, Config } from '../config';
import type { EventOf } from '../events/types';
import type { GroupFacts, InstanceFacts } from '../ports';
import type { NodeStatus } from '../rabbitmq/operations';

export type RunbookMatch =
  | { act: 'reconcile'; rule: AlarmRule }
  | { act: 'replace-instance'; rule: AlarmRule; instanceId: string }
  | { act: 'ignore'; reason: string };

/** Only an alarm that entered ALARM and matches a runbook rule acts; the first matching rule wins. */
export function matchRunbook(event: EventOf<'alarm'>, runbook: AlarmRule[], group: GroupFacts | undefined): RunbookMatch {
  if (event.state !== 'ALARM') return { act: 'ignore', reason: `alarm state is ${event.state}` };
  const rule = runbook.find((r) => (r.match === 'prefix' ? event.alarmName.startsWith(r.alarm) : event.alarmName === r.alarm));
  if (!rule) return { act: 'ignore', reason: `no runbook rule for alarm ${event.alarmName}` };
  if (rule.action === 'reconcile') return { act: 'reconcile', rule };
  if (!event.instanceId) return { act: 'ignore', reason: 'replace-instance needs an InstanceId dimension' };
  if (group && !group.instances.some((i) => i.instanceId === event.instanceId)) {
    return { act: 'ignore', reason: `instance ${event.instanceId} is not in group ${group.name}` };
  }
  return { act: 'replace-instance', rule, instanceId: event.instanceId };
}

/** 0 in the configuration means a majority of the desired capacity. */
export function minHealthyMembers(config: Config, desiredCapacity: number): number {
  return config.minHealthyMembers > 0 ? config.minHealthyMembers : Math.floor(desiredCapacity / 2) + 1;
}

export type ReplacementDecision = { allowed: true } | { allowed: false; reason: string };

/** Anything not InService or marked Unhealthy means a replacement is already under way. */
export function replacementInFlight(group: GroupFacts): string | undefined {
  const busy = group.instances.find((i) => i.lifecycleState !== 'InService' || i.healthStatus === 'Unhealthy');
  return busy ? `instance ${busy.instanceId} is ${busy.lifecycleState}/${busy.healthStatus}: a replacement is in flight` : undefined;
}

/**
 * The instances that can count toward the minimum: InService and Healthy in the group, other than the
 * one to replace (what remains after replacing it is the others; a node that does not answer would only
 * hold the status to its bound).
 */
export function replacementWitnesses(group: GroupFacts, targetInstanceId: string): string[] {
  return group.instances
    .filter((i) => i.lifecycleState === 'InService' && i.healthStatus === 'Healthy' && i.instanceId !== targetInstanceId)
    .map((i) => i.instanceId);
}

/** The healthy running members among the witnesses: running in EC2, their node answered with its app running. */
export function healthyRunningMembers(witnesses: string[], ec2: InstanceFacts[], statuses: Map<string, NodeStatus | Error>): string[] {
  const running = new Set(ec2.filter((i) => i.state === 'running').map((i) => i.instanceId));
  return witnesses.filter((id) => {
    const status = statuses.get(id);
    return running.has(id) && status !== undefined && !(status instanceof Error) && status.running;
  });
}

/**
 * Rate limit of replace-instance: one replacement at a time, and never below the minimum of healthy
 * running members. Replacing a node that is not a running member takes nothing away, so it is only
 * subtracted when it counts: otherwise a dead node could never be replaced in a small cluster.
 */
export function decideReplacement(input: {
  group: GroupFacts;
  /** instances that are InService, Healthy, running in EC2 and whose node reports its app running */
  healthyRunningMemberIds: string[];
  targetInstanceId: string;
  minHealthy: number;
}): ReplacementDecision {
  const inFlight = replacementInFlight(input.group);
  if (inFlight) return { allowed: false, reason: inFlight };
  const healthy = new Set(input.healthyRunningMemberIds);
  const remaining = healthy.size - (healthy.has(input.targetInstanceId) ? 1 : 0);
  if (remaining < input.minHealthy) {
    return { allowed: false, reason: `${remaining} healthy running members would remain, below the minimum of ${input.minHealthy}` };
  }
  return { allowed: true };
}
