import { type AutoScalingClient, DescribeAutoScalingGroupsCommand, SetInstanceHealthCommand } from '@aws-sdk/client-auto-scaling';
import {
  CreateTagsCommand,
  type EC2Client,
  paginateDescribeInstances,
  type DescribeInstancesCommandInput,
  type Filter,
  type Instance,
} from '@aws-sdk/client-ec2';
import type { Config } from '../config';
import type { Ec2State, GroupFacts, InstanceFacts, Inventory } from '../ports';
import { createAutoScalingClient, createEc2Client } from './clients';
import { AutoScalingGroupNotFound, request } from './errors';

export const NODE_NAME_TAG = 'warren:node-name';
/** On the Auto Scaling group: while it is there, warren acts on nothing (docs: the pause switch). Its value is the operator's note. */
export const PAUSE_TAG = 'warren:paused';

function pausedBy(tags: Array<{ Key?: string; Value?: string }> | undefined): { paused?: string } {
  const tag = tags?.find((candidate) => candidate.Key === PAUSE_TAG);
  return tag ? { paused: tag.Value ?? '' } : {};
}
export const RABBITMQ_VERSION_TAG = 'warren:rabbitmq-version';
export const GROUP_NAME_TAG = 'aws:autoscaling:groupName';
/** Every instance of a cluster carries it (infra/cluster.yml propagates it); the roles' SendCommand grants are scoped to it. */
export const CLUSTER_TAG = 'warren:cluster';

/*
 * EC2 refuses more than 200 values in one filter (FilterLimitExceeded), which is below the 1000
 * InstanceIds it accepts; we filter, so 200 is the batch.
 */
const IDS_PER_CALL = 200;
const PAGE_SIZE = 1000;

/** Inventory over EC2 and Auto Scaling. */
export class Ec2AutoScalingInventory implements Inventory {
  private readonly ec2: EC2Client;
  private readonly autoScaling: AutoScalingClient;

  constructor(
    private readonly config: Pick<Config, 'autoScalingGroupName'>,
    clients: { ec2?: EC2Client; autoScaling?: AutoScalingClient } = {},
  ) {
    this.ec2 = clients.ec2 ?? createEc2Client();
    this.autoScaling = clients.autoScaling ?? createAutoScalingClient();
  }

  /** Throws AutoScalingGroupNotFound when the configured group does not exist. */
  async describeGroup(): Promise<GroupFacts> {
    const name = this.config.autoScalingGroupName;
    const answer = await request('DescribeAutoScalingGroups', () =>
      this.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })),
    );
    const group = answer.AutoScalingGroups?.find((candidate) => candidate.AutoScalingGroupName === name);
    if (!group) {
      throw new AutoScalingGroupNotFound(`Auto Scaling group "${name}" (ASG_NAME) does not exist`);
    }
    return {
      name,
      minSize: group.MinSize ?? 0,
      maxSize: group.MaxSize ?? 0,
      desiredCapacity: group.DesiredCapacity ?? 0,
      instances: (group.Instances ?? []).flatMap((instance) =>
        instance.InstanceId
          ? [
              {
                instanceId: instance.InstanceId,
                lifecycleState: instance.LifecycleState ?? 'Unknown',
                healthStatus: instance.HealthStatus?.toLowerCase() === 'unhealthy' ? ('Unhealthy' as const) : ('Healthy' as const),
                availabilityZone: instance.AvailabilityZone ?? '',
              },
            ]
          : [],
      ),
      ...pausedBy(group.Tags),
    };
  }

  /*
   * An instance-id filter instead of InstanceIds: with InstanceIds EC2 fails the whole call with
   * InvalidInstanceID.NotFound when one id is unknown (not yet visible, or long gone); a filter
   * simply leaves that id out and still returns the others.
   */
  async describeInstances(instanceIds: string[]): Promise<InstanceFacts[]> {
    return this.describeByIds(instanceIds);
  }

  /* The same instance-id filter, and the group's tag: EC2 answers only the group's instances, so the answer stays as small as the group. */
  async groupMembersAmong(instanceIds: string[]): Promise<Set<string>> {
    const members = await this.describeByIds(instanceIds, [{ Name: `tag:${GROUP_NAME_TAG}`, Values: [this.config.autoScalingGroupName] }]);
    return new Set(members.map((instance) => instance.instanceId));
  }

  private async describeByIds(instanceIds: string[], alsoMatching: Filter[] = []): Promise<InstanceFacts[]> {
    const unique = [...new Set(instanceIds)];
    const facts: InstanceFacts[] = [];
    for (let start = 0; start < unique.length; start += IDS_PER_CALL) {
      const batch = unique.slice(start, start + IDS_PER_CALL);
      facts.push(...(await this.describe({ Filters: [{ Name: 'instance-id', Values: batch }, ...alsoMatching] })));
    }
    return facts;
  }

  async describeGroupInstances(): Promise<InstanceFacts[]> {
    return this.describe({ Filters: [{ Name: `tag:${GROUP_NAME_TAG}`, Values: [this.config.autoScalingGroupName] }] });
  }

  async tagNodeName(instanceId: string, nodeName: string, rabbitmqVersion?: string): Promise<void> {
    const tags = [{ Key: NODE_NAME_TAG, Value: nodeName }, ...(rabbitmqVersion ? [{ Key: RABBITMQ_VERSION_TAG, Value: rabbitmqVersion }] : [])];
    await request('CreateTags', () => this.ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: tags })));
  }

  /** The grace period is not respected: warren has already decided the node is broken. */
  async markUnhealthy(instanceId: string): Promise<void> {
    await request('SetInstanceHealth', () =>
      this.autoScaling.send(new SetInstanceHealthCommand({ InstanceId: instanceId, HealthStatus: 'Unhealthy', ShouldRespectGracePeriod: false })),
    );
  }

  private async describe(input: DescribeInstancesCommandInput): Promise<InstanceFacts[]> {
    return request('DescribeInstances', async () => {
      const facts: InstanceFacts[] = [];
      for await (const page of paginateDescribeInstances({ client: this.ec2, pageSize: PAGE_SIZE }, input)) {
        for (const reservation of page.Reservations ?? []) {
          for (const instance of reservation.Instances ?? []) {
            const fact = toInstanceFacts(instance);
            if (fact) facts.push(fact);
          }
        }
      }
      return facts;
    });
  }
}

function toInstanceFacts(instance: Instance): InstanceFacts | undefined {
  if (!instance.InstanceId) return undefined;
  const tag = (key: string) => instance.Tags?.find((candidate) => candidate.Key === key)?.Value;
  return {
    instanceId: instance.InstanceId,
    state: (instance.State?.Name ?? 'pending') as Ec2State,
    privateIp: instance.PrivateIpAddress || undefined,
    privateDnsName: instance.PrivateDnsName || undefined,
    autoScalingGroupName: tag(GROUP_NAME_TAG),
    nodeName: tag(NODE_NAME_TAG),
    rabbitmqVersion: tag(RABBITMQ_VERSION_TAG),
    launchTime: instance.LaunchTime?.getTime(),
  };
}
