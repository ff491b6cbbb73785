import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client, type Filter, type Instance } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { AwsRequestFailed } from '../../../shared/aws/errors';
import { Ec2AutoScalingInventory } from '../../../shared/aws/inventory';
import { adapterConfig } from '../../support/config';

const ec2 = mockClient(EC2Client);
const inventory = () => new Ec2AutoScalingInventory(adapterConfig, { ec2: new EC2Client({}), autoScaling: new AutoScalingClient({}) });

/** EC2 of an account with the cluster's group and another fleet; answers DescribeInstances by its filters, as EC2 does. */
function accountWith(groups: Record<string, string[]>) {
  const instances: Instance[] = Object.entries(groups).flatMap(([group, ids]) =>
    ids.map((id) => ({ InstanceId: id, State: { Name: 'terminated' as const }, Tags: [{ Key: 'aws:autoscaling:groupName', Value: group }] })),
  );
  ec2.on(DescribeInstancesCommand).callsFake((input: { Filters: Filter[] }) => {
    const matches = (instance: Instance) =>
      input.Filters.every((filter) =>
        filter.Name === 'instance-id'
          ? filter.Values!.includes(instance.InstanceId!)
          : filter.Values!.includes(instance.Tags!.find((tag) => `tag:${tag.Key}` === filter.Name)?.Value ?? ''),
      );
    return { Reservations: [{ Instances: instances.filter(matches) }] };
  });
}

beforeEach(() => ec2.reset());

describe('groupMembersAmong', () => {
  it("names the group's instances among the ids, by instance-id and group-tag filters, so unknown ids are no error", async () => {
    accountWith({ 'orders-rabbitmq': ['i-0aaa1'], 'eks-nodes': ['i-0eee1'] });

    const members = await inventory().groupMembersAmong(['i-0aaa1', 'i-0eee1', 'i-0gone', 'i-0aaa1']);

    expect(members).toEqual(new Set(['i-0aaa1']));
    expect(ec2).toHaveReceivedCommandTimes(DescribeInstancesCommand, 1);
    expect(ec2).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [
        { Name: 'instance-id', Values: ['i-0aaa1', 'i-0eee1', 'i-0gone'] },
        { Name: 'tag:aws:autoscaling:groupName', Values: ['orders-rabbitmq'] },
      ],
    });
    expect(ec2.commandCalls(DescribeInstancesCommand)[0]!.args[0].input.InstanceIds).toBeUndefined();
  });

  it('asks about at most 200 ids a call, the most values EC2 takes in one filter', async () => {
    const ids = Array.from({ length: 450 }, (_, n) => `i-${n.toString(16).padStart(8, '0')}`);
    accountWith({ 'orders-rabbitmq': [ids[0]!, ids[449]!], 'eks-nodes': ids.slice(1, 449) });

    const members = await inventory().groupMembersAmong(ids);

    const sizes = ec2.commandCalls(DescribeInstancesCommand).map((call) => call.args[0].input.Filters![0]!.Values!.length);
    expect(sizes).toEqual([200, 200, 50]);
    expect(members).toEqual(new Set([ids[0], ids[449]]));
  });

  it('fails naming the operation when EC2 does', async () => {
    ec2.on(DescribeInstancesCommand).rejects(Object.assign(new Error('Request limit exceeded.'), { name: 'RequestLimitExceeded' }));

    await expect(inventory().groupMembersAmong(['i-0aaa1'])).rejects.toBeInstanceOf(AwsRequestFailed);
  });
});
