import { inExecutionOrder, inSteps, planReconcile, type ObservedCluster, type ReconcileAction, type ReconcilePlan } from '../cluster/reconcile-plan';
import { joinableSeries } from '../cluster/versions';
import { BudgetExhausted, WarrenError } from '../errors';
import type { EventOf } from '../events/types';
import type { GroupFacts, InstanceFacts } from '../ports';
import type { NodeOperationParams, NodeRestartOutcome, NodeStatus, RestartStep } from '../rabbitmq/operations';
import type { Deps, Outcome } from './deps';
import { unverifiedJoin } from '../cluster/membership';
import { unverifiedRestart } from '../cluster/partition';
import { orphanedHooks } from '../cluster/orphaned-hooks';
import { adoptOrphanedHooks } from './orphaned-hooks';
import { pausedLog, pauseReason } from './pause';
import { keepAdministrator } from './administrator';
import { choosePolicy } from './policy-choice';
import { ensureBudget, firstThatAnswers } from './waiting';

type RestartAction = Extract<ReconcileAction, { kind: 'restart' }>;

/** A replica repair or a feature-flag step changes nothing else: no policy, no default queue type (apply-policy owns those). */
const NO_POLICY = { PolicyName: '', PolicyPattern: '', PolicyDefinition: '{}', PolicyApplyTo: 'queues', PolicyPriority: '0', DefaultQueueType: '' } as const;

/** The backstop for missed events: observe everything once, plan purely, act in a fixed order. */
export async function reconcile(event: EventOf<'reconcile'>, deps: Deps): Promise<Outcome> {
  const { metrics } = deps;
  let group = await deps.inventory.describeGroup();
  // paused (warren:paused on the group): observe and report as a dry run does, touch nothing
  const paused = group.paused;
  const log = paused === undefined ? deps.log : pausedLog(deps.log, paused);
  const readOnly = event.dryRun || paused !== undefined;
  metrics.gauge('Paused', paused === undefined ? 0 : 1);
  let instances = await deps.inventory.describeGroupInstances();
  // hooks whose event never came first, so the plan then sees the group as they leave it
  const launchTimes = new Map(instances.flatMap((i) => (i.launchTime === undefined ? [] : [[i.instanceId, i.launchTime] as const])));
  const orphans = orphanedHooks(group, launchTimes, deps.clock.now());
  const adopted = readOnly || orphans.length === 0 ? [] : await adoptOrphanedHooks(event, orphans, launchTimes, deps);
  if (adopted.length > 0) {
    group = await deps.inventory.describeGroup();
    instances = await deps.inventory.describeGroupInstances();
  }
  const observed = await observeMembers(group, instances, deps);
  const plan = planReconcile({ ...observed, ...(await adminSecretVersion(deps)) }, deps.config);
  metrics.gauge('ClusterMembersRunning', plan.gauges.membersRunning);
  metrics.gauge('InServiceInstances', plan.gauges.inServiceInstances);
  metrics.gauge('Partitions', plan.gauges.partitions);
  metrics.gauge('DeprecatedFeaturesUsed', plan.gauges.deprecatedFeaturesUsed);
  if (plan.gauges.metadataMajorityLost !== undefined) metrics.gauge('MetadataMajorityLost', plan.gauges.metadataMajorityLost);
  if (plan.gauges.quorumQueues) {
    metrics.gauge('QuorumQueues', plan.gauges.quorumQueues.total);
    metrics.gauge('QuorumQueuesDegraded', plan.gauges.quorumQueues.degraded);
    metrics.gauge('QuorumQueuesLeaderless', plan.gauges.quorumQueues.leaderless);
  }
  for (const finding of plan.findings) log.warn('reconcile finding', { ...finding });
  if (plan.partition) log.warn('reconcile partition decision', { ...plan.partition, restart: plan.partition.hold ? [] : plan.partition.losers });
  log.info('reconcile plan', { dryRun: event.dryRun, actions: plan.actions, runningMembers: plan.runningMembers });
  const planned = { actions: plan.actions, findings: plan.findings, partition: plan.partition, orphanedHooks: orphans };
  if (event.dryRun) return { result: 'planned', details: planned };
  if (paused !== undefined) {
    log.warn('warren is paused (warren:paused tag on the group): nothing repaired', { held: plan.actions.length, orphanedHooks: orphans.length });
    return { result: 'done', reason: pauseReason(paused), details: planned };
  }

  const ordered = inExecutionOrder(plan.actions);
  const failures: Array<{ action: ReconcileAction; error: string }> = [];
  for (const step of inSteps(ordered)) {
    try {
      if (step[0]!.kind === 'restart') await restartLosingSides(step as RestartAction[], deps);
      else await execute(step[0]!, plan, deps);
      metrics.count('ReconcileActions', step.length);
    } catch (error) {
      if (error instanceof BudgetExhausted) throw error;
      log.error('reconcile action failed', { actions: step, error: String(error) });
      failures.push(...step.map((action) => ({ action, error: String(error) })));
    }
  }
  if (failures.length > 0) {
    metrics.count('ReconcileActionsFailed', failures.length);
    throw new WarrenError(`${failures.length} of ${ordered.length} reconcile actions failed: ${failures.map((f) => f.action.kind).join(', ')}`);
  }
  const adoptedHooks = adopted.map((a) => ({ instanceId: a.instanceId, transition: a.transition, result: a.outcome.result }));
  if (ordered.length === 0 && adopted.length === 0) return { result: 'done', reason: 'nothing to repair', details: { actions: [] } };
  return { result: 'acted', details: { actions: ordered, ...(adopted.length > 0 ? { adoptedHooks } : {}) } };
}

/**
 * What a plan is made of, besides the group and its instances: the targets, and the status of every
 * InService running instance (NodeStatus, read-only). `warren status` reads the same.
 */
export async function observeMembers(
  group: GroupFacts,
  instances: InstanceFacts[],
  deps: Pick<Deps, 'targets' | 'nodes' | 'clock' | 'deadline'>,
): Promise<ObservedCluster> {
  const targets = await deps.targets.describe();
  const running = new Set(instances.filter((i) => i.state === 'running').map((i) => i.instanceId));
  const asked = group.instances.filter((i) => i.lifecycleState === 'InService' && running.has(i.instanceId)).map((i) => i.instanceId);
  // within the time this invocation has left (orphaned hooks may have used some): an unanswered status is only a finding
  const statuses: Map<string, NodeStatus | Error> =
    asked.length > 0 ? await deps.nodes.runOnMany(asked, 'status', {}, { timeoutSeconds: (deps.deadline - deps.clock.now()) / 1000 }) : new Map();
  return { group, instances, statuses, targets };
}

/**
 * The administrator's secret version to hold the cluster to, when warren keeps one. A secret it cannot
 * describe (deleted, or the function's role lost the grant) holds only the administrator back: logged,
 * and the rest of the plan goes on.
 */
async function adminSecretVersion(deps: Deps): Promise<{ adminSecretVersion?: string }> {
  if (!deps.config.adminSecretId || !deps.admin) return {};
  try {
    return { adminSecretVersion: await deps.admin.currentVersion() };
  } catch (error) {
    deps.log.warn('the administrator secret cannot be described: the administrator is left as it is', {
      secret: deps.config.adminSecretId,
      error: String(error),
    });
    deps.metrics.count('AdminSecretUnreadable');
    return {};
  }
}

/**
 * RabbitMQ's documented recovery from a split brain: every node of the losing sides is stopped before
 * any of them starts, so none restarts into a loser that still runs; they then take their state from the
 * winning side. One losing node restarts in one command. A node that stopped but whose fellow losers did
 * not stays stopped: the next tick restarts the others first, then joins it (restart runs before join).
 */
async function restartLosingSides(actions: RestartAction[], deps: Deps): Promise<void> {
  const { config, nodes, log, metrics } = deps;
  const survivors = actions[0]!.survivors;
  const params = (Step: RestartStep) => ({ Survivors: survivors.join(','), Step, TimeoutSeconds: String(config.bounds.ssmCommandSeconds) });
  const instanceIds = actions.map((action) => action.instanceId);
  ensureBudget(deps, (actions.length === 1 ? 1 : 2) * config.bounds.ssmCommandSeconds * 1000, 'restart');
  const started =
    actions.length === 1
      ? new Map([[instanceIds[0]!, await nodes.run(instanceIds[0]!, 'restart', params('restart'))]])
      : await stopThenStart(instanceIds, deps, params);
  for (const action of actions) {
    const outcome = started.get(action.instanceId);
    if (outcome instanceof Error) throw outcome;
    const unverified = unverifiedRestart(outcome, action.node, survivors);
    if (unverified) throw new WarrenError(unverified);
  }
  metrics.count('PartitionRepairs');
  log.info('partition repaired', { restarted: actions.map((action) => action.node), survivors });
}

async function stopThenStart(
  instanceIds: string[],
  deps: Deps,
  params: (step: RestartStep) => NodeOperationParams['restart'],
): Promise<Map<string, NodeRestartOutcome | Error>> {
  const stopped = await deps.nodes.runOnMany(instanceIds, 'restart', params('stop'));
  for (const outcome of stopped.values()) {
    if (outcome instanceof Error) throw outcome;
    const unverified = unverifiedRestart(outcome, outcome.node, []);
    if (unverified) throw new WarrenError(unverified);
  }
  return deps.nodes.runOnMany(instanceIds, 'restart', params('start'));
}

async function execute(action: ReconcileAction, plan: ReconcilePlan, deps: Deps): Promise<void> {
  const { config, nodes } = deps;
  switch (action.kind) {
    case 'forget':
    case 'remove-replicas': {
      const done = await firstThatAnswers(plan.peerInstanceIds, (peer) => {
        return nodes.run(peer, 'forget', { NodeName: action.node, Departed: action.kind === 'forget' ? action.departed : 'false' });
      });
      if (!done.candidate) throw new WarrenError(`no peer could forget ${action.node}`, { cause: done.errors[0] });
      if (done.value.result === 'majority-lost') throw new WarrenError(`${action.node} not forgotten: the metadata store lost its running majority`);
      if (done.value.result === 'still-running') throw new WarrenError(`${action.node} not forgotten: ${done.candidate} still counts it running`);
      if (done.value.replicasRemoved > 0) deps.metrics.count('ReplicasRemoved', done.value.replicasRemoved);
      return;
    }
    case 'repair-replicas': {
      const repaired = await nodes.run(action.instanceId, 'join', {
        ...NO_POLICY,
        Peers: plan.runningMembers.join(','),
        GrowQuorum: 'true',
        TimeoutSeconds: String(config.bounds.ssmCommandSeconds),
      });
      if (!repaired.joined) throw new WarrenError(repaired.detail);
      deps.metrics.count('ReplicasGrown', repaired.quorumGrown + repaired.streamsGrown);
      deps.metrics.count('ReplicasRecreated', repaired.replicasRecreated);
      deps.log.info('replicas repaired', {
        node: repaired.node,
        grown: repaired.quorumGrown,
        streamsGrown: repaired.streamsGrown,
        recreated: repaired.replicasRecreated,
      });
      return;
    }
    case 'join': {
      const joined = await nodes.run(action.instanceId, 'join', {
        ...choosePolicy(deps, plan.clusterVersion, { instanceId: action.instanceId }),
        Peers: plan.runningMembers.join(','),
        GrowQuorum: 'true',
        JoinableSeries: joinableSeries(plan.clusterVersion),
        TimeoutSeconds: String(config.bounds.ssmCommandSeconds),
      });
      if (!joined.joined) throw new WarrenError(joined.detail);
      const unverified = unverifiedJoin(joined, !plan.runningMembers.some((member) => member !== joined.node));
      if (unverified) throw new WarrenError(unverified);
      await deps.inventory.tagNodeName(action.instanceId, joined.node, joined.version);
      return;
    }
    case 'apply-policy': {
      await nodes.run(action.instanceId, 'applyPolicy', choosePolicy(deps, plan.clusterVersion, { instanceId: action.instanceId }));
      return;
    }
    case 'enable-feature-flags': {
      const enabled = await nodes.run(action.instanceId, 'applyPolicy', { ...NO_POLICY, EnableFeatureFlags: 'true' });
      deps.log.info('feature flags', { node: enabled.node, featureFlags: enabled.featureFlags });
      return;
    }
    case 'keep-administrator':
      return keepAdministrator(deps, action.instanceId);
    case 'recover-majority': {
      const recovered = await nodes.run(action.instanceId, 'recover', { DryRun: 'false' });
      if (!recovered.recovered) throw new WarrenError(`recovery on ${action.node} refused: ${recovered.reason}: ${recovered.detail}`);
      deps.metrics.count('MajorityRecoveries');
      deps.log.warn('recovered from a lost metadata majority: the survivor runs standalone, replacements join it', {
        node: recovered.node,
        dropped: recovered.drops,
        quorumQueues: recovered.quorumQueues,
        messages: recovered.messages,
      });
      return;
    }
    case 'register':
      return deps.targets.register(action.instanceId);
    case 'deregister':
      return deps.targets.deregister(action.instanceId);
    case 'restart':
      return restartLosingSides([action], deps);
  }
}
