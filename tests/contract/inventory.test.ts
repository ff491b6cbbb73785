import { AutoScalingGroupNotFound, AwsRequestFailed } from '../../shared/aws/errors';
import { Ec2AutoScalingInventory } from '../../shared/aws/inventory';
import { BACKENDS, startBackend, type Backend } from './backends';

const GROUP = 'orders-rabbitmq';

describe.each(BACKENDS)('%s', (name) => {
  let backend: Backend;
  let inventory: Ec2AutoScalingInventory;

  beforeAll(async () => {
    // one instance outside the group, which the group's answers must leave out
    backend = await startBackend(name, { group: { name: GROUP, minSize: 3, maxSize: 5, desiredCapacity: 3 }, instances: 1 });
    inventory = new Ec2AutoScalingInventory({ autoScalingGroupName: GROUP }, backend.clients);
  });

  afterAll(async () => backend?.stop());

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

  it("names the group's instances among others, unknown ids left out", async () => {
    const members = (await inventory.describeGroup()).instances.map((instance) => instance.instanceId);
    const [outsider] = backend.looseInstanceIds;

    const among = await inventory.groupMembersAmong([outsider!, ...members, 'i-0123456789abcdef0']);

    expect([...among].sort()).toEqual([...members].sort());
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
    const stranger = new Ec2AutoScalingInventory({ autoScalingGroupName: 'no-such-group' }, backend.clients);

    await expect(stranger.describeGroup()).rejects.toThrow(AutoScalingGroupNotFound);
  });

  // moto cannot answer a request with a fault; the local AWS answers it beneath the SDK, whose retries see it
  if (name === 'local AWS') {
    describe('on the local AWS alone: throttled requests (moto cannot inject faults)', () => {
      it('rides out a throttled DescribeAutoScalingGroups and DescribeInstances with the SDK retry', async () => {
        backend.armThrottling!('DescribeAutoScalingGroups', 1);
        backend.armThrottling!('DescribeInstances', 1);

        const group = await inventory.describeGroup();
        const tagged = await inventory.describeGroupInstances();

        expect(group.instances.length).toBeGreaterThanOrEqual(3);
        expect(tagged.length).toBeGreaterThanOrEqual(3);
        expect(backend.local!.endpoint.calls.filter((call) => call.error === 'Throttling' || call.error === 'RequestLimitExceeded')).toHaveLength(2);
      });

      it('fails with the operation named once throttling outlasts the attempts', async () => {
        backend.armThrottling!('SetInstanceHealth', 2);
        const [first] = (await inventory.describeGroup()).instances;

        const attempt = inventory.markUnhealthy(first!.instanceId);

        await expect(attempt).rejects.toThrow(AwsRequestFailed);
        await expect(attempt).rejects.toThrow(/^SetInstanceHealth failed: Throttling/);
      });
    });
  }
});
