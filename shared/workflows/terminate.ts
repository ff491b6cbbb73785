import { mayForget } from '../cluster/forget';
import { BudgetExhausted, EventSkipped, LifecycleActionGone, WaitTimedOut, WarrenError } from '../errors';
import type { EventOf } from '../events/types';
import type { NodeLeaveOutcome } from '../rabbitmq/operations';
import type { Deps, Outcome } from './deps';
import { ALREADY_COMPLETED, actionStillOpen, assertOurGroup, completeAction, withHeartbeat, type HookWatch } from './lifecycle-action';
import { runningPeers, takeOutOfTraffic } from './instances';
import { whilePaused } from './pause';
import { firstThatAnswers, pollUntil } from './waiting';

type Verdict = { result: 'CONTINUE' | 'ABANDON'; reason?: string };

/**
 * Terminate hook: take the node out of traffic, let it leave the cluster when that is safe, forget it
 * from a surviving peer. A node that may not leave (critical) holds the hook up to a bound; a node
 * that cannot be reached is never forgotten here (the gone path forgets once EC2 reports it terminated).
 */
export async function terminate(event: EventOf<'terminate'>, deps: Deps): Promise<Outcome> {
  assertOurGroup(deps, event.action);
  if (!(await actionStillOpen(deps, event.action))) return { result: 'done', reason: ALREADY_COMPLETED };
  const paused = await whilePaused('terminate', deps);
  if (paused) return paused;
  const leaveBound = event.time + deps.config.bounds.leaveWaitSeconds * 1000;
  let verdict: Verdict;
  try {
    verdict = await withHeartbeat(deps, event.action, (hook) => leaveAndForget(event, deps, leaveBound, hook));
  } catch (error) {
    if (error instanceof LifecycleActionGone) return { result: 'done', reason: error.message };
    if (error instanceof BudgetExhausted || error instanceof EventSkipped) throw error;
    if (deps.clock.now() < leaveBound) {
      deps.log.warn('terminate step failed; the event will be retried', { instanceId: event.instanceId, error: String(error) });
      throw error;
    }
    deps.log.warn('terminate bound passed with the node unreachable; continuing without forgetting it', {
      instanceId: event.instanceId,
      error: String(error),
    });
    deps.metrics.count('LeaveUnreachable');
    verdict = { result: 'CONTINUE', reason: 'node unreachable; forgotten later by the gone path or reconcile' };
  }
  const completion = await completeAction(deps, event.action, verdict.result);
  if (completion === 'already-completed') return { result: 'done', reason: ALREADY_COMPLETED };
  return { result: verdict.result === 'CONTINUE' ? 'continued' : 'abandoned', reason: verdict.reason };
}

async function leaveAndForget(event: EventOf<'terminate'>, deps: Deps, leaveBound: number, hook: HookWatch): Promise<Verdict> {
  const { config, log, metrics, nodes } = deps;
  const instanceId = event.instanceId;

  // Out of traffic first, so clients reconnect elsewhere before the node stops.
  await takeOutOfTraffic(deps, instanceId, Math.floor((event.time + config.bounds.deregistrationSeconds * 1000 - deps.clock.now()) / 1000));

  let left: NodeLeaveOutcome;
  try {
    left = await pollUntil(deps, { what: 'leave', until: leaveBound, everyMs: config.bounds.criticalRecheckSeconds * 1000, hook }, async () => {
      const outcome = await nodes.run(instanceId, 'leave', { Drain: 'true' });
      if (outcome.left || outcome.reason === 'last-running-member') return outcome;
      metrics.count('LeaveBlocked');
      log.warn('node may not leave yet; holding the hook', { instanceId, reason: outcome.reason, detail: outcome.detail });
      return undefined;
    });
  } catch (error) {
    if (!(error instanceof WaitTimedOut)) throw error;
    log.error('node stayed critical past the leave bound; it is neither stopped nor forgotten', { instanceId });
    metrics.count('LeaveWaitExceeded');
    return { result: 'ABANDON', reason: 'leave wait exceeded' };
  }

  if (!left.left) {
    log.warn('node is the last running member: it is neither stopped nor forgotten', { instanceId, node: left.node });
    metrics.count('LastMemberKept');
    return { result: 'CONTINUE', reason: 'last running member kept' };
  }

  const { group, peers, peerNames } = await runningPeers(deps, instanceId);
  const self = group.instances.find((i) => i.instanceId === instanceId);
  const decision = mayForget({ node: left.node, leftCleanly: true, asgLifecycleState: self?.lifecycleState ?? 'Terminating:Wait', runningMembers: peerNames });
  if (!decision.allowed) {
    log.warn('node left but is not forgotten', { instanceId, node: left.node, reason: decision.reason });
    return { result: 'CONTINUE', reason: decision.reason };
  }
  const forgotten = await firstThatAnswers(peers, async (peer) => {
    return nodes.run(peer.instanceId, 'forget', { NodeName: left.node, Departed: 'false' });
  });
  if (!forgotten.candidate) throw new WarrenError(`no peer could forget ${left.node}`, { cause: forgotten.errors[0] });
  if (forgotten.value.result === 'still-running')
    throw new WarrenError(`${left.node} left but is still counted running by ${forgotten.candidate.instanceId}: not forgotten, retried`);
  if (forgotten.value.result === 'majority-lost') {
    log.warn('node left but is not forgotten: the metadata store has no running majority', { instanceId, node: left.node });
    metrics.count('ForgetHeldMajorityLost');
    return { result: 'CONTINUE', reason: 'metadata majority lost: forget held until the cluster is recovered' };
  }
  log.info('node left and was forgotten', { instanceId, node: left.node, peer: forgotten.candidate.instanceId, result: forgotten.value.result });
  metrics.count('MemberForgotten');
  return { result: 'CONTINUE' };
}
