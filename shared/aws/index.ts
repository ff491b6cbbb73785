import type { Config } from '../config';
import type { HealQueue, Inventory, Lifecycle, NodeShell, TargetGroups } from '../ports';
import { createAwsClients, type AwsClients, type ClientOptions } from './clients';
import { SqsHealQueue } from './heal-queue';
import { Ec2AutoScalingInventory } from './inventory';
import { AutoScalingLifecycle } from './lifecycle';
import { SsmNodeShell, type SsmNodeShellOptions } from './node-shell';
import { Elbv2TargetGroups, type Elbv2TargetGroupsOptions } from './target-groups';

export * from './clients';
export * from './errors';
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
  };
}
