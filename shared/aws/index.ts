import type { Config } from '../config';
import type { AdminCredential, HealQueue, Inventory, Lifecycle, NodeShell, TargetGroups } from '../ports';
import { SecretsManagerAdminCredential } from './admin-credential';
import { createAwsClients, type AwsClients, type ClientOptions } from './clients';
import { SqsHealQueue } from './heal-queue';
import { Ec2AutoScalingInventory } from './inventory';
import { AutoScalingLifecycle } from './lifecycle';
import { SsmNodeShell, type SsmNodeShellOptions } from './node-shell';
import { Elbv2TargetGroups, type Elbv2TargetGroupsOptions } from './target-groups';

export * from './clients';
export * from './errors';
export { SecretsManagerAdminCredential } from './admin-credential';
export { SqsHealQueue } from './heal-queue';
export { Ec2AutoScalingInventory } from './inventory';
export { AutoScalingLifecycle, isNoActiveLifecycleAction } from './lifecycle';
export { SsmNodeShell, type SsmNodeShellOptions } from './node-shell';
export { Elbv2TargetGroups, type Elbv2TargetGroupsOptions } from './target-groups';

export interface AwsPorts {
  inventory: Inventory;
  lifecycle: Lifecycle;
  nodeShell: NodeShell;
  targetGroups: TargetGroups;
  /** absent when HEAL_QUEUE_URL is not configured */
  healQueue?: HealQueue;
  /** absent when ADMIN_SECRET_ID is not configured */
  adminCredential?: AdminCredential;
}

/** Every AWS-backed port for one configuration, sharing one set of clients. */
export function createAwsPorts(
  config: Config,
  clients: AwsClients | ClientOptions = {},
  options: { nodeShell?: SsmNodeShellOptions; targetGroups?: Elbv2TargetGroupsOptions } = {},
): AwsPorts {
  const aws = 'ec2' in clients ? clients : createAwsClients(clients);
  return {
    inventory: new Ec2AutoScalingInventory(config, aws),
    lifecycle: new AutoScalingLifecycle(aws),
    nodeShell: new SsmNodeShell(config, aws, options.nodeShell),
    targetGroups: new Elbv2TargetGroups(config, aws, options.targetGroups),
    healQueue: config.healQueueUrl ? new SqsHealQueue(config, aws) : undefined,
    adminCredential: config.adminSecretId ? new SecretsManagerAdminCredential(config.adminSecretId, aws) : undefined,
  };
}
