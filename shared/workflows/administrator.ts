import { policyParamsFor } from '../cluster/policy';
import type { Deps } from './deps';

/**
 * The administrator of the configured secret onto the cluster, from one member: NodeApplyPolicy with
 * AdminSecretId alone (no policy, no default queue type), which reads the secret with the node's own
 * role, so its value never passes through warren, and records the version it applied.
 */
export async function keepAdministrator(deps: Deps, instanceId: string): Promise<void> {
  const secretId = deps.config.adminSecretId;
  if (!secretId) return;
  const kept = await deps.nodes.run(instanceId, 'applyPolicy', { ...policyParamsFor(deps.config, undefined).params, AdminSecretId: secretId });
  if (kept.admin === 'created' || kept.admin === 'updated') deps.metrics.count('AdministratorSet');
  deps.log.info('administrator', { node: kept.node, user: kept.adminUser, administrator: kept.admin });
}
