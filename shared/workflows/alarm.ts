import {
  decideReplacement,
  healthyRunningMembers,
  matchRunbook,
  minHealthyMembers,
  replacementInFlight,
  replacementWitnesses,
} from '../cluster/alarm-decision';
import { EventSkipped, UnsafeActionRefused, WarrenError } from '../errors';
import type { EventOf } from '../events/types';
import type { Deps, Outcome } from './deps';
import { whilePaused } from './pause';

/**
 * Alarm runbooks: an alarm entering ALARM either asks for a reconcile or asks the ASG to replace one
 * instance. Replacements are rate limited; a refusal is logged and counted, and the event acknowledged.
 */
export async function alarm(event: EventOf<'alarm'>, deps: Deps): Promise<Outcome> {
  const { config, log, metrics } = deps;
  const needsGroup = event.state === 'ALARM' && event.instanceId !== undefined;
  const group = needsGroup ? await deps.inventory.describeGroup() : undefined;
  const match = matchRunbook(event, config.alarmRunbook, group);
  if (match.act === 'ignore') throw new EventSkipped(match.reason, { alarmName: event.alarmName });
  const paused = await whilePaused('alarm', deps, group);
  if (paused) return paused;

  if (match.act === 'reconcile') {
    if (!deps.queue) throw new WarrenError('runbook asks for a reconcile but no heal queue is configured');
    await deps.queue.enqueueReconcile(`alarm ${event.alarmName}`);
    log.info('reconcile requested by alarm', { alarmName: event.alarmName });
    return { result: 'acted', details: { action: 'reconcile' } };
  }

  const facts = group!;
  const refuse = (reason: string): Outcome => {
    const refusal = new UnsafeActionRefused(`replace ${match.instanceId}`, reason);
    log.warn(refusal.message, { alarmName: event.alarmName, instanceId: match.instanceId, reason });
    metrics.count('UnsafeActionRefused');
    return { result: 'refused', reason };
  };
  // Cheap check first: a replacement in flight needs no SSM command to refuse.
  const inFlight = replacementInFlight(facts);
  if (inFlight) return refuse(inFlight);

  const witnesses = replacementWitnesses(facts, match.instanceId);
  const ec2 = witnesses.length > 0 ? await deps.inventory.describeInstances(witnesses) : [];
  const running = ec2.filter((i) => i.state === 'running').map((i) => i.instanceId);
  // bounded by the time this invocation has left: a status that did not come back is a NodeCommandFailed, not a healthy member
  const statuses =
    running.length > 0 ? await deps.nodes.runOnMany(running, 'status', {}, { timeoutSeconds: (deps.deadline - deps.clock.now()) / 1000 }) : new Map();
  const decision = decideReplacement({
    group: facts,
    healthyRunningMemberIds: healthyRunningMembers(witnesses, ec2, statuses),
    targetInstanceId: match.instanceId,
    minHealthy: minHealthyMembers(config, facts.desiredCapacity),
  });
  if (!decision.allowed) return refuse(decision.reason);

  await deps.inventory.markUnhealthy(match.instanceId);
  log.info('instance marked unhealthy for replacement', { alarmName: event.alarmName, instanceId: match.instanceId });
  metrics.count('InstanceReplacementRequested');
  return { result: 'acted', details: { action: 'replace-instance', instanceId: match.instanceId } };
}
