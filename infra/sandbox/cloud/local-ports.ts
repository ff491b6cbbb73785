import { AutoScalingGroupNotFound, request } from '../../../shared/aws/errors';
import { GROUP_NAME_TAG, NODE_NAME_TAG, RABBITMQ_VERSION_TAG } from '../../../shared/aws/inventory';
import { lifecycleRequest } from '../../../shared/aws/lifecycle';
import type { Config } from '../../../shared/config';
import type { Ec2State, GroupFacts, InstanceFacts, Inventory, Lifecycle, LifecycleActionRef } from '../../../shared/ports';
import type { LocalAutoScalingGroup } from './autoscaling';
import type { Ec2Instance, LocalEc2 } from './ec2';

interface LocalCloud {
  ec2: LocalEc2;
  group: LocalAutoScalingGroup;
}

/** Inventory over the local EC2 and Auto Scaling model, answering exactly as Ec2AutoScalingInventory does. */
export class LocalInventory implements Inventory {
  constructor(private readonly cloud: LocalCloud, private readonly config: Pick<Config, 'autoScalingGroupName'>) {}

  async describeGroup(): Promise<GroupFacts> {
    const name = this.config.autoScalingGroupName;
    const group = await call('DescribeAutoScalingGroups', () => (this.cloud.group.name === name ? this.cloud.group.describe() : undefined));
    if (!group) throw new AutoScalingGroupNotFound(`Auto Scaling group "${name}" (ASG_NAME) does not exist`);
    return {
      name,
      minSize: group.minSize,
      maxSize: group.maxSize,
      desiredCapacity: group.desiredCapacity,
      instances: group.instances.map((member) => ({
        instanceId: member.instanceId,
        lifecycleState: member.lifecycleState,
        healthStatus: member.healthStatus,
        availabilityZone: member.availabilityZone,
      })),
    };
  }

  /** Unknown ids are left out, as the adapter's instance-id filter leaves them out. */
  async describeInstances(instanceIds: string[]): Promise<InstanceFacts[]> {
    const instances = await call('DescribeInstances', () => this.cloud.ec2.describe([...new Set(instanceIds)]));
    return instances.map(toInstanceFacts);
  }

  async describeGroupInstances(): Promise<InstanceFacts[]> {
    const name = this.config.autoScalingGroupName;
    const instances = await call('DescribeInstances', () => this.cloud.ec2.describe());
    return instances.filter((instance) => instance.tags[GROUP_NAME_TAG] === name).map(toInstanceFacts);
  }

  /** The adapter's instance-id and group-tag filters: unknown ids and other groups' instances are left out. */
  async groupMembersAmong(instanceIds: string[]): Promise<Set<string>> {
    const name = this.config.autoScalingGroupName;
    const instances = await call('DescribeInstances', () => this.cloud.ec2.describe([...new Set(instanceIds)]));
    return new Set(instances.filter((instance) => instance.tags[GROUP_NAME_TAG] === name).map((instance) => instance.instanceId));
  }

  async tagNodeName(instanceId: string, nodeName: string, rabbitmqVersion?: string): Promise<void> {
    const tags = { [NODE_NAME_TAG]: nodeName, ...(rabbitmqVersion ? { [RABBITMQ_VERSION_TAG]: rabbitmqVersion } : {}) };
    await call('CreateTags', () => this.cloud.ec2.createTags(instanceId, tags));
  }

  async markUnhealthy(instanceId: string): Promise<void> {
    await call('SetInstanceHealth', () => this.cloud.group.setInstanceHealth(instanceId, 'Unhealthy', false));
  }
}

/** Lifecycle over the local group: "No active Lifecycle Action found" becomes 'no-active-action', as in AutoScalingLifecycle. */
export class LocalLifecycle implements Lifecycle {
  constructor(private readonly cloud: LocalCloud) {}

  heartbeat(action: LifecycleActionRef): Promise<'recorded' | 'no-active-action'> {
    const operation = 'RecordLifecycleActionHeartbeat';
    return lifecycleRequest(operation, 'recorded', () => answer(() => this.cloud.group.recordLifecycleActionHeartbeat(target(action))));
  }

  complete(action: LifecycleActionRef, result: 'CONTINUE' | 'ABANDON'): Promise<'completed' | 'no-active-action'> {
    const operation = 'CompleteLifecycleAction';
    return lifecycleRequest(operation, 'completed', () => answer(() => this.cloud.group.completeLifecycleAction({ ...target(action), result })));
  }
}

/** Like the adapter: the token names the action exactly; the instance id is the fallback. */
function target(action: LifecycleActionRef) {
  return {
    groupName: action.autoScalingGroupName,
    hookName: action.lifecycleHookName,
    ...(action.lifecycleActionToken ? { token: action.lifecycleActionToken } : { instanceId: action.instanceId }),
  };
}

/** One request to the model, failing like an AWS call would: AwsRequestFailed naming the operation. */
function call<T>(operation: string, work: () => T): Promise<T> {
  return request(operation, () => answer(work));
}

async function answer<T>(work: () => T): Promise<T> {
  // a real request never answers within the caller's own turn
  await Promise.resolve();
  return work();
}

function toInstanceFacts(instance: Ec2Instance): InstanceFacts {
  return {
    instanceId: instance.instanceId,
    state: instance.state as Ec2State,
    privateIp: instance.privateIp,
    privateDnsName: instance.privateDnsName,
    autoScalingGroupName: instance.tags[GROUP_NAME_TAG],
    nodeName: instance.tags[NODE_NAME_TAG],
    rabbitmqVersion: instance.tags[RABBITMQ_VERSION_TAG],
    launchTime: instance.launchTime,
  };
}
