import { AutoScalingClient, DescribeAutoScalingGroupsCommand, SetInstanceHealthCommand } from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand, DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { AutoScalingGroupNotFound } from '../../../shared/aws/errors';
import { Ec2AutoScalingInventory } from '../../../shared/aws/inventory';
import { adapterConfig } from '../../support/config';

const ec2 = mockClient(EC2Client);
const autoScaling = mockClient(AutoScalingClient);
const inventory = () => new Ec2AutoScalingInventory(adapterConfig, { ec2: new EC2Client({}), autoScaling: new AutoScalingClient({}) });

const instance = (id: string, state = 'running', tags: Record<string, string> = {}): Instance => ({
  InstanceId: id,
  State: { Name: state as never },
  PrivateIpAddress: '10.0.1.5',
  PrivateDnsName: 'ip-10-0-1-5.ec2.internal',
  Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
});

beforeEach(() => {
  ec2.reset();
  autoScaling.reset();
});

describe('describeGroup', () => {
  it('reads the configured group with its instances', async () => {
    autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        {
          AutoScalingGroupName: 'orders-rabbitmq',
          MinSize: 3,
          MaxSize: 5,
          DesiredCapacity: 3,
          Instances: [
            { InstanceId: 'i-0aaa', LifecycleState: 'InService', HealthStatus: 'Healthy', AvailabilityZone: 'us-east-1a' } as never,
            { InstanceId: 'i-0bbb', LifecycleState: 'Pending:Wait', HealthStatus: 'Unhealthy', AvailabilityZone: 'us-east-1b' } as never,
          ],
        } as never,
      ],
    });

    const group = await inventory().describeGroup();

    expect(autoScaling).toHaveReceivedCommandWith(DescribeAutoScalingGroupsCommand, { AutoScalingGroupNames: ['orders-rabbitmq'] });
    expect(group).toEqual({
      name: 'orders-rabbitmq',
      minSize: 3,
      maxSize: 5,
      desiredCapacity: 3,
      instances: [
        { instanceId: 'i-0aaa', lifecycleState: 'InService', healthStatus: 'Healthy', availabilityZone: 'us-east-1a' },
        { instanceId: 'i-0bbb', lifecycleState: 'Pending:Wait', healthStatus: 'Unhealthy', availabilityZone: 'us-east-1b' },
      ],
    });
  });

  it('names the missing group when it does not exist', async () => {
    autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });

    const attempt = inventory().describeGroup();

    await expect(attempt).rejects.toThrow(AutoScalingGroupNotFound);
    await expect(attempt).rejects.toThrow(/orders-rabbitmq/);
  });
});

describe('describeInstances', () => {
  it('asks by instance-id filter, so ids EC2 does not know are simply absent', async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        { Instances: [instance('i-0known', 'running', { 'warren:node-name': 'rabbit@ip-10-0-1-5', 'aws:autoscaling:groupName': 'orders-rabbitmq' })] },
      ],
    });

    const facts = await inventory().describeInstances(['i-0known', 'i-0gone']);

    expect(ec2).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [{ Name: 'instance-id', Values: ['i-0known', 'i-0gone'] }],
    });
    expect(ec2.commandCalls(DescribeInstancesCommand)[0]!.args[0].input.InstanceIds).toBeUndefined();
    expect(facts).toEqual([
      {
        instanceId: 'i-0known',
        state: 'running',
        privateIp: '10.0.1.5',
        privateDnsName: 'ip-10-0-1-5.ec2.internal',
        autoScalingGroupName: 'orders-rabbitmq',
        nodeName: 'rabbit@ip-10-0-1-5',
      },
    ]);
  });

  it('reads the version tag and the launch time', async () => {
    const launched = new Date('2024-01-01T00:00:05Z');
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            { ...instance('i-0known', 'running', { 'warren:node-name': 'rabbit@ip-10-0-1-5', 'warren:rabbitmq-version': '3.13.7' }), LaunchTime: launched },
          ],
        },
      ],
    });

    const [facts] = await inventory().describeInstances(['i-0known']);

    expect(facts).toMatchObject({ nodeName: 'rabbit@ip-10-0-1-5', rabbitmqVersion: '3.13.7', launchTime: launched.getTime() });
  });

  it('splits many ids into batches EC2 accepts in one filter', async () => {
    ec2.on(DescribeInstancesCommand).callsFake((input) => ({
      Reservations: [{ Instances: input.Filters[0].Values.map((id: string) => instance(id)) }],
    }));
    const ids = Array.from({ length: 450 }, (_, n) => `i-${n.toString(16).padStart(8, '0')}`);

    const facts = await inventory().describeInstances(ids);

    const batches = ec2.commandCalls(DescribeInstancesCommand).map((call) => call.args[0].input.Filters![0]!.Values!.length);
    expect(batches).toEqual([200, 200, 50]);
    expect(facts.map((fact) => fact.instanceId)).toEqual(ids);
  });

  it('makes no call for no ids', async () => {
    expect(await inventory().describeInstances([])).toEqual([]);
    expect(ec2).not.toHaveReceivedCommand(DescribeInstancesCommand);
  });
});

describe('describeGroupInstances', () => {
  it('follows every page of the group-name tag filter', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce({ Reservations: [{ Instances: [instance('i-0one')] }], NextToken: 'page-2' })
      .resolvesOnce({ Reservations: [{ Instances: [instance('i-0two', 'terminated')] }] });

    const facts = await inventory().describeGroupInstances();

    expect(ec2).toHaveReceivedCommandTimes(DescribeInstancesCommand, 2);
    expect(ec2).toHaveReceivedNthSpecificCommandWith(1, DescribeInstancesCommand, {
      Filters: [{ Name: 'tag:aws:autoscaling:groupName', Values: ['orders-rabbitmq'] }],
    });
    expect(ec2).toHaveReceivedNthSpecificCommandWith(2, DescribeInstancesCommand, { NextToken: 'page-2' });
    expect(facts.map((fact) => [fact.instanceId, fact.state])).toEqual([
      ['i-0one', 'running'],
      ['i-0two', 'terminated'],
    ]);
  });
});

describe('writes', () => {
  it('tags the node name', async () => {
    ec2.on(CreateTagsCommand).resolves({});

    await inventory().tagNodeName('i-0aaa', 'rabbit@ip-10-0-1-5');

    expect(ec2).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: ['i-0aaa'],
      Tags: [{ Key: 'warren:node-name', Value: 'rabbit@ip-10-0-1-5' }],
    });
  });

  it('tags the node name and the RabbitMQ version in one call', async () => {
    ec2.on(CreateTagsCommand).resolves({});

    await inventory().tagNodeName('i-0aaa', 'rabbit@ip-10-0-1-5', '4.0.5');

    expect(ec2).toHaveReceivedCommandTimes(CreateTagsCommand, 1);
    expect(ec2).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: ['i-0aaa'],
      Tags: [
        { Key: 'warren:node-name', Value: 'rabbit@ip-10-0-1-5' },
        { Key: 'warren:rabbitmq-version', Value: '4.0.5' },
      ],
    });
  });

  it('marks an instance unhealthy without waiting out its grace period', async () => {
    autoScaling.on(SetInstanceHealthCommand).resolves({});

    await inventory().markUnhealthy('i-0aaa');

    expect(autoScaling).toHaveReceivedCommandWith(SetInstanceHealthCommand, {
      InstanceId: 'i-0aaa',
      HealthStatus: 'Unhealthy',
      ShouldRespectGracePeriod: false,
    });
  });
});
