import net from 'node:net';
import { DescribeAutoScalingInstancesCommand, DescribeScalingActivitiesCommand, SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand, DescribeInstancesCommand, TerminateInstancesCommand, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { AwsRequestFailed } from '../../../shared/aws/errors';
import { GROUP_NAME_TAG } from '../../../shared/aws/inventory';
import { WaitTimedOut } from '../../../shared/errors';
import { closeAll, eventually, failureOf, localAws, TARGET_GROUP_ARNS } from './aws-endpoint-helpers';

/*
 * The query-protocol services of the local AWS endpoint (EC2, Auto Scaling, ELBv2) over the real
 * models on real time, asked by warren's own adapters and by raw SDK commands: what the SDK sends,
 * what it makes of the answers, and how its retries meet the endpoint's faults.
 */

jest.setTimeout(10_000);
afterEach(closeAll);

describe('EC2', () => {
  it("describes the group's instances through the inventory adapter, and reads back the tags it writes", async () => {
    const aws = await localAws({ group: { desiredCapacity: 3 } });
    const members = await aws.startInService();
    const stranger = aws.ec2.runInstance({ availabilityZone: 'us-east-1a', tags: { team: 'billing' } });
    await eventually(() => aws.ec2.get(stranger)?.state === 'running', 'the stranger running');

    await aws.inventory.tagNodeName(members[0]!.instanceId, 'rabbit@ip-10-0-1-10', '3.13.7');
    const tagged = await aws.inventory.describeGroupInstances();
    const among = await aws.inventory.groupMembersAmong([stranger, members[1]!.instanceId, 'i-0123456789abcdef0']);
    const [first] = await aws.inventory.describeInstances([members[0]!.instanceId]);

    expect(tagged.map((instance) => instance.instanceId).sort()).toEqual(members.map((member) => member.instanceId).sort());
    expect(tagged.every((instance) => instance.state === 'running' && instance.autoScalingGroupName === 'orders-rabbitmq')).toBe(true);
    expect(tagged.every((instance) => /^ip-10-0-\d-\d+\.ec2\.internal$/.test(instance.privateDnsName ?? ''))).toBe(true);
    expect(among).toEqual(new Set([members[1]!.instanceId]));
    expect(first).toMatchObject({ nodeName: 'rabbit@ip-10-0-1-10', rabbitmqVersion: '3.13.7', privateIp: aws.ec2.get(members[0]!.instanceId)!.privateIp });
    expect(first!.launchTime).toBe(aws.ec2.get(members[0]!.instanceId)!.launchTime);
  });

  it('answers InstanceIds with an unknown id as EC2 does, where the instance-id filter leaves it out', async () => {
    const aws = await localAws({ group: { desiredCapacity: 1 } });
    const [member] = await aws.startInService();

    const byIds = await failureOf(aws.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [member!.instanceId, 'i-0123456789abcdef0'] })));
    const facts = await aws.inventory.describeInstances([member!.instanceId, 'i-0123456789abcdef0']);

    expect(byIds).toMatchObject({ name: 'InvalidInstanceID.NotFound', message: "The instance ID 'i-0123456789abcdef0' does not exist" });
    expect(facts.map((fact) => fact.instanceId)).toEqual([member!.instanceId]);
  });

  it('pages with MaxResults 5 over seven instances and returns every one exactly once', async () => {
    const aws = await localAws({ group: { desiredCapacity: 1 } });
    const ids = Array.from({ length: 7 }, (_, n) => aws.ec2.runInstance({ availabilityZone: 'us-east-1b', tags: { batch: n < 4 ? 'early' : 'late' } }));

    const pages = [];
    for await (const page of paginateDescribeInstances({ client: aws.clients.ec2, pageSize: 5 }, { Filters: [{ Name: 'tag-key', Values: ['batch'] }] })) {
      pages.push(page.Reservations!.flatMap((reservation) => reservation.Instances!.map((instance) => instance.InstanceId!)));
    }
    const late = await aws.clients.ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'tag:batch', Values: ['l*'] },
          { Name: 'instance-state-name', Values: ['pending', 'running'] },
        ],
      }),
    );

    expect(pages.map((page) => page.length)).toEqual([5, 2]);
    expect(pages.flat().sort()).toEqual([...ids].sort());
    expect(aws.endpoint.calls.filter((call) => call.operation === 'DescribeInstances').map((call) => call.input.MaxResults)).toEqual(['5', '5', undefined]);
    expect(late.Reservations!.map((reservation) => reservation.Instances![0]!.InstanceId).sort()).toEqual(ids.slice(4).sort());
    expect(late.NextToken).toBeUndefined();
  });

  it("refuses what EC2 refuses: MaxResults with InstanceIds, MaxResults below 5, a filter of more than 200 values, an 'aws:' tag", async () => {
    const aws = await localAws({ group: { desiredCapacity: 1 } });
    const [member] = await aws.startInService();
    const ids = Array.from({ length: 201 }, (_, n) => `i-${n.toString(16).padStart(17, '0')}`);

    const combined = await failureOf(aws.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [member!.instanceId], MaxResults: 5 })));
    const small = await failureOf(aws.clients.ec2.send(new DescribeInstancesCommand({ MaxResults: 4 })));
    const tooMany = await failureOf(aws.clients.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids }] })));
    const reserved = await failureOf(
      aws.clients.ec2.send(new CreateTagsCommand({ Resources: [member!.instanceId], Tags: [{ Key: GROUP_NAME_TAG, Value: 'other' }] })),
    );
    const atTheLimit = await aws.inventory.describeInstances([...ids.slice(0, 199), member!.instanceId]);

    expect(combined).toMatchObject({ name: 'InvalidParameterCombination', message: 'The parameter instancesSet cannot be used with the parameter maxResults' });
    expect(small).toMatchObject({ name: 'InvalidParameterValue' });
    expect(tooMany).toMatchObject({ name: 'FilterLimitExceeded', message: 'The maximum number of filter values specified on a single call is 200' });
    expect(reserved).toMatchObject({ name: 'InvalidParameterValue' });
    expect(aws.ec2.get(member!.instanceId)!.tags[GROUP_NAME_TAG]).toBe('orders-rabbitmq');
    expect(atTheLimit.map((fact) => fact.instanceId)).toEqual([member!.instanceId]);
  });

  it('fails tagging an instance EC2 does not know, after the retries the adapter gives that error', async () => {
    const aws = await localAws({ group: { desiredCapacity: 1 } });

    const failure = await failureOf(aws.inventory.tagNodeName('i-0123456789abcdef0', 'rabbit@x'));

    expect(failure).toBeInstanceOf(AwsRequestFailed);
    expect(failure.message).toBe("CreateTags failed: InvalidInstanceID.NotFound: The instance ID 'i-0123456789abcdef0' does not exist");
    // InvalidInstanceID.NotFound is eventually consistent on CreateTags: asked again once (maxAttempts 2)
    expect(aws.endpoint.count('CreateTags')).toBe(2);
  });

  it('terminates an instance: shutting-down at once, then still described as terminated, without its address', async () => {
    const aws = await localAws({ group: { desiredCapacity: 1 } });
    const [member] = await aws.startInService();
    const id = member!.instanceId;

    const answer = await aws.clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await eventually(() => aws.ec2.get(id)?.state === 'terminated', 'terminated');
    const [fact] = await aws.inventory.describeInstances([id]);
    const raw = await aws.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));

    expect(answer.TerminatingInstances).toEqual([
      { InstanceId: id, PreviousState: { Code: 16, Name: 'running' }, CurrentState: { Code: 32, Name: 'shutting-down' } },
    ]);
    expect(aws.host.kills).toEqual([id]);
    expect(fact).toMatchObject({
      instanceId: id,
      state: 'terminated',
      privateIp: undefined,
      privateDnsName: undefined,
      autoScalingGroupName: 'orders-rabbitmq',
    });
    expect(raw.Reservations![0]!.Instances![0]!.State).toEqual({ Code: 48, Name: 'terminated' });
  });
});

describe('Auto Scaling', () => {
  it('describes the group through the inventory adapter, changes its capacity, and reports the activities newest first, in pages', async () => {
    const aws = await localAws({ group: { minSize: 1, maxSize: 4, desiredCapacity: 2 } });
    await aws.startInService();

    const before = await aws.inventory.describeGroup();
    await aws.clients.autoScaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'orders-rabbitmq', DesiredCapacity: 3 }));
    const above = await failureOf(aws.clients.autoScaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: 'orders-rabbitmq', DesiredCapacity: 5 })));
    const after = await aws.inventory.describeGroup();
    const first = await aws.clients.autoScaling.send(new DescribeScalingActivitiesCommand({ AutoScalingGroupName: 'orders-rabbitmq', MaxRecords: 2 }));
    const second = await aws.clients.autoScaling.send(
      new DescribeScalingActivitiesCommand({ AutoScalingGroupName: 'orders-rabbitmq', MaxRecords: 2, NextToken: first.NextToken }),
    );

    expect(before).toMatchObject({ name: 'orders-rabbitmq', minSize: 1, maxSize: 4, desiredCapacity: 2 });
    expect(before.instances.map((instance) => [instance.lifecycleState, instance.healthStatus])).toEqual([
      ['InService', 'Healthy'],
      ['InService', 'Healthy'],
    ]);
    expect(above).toMatchObject({ name: 'ValidationError', message: 'New SetDesiredCapacity value 5 is above max value 4 for the AutoScalingGroup.' });
    expect(after.desiredCapacity).toBe(3);
    const added = after.instances.find((instance) => !before.instances.some((known) => known.instanceId === instance.instanceId))!;
    expect(['Pending', 'Pending:Wait']).toContain(added.lifecycleState);
    expect(first.Activities!.map((activity) => activity.Description)).toEqual([
      `Launching a new EC2 instance: ${added.instanceId}`,
      expect.stringMatching(/^Launching a new EC2 instance: i-/),
    ]);
    expect(first.Activities![0]!.StatusCode).not.toBe('Successful');
    expect(first.Activities![1]!).toMatchObject({ StatusCode: 'Successful', Progress: 100 });
    expect(first.Activities![0]!.StartTime!.getTime()).toBeGreaterThanOrEqual(first.Activities![1]!.StartTime!.getTime());
    expect(second.Activities).toHaveLength(1);
    expect(second.NextToken).toBeUndefined();
    const all = [...first.Activities!, ...second.Activities!].map((activity) => activity.Description!.split(': ')[1]);
    expect(all.sort()).toEqual(after.instances.map((instance) => instance.instanceId).sort());
  });

  it("describes the group's instances one by one (the runbook's stuck-hook look), by id and in pages, and refuses more than 50 records", async () => {
    const aws = await localAws();
    const members = await aws.startInService();
    const describe = (input: ConstructorParameters<typeof DescribeAutoScalingInstancesCommand>[0] = {}) =>
      aws.clients.autoScaling.send(new DescribeAutoScalingInstancesCommand(input));

    const all = await describe();
    const one = await describe({ InstanceIds: [members[0]!.instanceId, 'i-0123456789abcdef0'] });
    const first = await describe({ MaxRecords: 2 });
    const second = await describe({ MaxRecords: 2, NextToken: first.NextToken });
    const tooMany = await failureOf(describe({ MaxRecords: 51 }));

    expect(all.AutoScalingInstances!.map((instance) => instance.InstanceId).sort()).toEqual(members.map((member) => member.instanceId).sort());
    expect(all.AutoScalingInstances![0]).toMatchObject({
      AutoScalingGroupName: 'orders-rabbitmq',
      LifecycleState: 'InService',
      HealthStatus: 'HEALTHY',
      ProtectedFromScaleIn: false,
    });
    expect(all.NextToken).toBeUndefined();
    expect(one.AutoScalingInstances!.map((instance) => instance.InstanceId)).toEqual([members[0]!.instanceId]);
    expect([...first.AutoScalingInstances!, ...second.AutoScalingInstances!].map((instance) => instance.InstanceId)).toEqual(
      all.AutoScalingInstances!.map((instance) => instance.InstanceId),
    );
    expect(second.NextToken).toBeUndefined();
    expect(tooMany).toMatchObject({ name: 'ValidationError', message: expect.stringContaining("at 'maxRecords' failed to satisfy constraint") });
  });
});

describe('ELBv2', () => {
  it('registers an instance in both groups and waits until it is healthy, then drains it and waits until it is gone', async () => {
    const aws = await localAws({ group: { desiredCapacity: 1 } });
    const [member] = await aws.startInService();
    const id = member!.instanceId;

    await aws.targets.register(id);
    await aws.targets.waitHealthy(id, 3);
    const healthy = await aws.targets.describe();
    const raw = await aws.clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: TARGET_GROUP_ARNS.amqp, Targets: [{ Id: id }] }));
    await aws.targets.deregister(id);
    const draining = await aws.targets.describe();
    await aws.targets.waitDeregistered(id, 3);
    const gone = await aws.clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: TARGET_GROUP_ARNS.amqp, Targets: [{ Id: id }] }));

    expect(healthy).toEqual({ amqp: new Map([[id, 'healthy']]), management: new Map([[id, 'healthy']]) });
    expect(raw.TargetHealthDescriptions).toEqual([
      { Target: { Id: id, Port: aws.host.address(id)!.amqpPort }, HealthCheckPort: String(aws.host.address(id)!.amqpPort), TargetHealth: { State: 'healthy' } },
    ]);
    expect(draining).toEqual({ amqp: new Map([[id, 'draining']]), management: new Map([[id, 'draining']]) });
    expect(gone.TargetHealthDescriptions).toEqual([
      { Target: { Id: id }, TargetHealth: { State: 'unused', Reason: 'Target.NotRegistered', Description: 'Target is not registered to the target group' } },
    ]);
  });

  it('refuses an instance that is not running with InvalidTargetException, and an unknown group with TargetGroupNotFoundException', async () => {
    const aws = await localAws({ group: { desiredCapacity: 1, terminateHook: null } });
    const [member] = await aws.startInService();
    const gone = member!.instanceId;
    await aws.clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone] }));
    await eventually(() => aws.ec2.get(gone)?.state === 'terminated', 'terminated');

    const refused = await failureOf(aws.targets.register(gone));
    const unknown = await failureOf(aws.clients.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: `${TARGET_GROUP_ARNS.amqp}0` })));

    expect(refused).toBeInstanceOf(AwsRequestFailed);
    expect(refused.cause).toMatchObject({
      name: 'InvalidTargetException',
      message: `The following targets are not in a running state and cannot be registered: '${gone}'`,
    });
    expect(unknown).toMatchObject({ name: 'TargetGroupNotFoundException' });
    expect(aws.targetGroups.amqp.describe()).toEqual([]);
  });

  it('ends waitHealthy at its bound with WaitTimedOut when the instance stops listening', async () => {
    const aws = await localAws({ group: { desiredCapacity: 1 } });
    const [member] = await aws.startInService();
    await aws.targets.register(member!.instanceId);
    await aws.host.kill(member!.instanceId);

    const startedAt = Date.now();
    const failure = await failureOf(aws.targets.waitHealthy(member!.instanceId, 1.1));
    const waitedMs = Date.now() - startedAt;

    expect(failure).toBeInstanceOf(WaitTimedOut);
    expect(waitedMs).toBeGreaterThanOrEqual(1_050);
    expect(waitedMs).toBeLessThan(2_500);
    expect((await aws.targets.describe()).amqp.get(member!.instanceId)).toBe('unhealthy');
  });
});

describe('faults beneath the SDK', () => {
  it('a throttled DescribeInstances is retried by the SDK and succeeds', async () => {
    const aws = await localAws({ group: { desiredCapacity: 1 } });
    const [member] = await aws.startInService();
    aws.endpoint.armFault({ kind: 'throttling', operation: 'DescribeInstances', times: 1 });

    const facts = await aws.inventory.describeInstances([member!.instanceId]);

    expect(facts.map((fact) => fact.instanceId)).toEqual([member!.instanceId]);
    expect(aws.endpoint.calls.filter((call) => call.operation === 'DescribeInstances').map((call) => call.error)).toEqual(['RequestLimitExceeded', undefined]);
    expect(aws.endpoint.clearFaults()).toEqual([]);
  });

  it('throttling on every attempt fails with AwsRequestFailed naming RequestLimitExceeded', async () => {
    const aws = await localAws({ group: { desiredCapacity: 1 }, maxAttempts: 2 });
    const [member] = await aws.startInService();
    aws.endpoint.armFault({ kind: 'throttling', operation: 'DescribeInstances', times: 3 });

    const failure = await failureOf(aws.inventory.describeInstances([member!.instanceId]));

    expect(failure).toBeInstanceOf(AwsRequestFailed);
    expect(failure.message).toMatch(/^DescribeInstances failed: RequestLimitExceeded: Request limit exceeded\./);
    expect(aws.endpoint.count('DescribeInstances')).toBe(2);
    expect(aws.endpoint.clearFaults().map((fault) => fault.times)).toEqual([1]);
    // the next call is answered again
    expect(await aws.inventory.describeInstances([member!.instanceId])).toHaveLength(1);
  });

  it('an internal failure of Auto Scaling is retried too, and DescribeAutoScalingGroups answers', async () => {
    const aws = await localAws({ group: { desiredCapacity: 1 } });
    await aws.startInService();
    aws.endpoint.armFault({ kind: '5xx', operation: 'DescribeAutoScalingGroups', times: 1 });

    const group = await aws.inventory.describeGroup();

    expect(group.instances).toHaveLength(1);
    expect(aws.endpoint.calls.filter((call) => call.operation === 'DescribeAutoScalingGroups').map((call) => call.error)).toEqual([
      'InternalFailure',
      undefined,
    ]);
  });

  it("a tag write on an instance EC2 does not show yet is retried by warren's clients until it does", async () => {
    const aws = await localAws({ group: { desiredCapacity: 1 } });
    const [member] = await aws.startInService();
    aws.endpoint.armFault({ kind: 'not-yet-visible', operation: 'CreateTags', times: 1 });

    await aws.inventory.tagNodeName(member!.instanceId, 'rabbit@ip-10-0-1-5');

    expect(aws.endpoint.calls.filter((call) => call.operation === 'CreateTags').map((call) => call.error)).toEqual(['InvalidInstanceID.NotFound', undefined]);
    expect((await aws.inventory.describeInstances([member!.instanceId]))[0]!.nodeName).toBe('rabbit@ip-10-0-1-5');
  });

  it('a registration the load balancer does not accept yet is retried too; an operation without such an error is refused', async () => {
    const aws = await localAws({ group: { desiredCapacity: 1 } });
    await aws.startInService();

    expect(() => aws.endpoint.armFault({ kind: 'not-yet-visible', operation: 'DescribeInstances', times: 1 })).toThrow(
      /only CreateTags, SendCommand, RegisterTargets/,
    );
    aws.endpoint.armFault({ kind: 'not-yet-visible', operation: 'RegisterTargets', times: 1 });
    const [member] = (await aws.inventory.describeGroup()).instances;
    await aws.targets.register(member!.instanceId);

    // RegisterTargets retries InvalidTarget (a launch not yet known to the load balancer): one fault, one more request
    expect(
      aws.endpoint.calls
        .filter((call) => call.operation === 'RegisterTargets')
        .map((call) => call.error ?? 'ok')
        .sort(),
    ).toEqual(['InvalidTarget', 'ok', 'ok']);
  });
});

it('carries on answering after a client hangs up in the middle of its request', async () => {
  const aws = await localAws({ group: { desiredCapacity: 1 } });
  const [member] = await aws.startInService();
  const { port } = new URL(aws.endpoint.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/ec2/aws4_request\r\nContent-Length: 100\r\n\r\nAction=Describe',
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 20));

  expect(await aws.inventory.describeInstances([member!.instanceId])).toHaveLength(1);
});
