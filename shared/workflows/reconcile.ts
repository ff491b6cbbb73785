import { planReconcile, type ReconcileAction, type ReconcilePlan } from '../cluster/reconcile-plan';
import { BudgetExhausted, WarrenError } from '../errors';
import type { EventOf } from '../events/types';
import type { NodeStatus } from '../rabbitmq/operations';
import type { Deps, Outcome } from './deps';
import { choosePolicy } from './policy-choice';
import { ensureBudget, firstThatAnswers } from './waiting';

/**
 * Forget departed nodes first, so joins and quorum growth see only live members; then joins, so the
 * policy lands on the whole cluster; targets last, so traffic follows the repaired membership. New
 * joiners are registered on the next tick, once a status verifies them like any other member.
 */
const EXECUTION_ORDER: Record<ReconcileAction['kind'], number> = { forget: 0, join: 1, 'apply-policy': 2, register: 3, deregister: 4 };

/** The backstop for missed events: observe everything once, plan purely, act in a fixed order. */
export async function reconcile(event: EventOf<'reconcile'>, deps: Deps): Promise<Outcome> {
  const { log, metrics } = deps;
  const group = await deps.inventory.describeGroup();
  const instances = await deps.inventory.describeGroupInstances();
  const targets = await deps.targets.describe();
  const running = new Set(instances.filter((i) => i.state === 'running').map((i) => i.instanceId));
  const asked = group.instances.filter((i) => i.lifecycleState === 'InService' && running.has(i.instanceId)).map((i) => i.instanceId);
  const statuses: Map<string, NodeStatus | Error> = asked.length > 0 ? await deps.nodes.runOnMany(asked, 'status', {}) : new Map();

  const plan = planReconcile({ group, instances, statuses, targets }, deps.config);
  metrics.gauge('ClusterMembersRunning', plan.gauges.membersRunning);
  metrics.gauge('InServiceInstances', plan.gauges.inServiceInstances);
  metrics.gauge('Partitions', plan.gauges.partitions);
  for (const finding of plan.findings) log.warn('reconcile finding', { ...finding });
  log.info('reconcile plan', { dryRun: event.dryRun, actions: plan.actions, runningMembers: plan.runningMembers });
  if (event.dryRun) return { result: 'planned', details: { actions: plan.actions, findings: plan.findings } };

  const ordered = [...plan.actions].sort((a, b) => EXECUTION_ORDER[a.kind] - EXECUTION_ORDER[b.kind]);
  const failures: Array<{ action: ReconcileAction; error: string }> = [];
  for (const action of ordered) {
    try {
      await execute(action, plan, deps);
      metrics.count('ReconcileActions');
    } catch (error) {
      if (error instanceof BudgetExhausted) throw error;
      log.error('reconcile action failed', { action, error: String(error) });
      failures.push({ action, error: String(error) });
    }
  }
  if (failures.length > 0) {
    metrics.count('ReconcileActionsFailed', failures.length);
    throw new WarrenError(`${failures.length} of ${ordered.length} reconcile actions failed: ${failures.map((f) => f.action.kind).join(', ')}`);
  }
  if (ordered.length === 0) return { result: 'done', reason: 'nothing to repair', details: { actions: [] } };
  return { result: 'acted', details: { actions: ordered } };
}

async function execute(action: ReconcileAction, plan: ReconcilePlan, deps: Deps): Promise<void> {
  const { config, nodes } = deps;
  const commandMs = config.bounds.ssmCommandSeconds * 1000;
  switch (action.kind) {
    case 'forget': {
      const done = await firstThatAnswers(plan.peerInstanceIds, (peer) => {
        ensureBudget(deps, commandMs, 'forget');
        return nodes.run(peer, 'forget', { NodeName: action.node, Departed: action.departed });
      });
      if (!done.candidate) throw new WarrenError(`no peer could forget ${action.node}`, { cause: done.errors[0] });
      return;
    }
    case 'join': {
      ensureBudget(deps, commandMs, 'join');
      const joined = await nodes.run(action.instanceId, 'join', {
        ...choosePolicy(deps, plan.clusterVersion, { instanceId: action.instanceId }),
        Peers: plan.runningMembers.join(','),
        GrowQuorum: 'true',
        TimeoutSeconds: String(config.bounds.ssmCommandSeconds),
      });
      if (!joined.members.running.includes(joined.node)) throw new WarrenError(`join of ${joined.node} not verified`);
      await deps.inventory.tagNodeName(action.instanceId, joined.node, joined.version);
      return;
    }
    case 'apply-policy': {
      ensureBudget(deps, commandMs, 'apply-policy');
      await nodes.run(action.instanceId, 'applyPolicy', choosePolicy(deps, plan.clusterVersion, { instanceId: action.instanceId }));
      return;
    }
    case 'register':
      return deps.targets.register(action.instanceId);
    case 'deregister':
      return deps.targets.deregister(action.instanceId);
  }
}
