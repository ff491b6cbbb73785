import { pickSeedCandidates } from '../cluster/seeds';
import { BudgetExhausted, EventSkipped, WarrenError } from '../errors';
import type { EventOf } from '../events/types';
import type { Deps, Outcome } from './deps';
import { whilePaused } from './pause';
import { firstThatAnswers } from './waiting';

/**
 * An Instance Refresh of the group succeeded: quorum-queue leaders are spread again over the members it
 * left, as the RabbitMQ Cluster Operator does after a rolling restart. Each replacement joins leading
 * nothing while the members it replaced handed their leaders to the survivors, so after a roll the
 * members started last lead nothing. The event arrives in the cluster's FIFO group, behind every launch
 * and terminate of the refresh, so the membership it finds is the one the refresh ended with.
 * One command on one running member; moving a leader is safe at any time (its replicas keep running),
 * so nothing is refused but a foreign group or the pause switch.
 */
export async function rebalanceLeaders(event: EventOf<'refresh-succeeded'>, deps: Deps): Promise<Outcome> {
  const { config, log, metrics } = deps;
  if (event.autoScalingGroupName !== config.autoScalingGroupName) {
    throw new EventSkipped('instance refresh of another Auto Scaling group', {
      autoScalingGroupName: event.autoScalingGroupName,
      managed: config.autoScalingGroupName,
    });
  }
  const group = await deps.inventory.describeGroup();
  const paused = await whilePaused('refresh-succeeded', deps, group);
  if (paused) return paused;

  // verified members only: the node-name tag is written after a verified join, so none of them is standalone
  const facts = await deps.inventory.describeInstances(group.instances.map((i) => i.instanceId));
  const members = pickSeedCandidates(group, facts, '').filter((i) => i.nodeName);
  const context = { instanceRefreshId: event.instanceRefreshId };
  const params = { TimeoutSeconds: String(config.bounds.ssmCommandSeconds) };
  // a member that cannot run it (app stopped, agent silent) hands it to the next
  const done = await firstThatAnswers(members, (member) => deps.nodes.run(member.instanceId, 'rebalance', params));
  if (!done.candidate) {
    const exhausted = done.errors.find((error) => error instanceof BudgetExhausted);
    if (exhausted) throw exhausted;
    metrics.count('RebalanceFailed');
    const reason = members.length === 0 ? 'no verified running member' : `none of ${members.length} verified running members could rebalance`;
    throw new WarrenError(`quorum-queue leaders not rebalanced: ${reason}`, { cause: done.errors[0] });
  }
  const answer = done.value;
  if (done.errors.length > 0) log.warn('members could not rebalance; another did', { ...context, errors: done.errors.map(String).slice(0, 5) });
  if (!answer.rebalanced) {
    // RabbitMQ's own lock: the rebalance under way (an operator's, or a retry of this one) spreads the same leaders
    log.warn('quorum-queue leaders not rebalanced: another rebalance is under way', { ...context, node: answer.node, detail: answer.detail });
    return { result: 'refused', reason: `another rebalance is under way (${answer.reason})` };
  }
  metrics.count('LeadersRebalanced', answer.moved);
  log.info('quorum-queue leaders rebalanced after the instance refresh', {
    ...context,
    instanceId: done.candidate.instanceId,
    node: answer.node,
    moved: answer.moved,
    before: answer.before,
    after: answer.after,
  });
  return { result: 'acted', details: { node: answer.node, moved: answer.moved, before: answer.before, after: answer.after } };
}
