import { EventSkipped } from '../errors';
import type { EventOf } from '../events/types';
import type { Deps, Outcome } from './deps';
import { abandon, awaitHealthy, continueMember, gatherBatch, joinBatch, type Batch, type Launchee, type MemberOutcome } from './launch-batch';
import { whilePaused } from './pause';
import { failureKind } from '../cluster/launch-failure';
import { ALREADY_COMPLETED, actionStillOpen, assertOurGroup, completeAction, withHeartbeat } from './lifecycle-action';

/**
 * Launch hook: the new instance becomes a verified running member, and only then gets traffic.
 * Every other instance of the group waiting in Pending:Wait with its SSM agent online joins in the
 * same invocation: one coordinator for the whole scale-out keeps membership changes serialised
 * (invariant 6) while the nodes boot side by side and RabbitMQ's discovery lock orders the joins.
 * Every step is idempotent (join answers 'already-member', register is idempotent), so a retry resumes;
 * the later events of a batch find their action completed and are done.
 */
export async function launch(event: EventOf<'launch'>, deps: Deps): Promise<Outcome> {
  assertOurGroup(deps, event.action);
  if (event.destination === 'WarmPool') return continueIntoWarmPool(deps, event);
  const primary: Launchee = { instanceId: event.instanceId, action: event.action, bound: event.time + deps.config.bounds.launchSeconds * 1000 };
  if (!(await actionStillOpen(deps, event.action))) return { result: 'done', reason: ALREADY_COMPLETED };
  const paused = await whilePaused('launch', deps);
  if (paused) return paused;
  if (deps.clock.now() >= primary.bound) {
    if (await registeredMember(deps, primary.instanceId)) return outcomeOf(await finishRegistered(deps, primary, event.time));
    return outcomeOf(await abandon(deps, primary, 'launch bound passed before the node became a verified member'));
  }

  let batch: Batch;
  try {
    batch = await withHeartbeat(deps, event.action, (hook) => gatherBatch(event, deps, primary, hook));
  } catch (error) {
    return outcomeOf(await primaryFailed(deps, primary, error));
  }
  const { primary: own, companions } = await joinBatch(deps, batch, event.time);
  const outcome = own.error === undefined ? own : await primaryFailed(deps, primary, own.error);
  const result = outcomeOf(outcome);
  if (companions.length > 0) {
    result.details = { batch: Object.fromEntries(companions.map((c) => [c.instanceId, c.reason === undefined ? c.result : `${c.result}: ${c.reason}`])) };
  }
  return result;
}

/**
 * Past the bound, an earlier attempt may have done everything but the CONTINUE (its completion failed,
 * or its invocation ended while the targets were still not healthy): the tags are written only after a
 * verified join and the registration only after them, so such an instance is a member to keep.
 */
async function registeredMember(deps: Deps, instanceId: string): Promise<boolean> {
  const [facts] = await deps.inventory.describeInstances([instanceId]);
  if (!facts?.nodeName || !facts.rabbitmqVersion || facts.state !== 'running') return false;
  const groups = Object.values(await deps.targets.describe());
  return groups.length > 0 && groups.every((targets) => ['initial', 'healthy', 'unhealthy'].includes(targets.get(instanceId) ?? 'absent'));
}

/** The rest of a registered member's health wait (its bound: the launch bound plus the health bound), then CONTINUE. */
async function finishRegistered(deps: Deps, primary: Launchee, since: number): Promise<MemberOutcome> {
  deps.log.info('launch bound passed, but the node is a verified, registered member: finishing its launch', { instanceId: primary.instanceId });
  const until = primary.bound + deps.config.bounds.targetHealthySeconds * 1000;
  const health = await withHeartbeat(deps, primary.action, () => awaitHealthy(deps, primary.instanceId, until));
  const result = await continueMember(deps, primary, health, since);
  return { instanceId: primary.instanceId, result };
}

/**
 * A launch into the warm pool is no new member: the instance is initialised, then stopped (or kept
 * running or hibernated) in the pool with RabbitMQ stopped, and its node joins when it leaves the pool
 * for the group, through a launch action of its own (Origin WarmPool, Destination AutoScalingGroup).
 * This action is continued, not left open: held, it would time out into the hook's ABANDON, and the
 * group would terminate the instance and warm another one in its place, over and over.
 */
async function continueIntoWarmPool(deps: Deps, event: EventOf<'launch'>): Promise<never> {
  const completion = await completeAction(deps, event.action, 'CONTINUE');
  throw new EventSkipped('launch into the warm pool: its node joins when it leaves the pool for the group', {
    instanceId: event.instanceId,
    lifecycleAction: completion === 'completed' ? 'continued' : 'already completed',
  });
}

/** The event's own instance failed: abandoned when hopeless, else the event is retried (thrown). */
async function primaryFailed(deps: Deps, primary: Launchee, error: unknown): Promise<MemberOutcome> {
  switch (failureKind(error, primary, deps.clock.now())) {
    case 'gone':
      return { instanceId: primary.instanceId, result: 'done', reason: (error as Error).message };
    case 'abandon':
      return abandon(deps, primary, (error as Error).message);
    case 'retry':
      deps.log.warn('launch step failed; the event will be retried', { instanceId: primary.instanceId, error: String(error) });
      throw error;
    default:
      throw error;
  }
}

function outcomeOf(member: MemberOutcome): Outcome {
  if (member.result === 'continued') return { result: 'continued' };
  if (member.result === 'done' && member.reason === undefined) return { result: 'done', reason: ALREADY_COMPLETED };
  return { result: member.result === 'abandoned' ? 'abandoned' : 'done', reason: member.reason };
}
