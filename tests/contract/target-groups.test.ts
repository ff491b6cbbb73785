import { CreateSubnetCommand, CreateVpcCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateTargetGroupCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { Elbv2TargetGroups } from '../../shared/aws/target-groups';
import { startMoto, type Moto } from './moto';

let moto: Moto;
let groups: Elbv2TargetGroups;
let instanceIds: string[];

beforeAll(async () => {
  moto = await startMoto();
  const { ec2, elbv2 } = moto.clients;
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId!, CidrBlock: '10.0.1.0/24', AvailabilityZone: 'us-east-1a' }));
  const run = await ec2.send(
    new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 2, MaxCount: 2, SubnetId: subnet.Subnet!.SubnetId! }),
  );
  instanceIds = run.Instances!.map((instance) => instance.InstanceId!);
  const create = async (Name: string, Port: number) =>
    (await elbv2.send(new CreateTargetGroupCommand({ Name, Protocol: 'TCP', Port, VpcId: vpc.Vpc!.VpcId!, TargetType: 'instance' })))
      .TargetGroups![0]!.TargetGroupArn!;
  groups = new Elbv2TargetGroups(
    { targetGroups: { amqp: await create('orders-amqp', 5672), management: await create('orders-mgmt', 15672) } },
    moto.clients,
    { poll: { minDelay: 0.05, maxDelay: 0.1 } },
  );
});

afterAll(async () => moto?.stop());

it('registers on both groups and waits until healthy', async () => {
  await groups.register(instanceIds[0]!);
  await groups.waitHealthy(instanceIds[0]!, 2);

  const described = await groups.describe();
  expect(described.amqp.get(instanceIds[0]!)).toBe('healthy');
  expect(described.management.get(instanceIds[0]!)).toBe('healthy');
  expect(described.amqp.has(instanceIds[1]!)).toBe(false);
});

it('deregisters from both groups, and deregistering again is harmless', async () => {
  await groups.register(instanceIds[1]!);

  await groups.deregister(instanceIds[1]!);
  await groups.waitDeregistered(instanceIds[1]!, 2);
  await groups.deregister(instanceIds[1]!);

  const described = await groups.describe();
  expect(described.amqp.has(instanceIds[1]!)).toBe(false);
  expect(described.management.has(instanceIds[1]!)).toBe(false);
});
