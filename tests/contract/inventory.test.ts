import { CreateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { CreateLaunchTemplateCommand } from '@aws-sdk/client-ec2';
import { AutoScalingGroupNotFound } from '../../shared/aws/errors';
import { Ec2AutoScalingInventory } from '../../shared/aws/inventory';
import { startMoto, type Moto } from './moto';

const GROUP = 'orders-rabbitmq';
let moto: Moto;
let inventory: Ec2AutoScalingInventory;

beforeAll(async () => {
  moto = await startMoto();
  const { ec2, autoScaling } = moto.clients;
  await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'rabbitmq',
      LaunchTemplateData: { ImageId: 'ami-12c6146b', InstanceType: 't3.small' },
    }),
  );
  await autoScaling.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: GROUP,
      LaunchTemplate: { LaunchTemplateName: 'rabbitmq', Version: '$Latest' },
      MinSize: 3,
      MaxSize: 5,
      DesiredCapacity: 3,
      AvailabilityZones: ['us-east-1a'],
    }),
  );
  inventory = new Ec2AutoScalingInventory({ autoScalingGroupName: GROUP }, moto.clients);
});

afterAll(async () => moto?.stop());

it('reads the group and the instances it launched', async () => {
  const group = await inventory.describeGroup();
  const tagged = await inventory.describeGroupInstances();

  expect(group).toMatchObject({ name: GROUP, minSize: 3, maxSize: 5, desiredCapacity: 3 });
  expect(group.instances).toHaveLength(3);
  expect(group.instances.every((instance) => instance.lifecycleState === 'InService')).toBe(true);
  expect(tagged.map((instance) => instance.instanceId).sort()).toEqual(group.instances.map((instance) => instance.instanceId).sort());
  expect(tagged.every((instance) => instance.state === 'running' && instance.autoScalingGroupName === GROUP)).toBe(true);
  expect(tagged.every((instance) => instance.privateIp !== undefined)).toBe(true);
});

it('returns the known instances when some ids are unknown to EC2', async () => {
  const [first, second] = (await inventory.describeGroup()).instances;

  const facts = await inventory.describeInstances([first!.instanceId, 'i-0123456789abcdef0', second!.instanceId]);

  expect(facts.map((fact) => fact.instanceId).sort()).toEqual([first!.instanceId, second!.instanceId].sort());
});

it('writes the node name tag where describeInstances reads it', async () => {
  const [first] = (await inventory.describeGroup()).instances;

  await inventory.tagNodeName(first!.instanceId, 'rabbit@ip-10-0-1-5');

  const [facts] = await inventory.describeInstances([first!.instanceId]);
  expect(facts!.nodeName).toBe('rabbit@ip-10-0-1-5');
});

it('marks an instance unhealthy in the group', async () => {
  const [, , third] = (await inventory.describeGroup()).instances;

  await inventory.markUnhealthy(third!.instanceId);

  const after = await inventory.describeGroup();
  expect(after.instances.find((instance) => instance.instanceId === third!.instanceId)?.healthStatus).toBe('Unhealthy');
});

it('names a group that does not exist', async () => {
  const stranger = new Ec2AutoScalingInventory({ autoScalingGroupName: 'no-such-group' }, moto.clients);

  await expect(stranger.describeGroup()).rejects.toThrow(AutoScalingGroupNotFound);
});
