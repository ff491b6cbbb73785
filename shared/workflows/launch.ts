import { otherInServiceIds } from '../cluster/seeds';
import { nodeNameOf } from '../cluster/node-name';
import { appliesAnything } from '../cluster/policy';
import { BudgetExhausted, EventSkipped, WaitTimedOut, WarrenError } from '../errors';
import type { EventOf } from '../events/types';
import type { NodeJoinOutcome } from '../rabbitmq/operations';
import { peersParameter } from '../rabbitmq/names';
import type { Deps, Outcome } from './deps';
import { actionStillOpen, assertOurGroup, completeAction, LifecycleActionGone, withHeartbeat, type HookWatch } from './lifecycle-action';
import { runningPeers } from './instances';
import { choosePolicy } from './policy-choice';
import { ensureBudget, firstThatAnswers, pollUntil } from './waiting';

const AGENT_POLL_MS = 10_000;

/** A launch that no retry can rescue: abandoned at once instead of retried until the bound. */
class LaunchCannotSucceed extends WarrenError {}

/**
 * Launch hook: the new instance becomes a verified running member, and only then gets traffic.
 * Every step is idempotent (join answers 'already-member', register is idempotent), so a retry resumes.
 */
export async function launch(event: EventOf<'launch'>, deps: Deps): Promise<Outcome> {
  assertOurGroup(deps, event.action);
  const bound = event.time + deps.config.bounds.launchSeconds * 1000;
  if (!(await actionStillOpen(deps, event.action))) return { result: 'done', reason: 'lifecycle action already completed' };
  if (deps.clock.now() >= bound) return abandon(event, deps, 'launch bound passed before the node became a verified member');
  try {
    await withHeartbeat(deps, event.action, (hook) => joinAndServe(event, deps, bound, hook));
  } catch (error) {
    if (error instanceof LifecycleActionGone) return { result: 'done', reason: error.message };
    if (error instanceof BudgetExhausted || error instanceof EventSkipped) throw error;
    if (error instanceof LaunchCannotSucceed || error instanceof WaitTimedOut || deps.clock.now() >= bound) {
      return abandon(event, deps, (error as Error).message);
    }
    deps.log.warn('launch step failed; the event will be retried', { instanceId: event.instanceId, error: String(error) });
    throw error;
  }
  const completion = await completeAction(deps, event.action, 'CONTINUE');
  deps.metrics.count('LaunchContinued');
  deps.metrics.durationMs('LaunchDuration', deps.clock.now() - event.time);
  return completion === 'completed' ? { result: 'continued' } : { result: 'done', reason: 'lifecycle action already completed' };
}

async function joinAndServe(event: EventOf<'launch'>, deps: Deps, bound: number, hook: HookWatch): Promise<void> {
  const { config, log, nodes } = deps;
  const instanceId = event.instanceId;
  const agentBound = Math.min(bound, event.time + config.bounds.agentOnlineSeconds * 1000);
  await pollUntil(deps, { what: 'SSM agent online', until: agentBound, everyMs: AGENT_POLL_MS, hook }, async () =>
    (await nodes.isAgentOnline(instanceId)) ? true : undefined,
  );

  const { group, facts, peers: candidates } = await runningPeers(deps, instanceId);
  const founding = candidates.length === 0 && otherInServiceIds(group, instanceId).length === 0;

  let peers: string[];
  let version: string | undefined;
  if (founding) {
    const self = facts.find((f) => f.instanceId === instanceId);
    const own = self && nodeNameOf(self);
    if (!own) throw new LaunchCannotSucceed('founding member has no node name: neither a tag nor a private DNS name');
    log.info('no other member in the group: this node founds the cluster', { instanceId, node: own });
    peers = [own];
  } else {
    const seed = await firstThatAnswers(candidates, async (candidate) => {
      ensureBudget(deps, config.bounds.ssmCommandSeconds * 1000, 'seed status');
      const status = await nodes.run(candidate.instanceId, 'status', {});
      return status.running && status.members.running.length > 0 ? status : undefined;
    });
    if (!seed.candidate) {
      // Founding a second cluster next to one that merely does not answer would be a split brain.
      throw new WarrenError(`no seed answered among ${candidates.length} candidates; not founding a new cluster`, { cause: seed.errors[0] });
    }
    peers = seed.value.members.running;
    version = seed.value.version;
  }

  // A founder's version is known only once it runs: its join carries no policy, applied just after.
  const policy = choosePolicy(deps, version, { instanceId });
  ensureBudget(deps, config.bounds.ssmCommandSeconds * 1000, 'join');
  const secondsLeft = Math.floor((bound - deps.clock.now()) / 1000);
  const joined = await nodes.run(instanceId, 'join', {
    ...policy,
    Peers: peersParameter(peers),
    GrowQuorum: 'true',
    TimeoutSeconds: String(Math.max(1, Math.min(config.bounds.ssmCommandSeconds, secondsLeft))),
  });
  verifyMembership(joined, founding);
  if (founding && joined.policy === 'skipped') {
    const founderPolicy = choosePolicy(deps, joined.version, { instanceId });
    if (appliesAnything(founderPolicy)) {
      ensureBudget(deps, config.bounds.ssmCommandSeconds * 1000, 'apply-policy');
      await nodes.run(instanceId, 'applyPolicy', founderPolicy);
    }
  }
  await deps.inventory.tagNodeName(instanceId, joined.node);
  log.info('node is a verified running member', { instanceId, node: joined.node, action: joined.action, members: joined.members.running });

  // Only now: the load balancer must only ever point at verified members (invariant 4).
  await deps.targets.register(instanceId);
  const healthySeconds = Math.min(config.bounds.targetHealthySeconds, Math.floor((bound - deps.clock.now()) / 1000));
  if (healthySeconds <= 0) throw new WaitTimedOut('launch bound reached before the targets could become healthy');
  ensureBudget(deps, healthySeconds * 1000, 'target health');
  await deps.targets.waitHealthy(instanceId, healthySeconds);
}

function verifyMembership(joined: NodeJoinOutcome, founding: boolean): void {
  if (!joined.members.running.includes(joined.node)) {
    throw new WarrenError(`join of ${joined.node} ended but it is not among the running members`);
  }
  if (!founding && !joined.members.running.some((member) => member !== joined.node)) {
    throw new WarrenError(`join of ${joined.node} ended alone: no peer among the running members`);
  }
}

async function abandon(event: EventOf<'launch'>, deps: Deps, reason: string): Promise<Outcome> {
  deps.log.error('abandoning launch', { instanceId: event.instanceId, reason });
  deps.metrics.count('LaunchAbandoned');
  // Idempotent, and a retry cannot tell whether an earlier attempt registered: always deregister.
  await deps.targets.deregister(event.instanceId);
  const completion = await completeAction(deps, event.action, 'ABANDON');
  return { result: completion === 'completed' ? 'abandoned' : 'done', reason };
}
