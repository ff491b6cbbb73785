import { nodeNameOf } from '../cluster/node-name';
import { appliesAnything, policyParamsFor } from '../cluster/policy';
import { joinableSeries } from '../cluster/versions';
import { membershipFromTags, otherInServiceIds } from '../cluster/seeds';
import { BudgetExhausted, LaunchCannotSucceed, LifecycleActionGone, WaitTimedOut, WarrenError } from '../errors';
import type { EventOf } from '../events/types';
import type { GroupFacts, InstanceFacts, LifecycleActionRef } from '../ports';
import { peersParameter } from '../rabbitmq/names';
import type { NodeJoined, PolicyParams } from '../rabbitmq/operations';
import type { Deps } from './deps';
import { runningPeers } from './instances';
import { actionStillOpen, completeAction, withHeartbeat, type HookWatch } from './lifecycle-action';
import { keepAdministrator } from './administrator';
import { choosePolicy } from './policy-choice';
import { ensureBudget, firstThatAnswers, pollUntil } from './waiting';
import { failureKind } from '../cluster/launch-failure';
import { unverifiedJoin } from '../cluster/membership';

/*
 * The SSM agent registers within a second of boot in the sandbox and tens of seconds in AWS: asked
 * often at first, so a fast boot is not kept waiting, then calmly.
 */
const AGENT_FAST_POLL_MS = 200;
const AGENT_FAST_POLL_FOR_MS = 5_000;
const AGENT_POLL_MS = 1_000;
/** Instances launched by the same scaling activity come up within seconds of each other: worth one batch. */
const BATCH_GRACE_MS = 10_000;
const BATCH_POLL_MS = 250;

/** One instance whose launch action this invocation works on. */
export interface Launchee {
  instanceId: string;
  action: LifecycleActionRef;
  /** epoch ms: past it, the instance is abandoned rather than retried */
  bound: number;
}

/** 'left': a companion whose failure may pass; its own launch event retries it. */
export interface MemberOutcome {
  instanceId: string;
  result: 'continued' | 'abandoned' | 'done' | 'left';
  reason?: string;
  /** the primary's failure, for the caller to classify (retry or abandon) */
  error?: unknown;
}

/** Whom the batch joins: the running members (named by the tags, or by a seed), or nobody when founding. */
type Membership = { founding: false; peers: string[]; version: string; source: 'tags' | 'seed' } | { founding: true; founder: string };

export interface Batch {
  primary: Launchee;
  companions: Launchee[];
  membership: Membership;
}

interface JoinPlan {
  peers: string[];
  founding: boolean;
  policy: PolicyParams;
  /** the release series the node may run (NodeJoin's JoinableSeries): next to the cluster's, empty when founding */
  joinable: string;
}

/**
 * Everything the joins need, heartbeating the primary's hook: its agent online, the other launches
 * that can join with it, and the membership they join.
 */
export async function gatherBatch(event: EventOf<'launch'>, deps: Deps, primary: Launchee, hook: HookWatch): Promise<Batch> {
  const agentBound = Math.min(primary.bound, event.time + deps.config.bounds.agentOnlineSeconds * 1000);
  const agentOnline = async () => ((await deps.nodes.isAgentOnline(primary.instanceId)) ? true : undefined);
  const fastUntil = Math.min(agentBound, event.time + AGENT_FAST_POLL_FOR_MS);
  try {
    await pollUntil(deps, { what: 'SSM agent online', until: fastUntil, everyMs: AGENT_FAST_POLL_MS, hook }, agentOnline);
  } catch (error) {
    if (!(error instanceof WaitTimedOut) || fastUntil >= agentBound) throw error;
    await pollUntil(deps, { what: 'SSM agent online', until: agentBound, everyMs: AGENT_POLL_MS, hook }, agentOnline);
  }

  const { group, online } = await settleLaunches(deps, primary, hook);
  const { facts, peers: candidates } = await runningPeers(deps, primary.instanceId, group);
  const companions = await companionsOf(deps, primary, group, facts, online);
  return { primary, companions, membership: await membershipFor(deps, group, facts, candidates, primary.instanceId) };
}

/**
 * The other instances launching now, once each has its agent online or BATCH_GRACE_MS passed:
 * a straggler left out would join only after the whole batch, one more launch in a row.
 */
async function settleLaunches(deps: Deps, primary: Launchee, hook: HookWatch): Promise<{ group: GroupFacts; online: Set<string> }> {
  const until = Math.min(primary.bound, deps.clock.now() + BATCH_GRACE_MS);
  for (;;) {
    if (hook.gone) throw new LifecycleActionGone('gathering the launch batch');
    const group = await deps.inventory.describeGroup();
    const launching = group.instances.filter(
      (i) => i.instanceId !== primary.instanceId && (i.lifecycleState === 'Pending' || i.lifecycleState === 'Pending:Wait'),
    );
    // an instance that cannot even be asked about is not waited for: its own event deals with it
    const answers = await Promise.all(
      launching.map((i) =>
        deps.nodes.isAgentOnline(i.instanceId).then(
          (up) => (up ? 'online' : 'offline'),
          () => 'unknown',
        ),
      ),
    );
    const online = new Set(launching.filter((_, n) => answers[n] === 'online').map((i) => i.instanceId));
    if (!answers.includes('offline') || deps.clock.now() >= until) return { group, online };
    const pause = Math.min(BATCH_POLL_MS, until - deps.clock.now());
    ensureBudget(deps, pause, 'gathering the launch batch');
    await deps.clock.sleep(pause);
  }
}

/** Pending:Wait, running, agent online, its own bound ahead and its action still open (the heartbeat says). */
async function companionsOf(deps: Deps, primary: Launchee, group: GroupFacts, facts: InstanceFacts[], online: Set<string>): Promise<Launchee[]> {
  const launchSeconds = deps.config.bounds.launchSeconds;
  const waiting = group.instances.filter((i) => i.lifecycleState === 'Pending:Wait' && online.has(i.instanceId));
  const candidates = waiting.flatMap((i) => {
    const fact = facts.find((f) => f.instanceId === i.instanceId);
    if (fact?.state !== 'running') return [];
    // its own bound: its event came just after its launch; without a launch time, the primary's bound
    const bound = fact.launchTime === undefined ? primary.bound : fact.launchTime + launchSeconds * 1000;
    if (deps.clock.now() >= bound) return [];
    const action: LifecycleActionRef = {
      autoScalingGroupName: primary.action.autoScalingGroupName,
      lifecycleHookName: primary.action.lifecycleHookName,
      instanceId: i.instanceId,
    };
    return [{ instanceId: i.instanceId, action, bound }];
  });
  const open = await Promise.all(candidates.map((c) => actionStillOpen(deps, c.action).catch(() => false)));
  const companions = candidates.filter((_, n) => open[n]);
  if (companions.length > 0)
    deps.log.info('joining the other pending launches in the same batch', { instanceId: primary.instanceId, companions: companions.map((c) => c.instanceId) });
  return companions;
}

/**
 * Founding only for the first instance of an empty group. Otherwise the tags name the peers and the
 * version; without them, a seed is asked. Other InService instances but no answer: never found a
 * second cluster (a split brain), the event is retried.
 */
async function membershipFor(deps: Deps, group: GroupFacts, facts: InstanceFacts[], candidates: InstanceFacts[], selfId: string): Promise<Membership> {
  if (candidates.length === 0 && otherInServiceIds(group, selfId).length === 0) {
    const self = facts.find((f) => f.instanceId === selfId);
    const own = self && nodeNameOf(self);
    if (!own) throw new LaunchCannotSucceed('founding member has no node name: neither a tag nor a private DNS name');
    deps.log.info('no other member in the group: this node founds the cluster', { instanceId: selfId, node: own });
    return { founding: true, founder: own };
  }
  const tagged = membershipFromTags(candidates);
  if (tagged) return { founding: false, ...tagged, source: 'tags' };
  const seed = await firstThatAnswers(candidates, async (candidate) => {
    const status = await deps.nodes.run(candidate.instanceId, 'status', {});
    return status.running && status.members.running.length > 0 ? status : undefined;
  });
  if (!seed.candidate) {
    throw new WarrenError(`no seed answered among ${candidates.length} candidates; not founding a new cluster`, { cause: seed.errors[0] });
  }
  return { founding: false, peers: seed.value.members.running, version: seed.value.version, source: 'seed' };
}

/**
 * Every member of the batch at once, each under its own heartbeat and its own bound, each completed
 * as soon as it serves. A founder joins first; its companions then join it. The primary's failure is
 * returned for the caller; a companion's ends here: abandoned when hopeless, else left to its own event.
 */
export async function joinBatch(deps: Deps, batch: Batch, since: number): Promise<{ primary: MemberOutcome; companions: MemberOutcome[] }> {
  const { membership } = batch;
  let plans: { primary: JoinPlan; companions: () => Promise<JoinPlan> };
  let founderJoined: (joined: NodeJoined) => void = () => undefined;
  let founderFailed: (error: unknown) => void = () => undefined;
  // what a join sends to apply nothing: the params of a version not known yet
  const nothing = policyParamsFor(deps.config, undefined).params;
  if (membership.founding) {
    // A founder's version is known only once it runs: its join carries no policy, applied just after;
    // its companions join once it is a member.
    const founder = new Promise<NodeJoined>((resolve, reject) => {
      founderJoined = resolve;
      founderFailed = reject;
    });
    founder.catch(() => undefined);
    plans = {
      primary: { peers: [membership.founder], founding: true, policy: choosePolicy(deps, undefined, { instanceId: batch.primary.instanceId }), joinable: '' },
      companions: async () => {
        const joined = await founder;
        return { peers: [joined.node], founding: false, policy: nothing, joinable: joinableSeries(joined.version) };
      },
    };
  } else {
    deps.log.info('joining the running members', {
      instanceId: batch.primary.instanceId,
      peers: membership.peers,
      version: membership.version,
      from: membership.source,
    });
    // The policy and the default queue type are cluster-wide: the event's own join re-applies them
    // for the whole batch, and every companion is spared the CLI calls (a shared CPU in the sandbox).
    const policy = choosePolicy(deps, membership.version, { instanceId: batch.primary.instanceId });
    plans = {
      primary: { peers: membership.peers, founding: false, policy, joinable: joinableSeries(membership.version) },
      companions: async () => ({ peers: membership.peers, founding: false, policy: nothing, joinable: joinableSeries(membership.version) }),
    };
  }

  const primary = serveMember(
    deps,
    batch.primary,
    async () => plans.primary,
    since,
    (joined) => founderJoined(joined),
  ).then(
    (result): MemberOutcome => ({ instanceId: batch.primary.instanceId, result }),
    (error: unknown): MemberOutcome => {
      founderFailed(new WarrenError('the founder did not become a member', { cause: error }));
      return { instanceId: batch.primary.instanceId, result: 'done', error };
    },
  );
  const companions = batch.companions.map((companion) =>
    serveMember(deps, companion, plans.companions, since).then(
      (result): MemberOutcome => ({ instanceId: companion.instanceId, result }),
      (error: unknown) => companionFailed(deps, companion, error),
    ),
  );
  return { primary: await primary, companions: await Promise.all(companions) };
}

/** join → verify → tag → register → healthy → CONTINUE, heartbeating this member's own hook throughout. */
async function serveMember(
  deps: Deps,
  member: Launchee,
  planned: () => Promise<JoinPlan>,
  since: number,
  onJoined?: (joined: NodeJoined) => void,
): Promise<'continued' | 'done'> {
  const { config, log, nodes } = deps;
  const { instanceId } = member;
  const health = await withHeartbeat(deps, member.action, async (hook) => {
    const plan = await planned();
    const stillOurs = (step: string) => {
      if (hook.gone) throw new LifecycleActionGone(step);
    };
    stillOurs('join');
    const secondsLeft = Math.floor((member.bound - deps.clock.now()) / 1000);
    if (secondsLeft <= 0) throw new WaitTimedOut('launch bound reached before the join');
    const joined = await nodes.run(instanceId, 'join', {
      ...plan.policy,
      Peers: peersParameter(plan.peers),
      GrowQuorum: 'true',
      JoinableSeries: plan.joinable,
      TimeoutSeconds: String(Math.min(config.bounds.ssmCommandSeconds, secondsLeft)),
    });
    if (!joined.joined) {
      // Khepri without a running majority takes no member, and nothing was changed: retried within the
      // launch bound, so a join after the cluster's recovery succeeds (the recovery is reconcile's finding)
      if (joined.reason === 'majority-lost') {
        deps.metrics.count('JoinHeldMajorityLost');
        throw new WarrenError(joined.detail);
      }
      // no retry can change the installed version: abandoned at once, with RabbitMQ's reason
      throw new LaunchCannotSucceed(joined.detail);
    }
    const unverified = unverifiedJoin(joined, plan.founding);
    if (unverified) throw new WarrenError(unverified);
    onJoined?.(joined);
    if (plan.founding && joined.policy === 'skipped') {
      const founderPolicy = choosePolicy(deps, joined.version, { instanceId });
      if (appliesAnything(founderPolicy)) {
        await nodes.run(instanceId, 'applyPolicy', founderPolicy);
      }
      // the founder creates the administrator; a failure here holds no launch back: reconcile retries it
      await keepAdministrator(deps, instanceId).catch((error: unknown) =>
        log.warn('the administrator was not created; reconcile tries again', { instanceId, error: String(error) }),
      );
    }
    stillOurs('tagging');
    // Both tags in one call: the next launch learns its peers and version from them, no seed asked.
    await deps.inventory.tagNodeName(instanceId, joined.node, joined.version);
    log.info('node is a verified running member', { instanceId, node: joined.node, action: joined.action, members: joined.members.running });

    // Only now: the load balancer must only ever point at verified members (invariant 4).
    stillOurs('registration');
    await deps.targets.register(instanceId);
    return awaitHealthy(deps, instanceId, deps.clock.now() + config.bounds.targetHealthySeconds * 1000);
  });
  return continueMember(deps, member, health, since);
}

/**
 * A registered verified member waits for health under a bound of its own, from its registration: the
 * launch bound is for becoming a member, and NLB registration can take minutes before health checks
 * start. Past that bound it is continued all the same (see continueMember), never abandoned: it is a
 * member, and an ABANDON would only start a replacement that meets whatever keeps this one unhealthy.
 * A bound beyond this invocation's deadline: BudgetExhausted, and the retry resumes the wait.
 */
export async function awaitHealthy(deps: Deps, instanceId: string, until: number): Promise<'healthy' | 'not-healthy'> {
  const toBound = Math.floor((until - deps.clock.now()) / 1000);
  if (toBound <= 0) return 'not-healthy';
  const seconds = Math.min(toBound, Math.floor((deps.deadline - deps.clock.now()) / 1000));
  if (seconds <= 0) throw new BudgetExhausted('target health: no time left in this invocation');
  try {
    await deps.targets.waitHealthy(instanceId, seconds);
    return 'healthy';
  } catch (error) {
    if (!(error instanceof WaitTimedOut)) throw error;
    if (seconds < toBound) throw new BudgetExhausted(`target health: ${toBound - seconds} s of its bound left beyond this invocation`);
    return 'not-healthy';
  }
}

/** CONTINUE; a member whose targets are not healthy yet is continued with a metric and a warning an operator sees. */
export async function continueMember(deps: Deps, member: Launchee, health: 'healthy' | 'not-healthy', since: number): Promise<'continued' | 'done'> {
  if (health === 'not-healthy') {
    deps.metrics.count('LaunchContinuedNotHealthy');
    deps.log.warn('verified member continued before its targets were healthy: the load balancer sends it traffic once they are', {
      instanceId: member.instanceId,
      healthBoundSeconds: deps.config.bounds.targetHealthySeconds,
    });
  }
  const completion = await completeAction(deps, member.action, 'CONTINUE');
  deps.metrics.count('LaunchContinued');
  deps.metrics.durationMs('LaunchDuration', deps.clock.now() - since);
  return completion === 'completed' ? 'continued' : 'done';
}

/** A companion never fails the event: hopeless ones are abandoned, the rest left open for their own event's retry. */
async function companionFailed(deps: Deps, companion: Launchee, error: unknown): Promise<MemberOutcome> {
  const reason = error instanceof Error ? error.message : String(error);
  try {
    switch (failureKind(error, companion, deps.clock.now())) {
      case 'gone':
        return { instanceId: companion.instanceId, result: 'done', reason };
      case 'abandon':
        return await abandon(deps, companion, reason);
      default:
        deps.log.warn('batched launch failed; its own launch event retries it', { instanceId: companion.instanceId, error: String(error) });
        return { instanceId: companion.instanceId, result: 'left', reason };
    }
  } catch (failure) {
    deps.log.warn('batched launch could not be ended; its own launch event retries it', { instanceId: companion.instanceId, error: String(failure) });
    return { instanceId: companion.instanceId, result: 'left', reason };
  }
}

export async function abandon(deps: Deps, member: Launchee, reason: string): Promise<MemberOutcome> {
  deps.log.error('abandoning launch', { instanceId: member.instanceId, reason });
  deps.metrics.count('LaunchAbandoned');
  // Idempotent, and a retry cannot tell whether an earlier attempt registered: always deregister. A
  // failing deregister must not keep the hook open: the instance terminates and the gone path deregisters.
  try {
    await deps.targets.deregister(member.instanceId);
  } catch (error) {
    deps.log.warn('deregistering the abandoned instance failed; abandoning anyway', { instanceId: member.instanceId, error: String(error) });
  }
  const completion = await completeAction(deps, member.action, 'ABANDON');
  return { instanceId: member.instanceId, result: completion === 'completed' ? 'abandoned' : 'done', reason };
}
