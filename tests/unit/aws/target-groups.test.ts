import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  InvalidTargetException,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { Elbv2TargetGroups } from '../../../shared/aws/target-groups';
import { WaitTimedOut } from '../../../shared/errors';
import { adapterConfig } from '../../support/config';

const elbv2 = mockClient(ElasticLoadBalancingV2Client);
const { amqp, management } = adapterConfig.targetGroups;
const groups = () => new Elbv2TargetGroups(adapterConfig, { elbv2: new ElasticLoadBalancingV2Client({}) }, { poll: { minDelay: 0.01, maxDelay: 0.02 } });
const health = (id: string, State: string) => ({ TargetHealthDescriptions: [{ Target: { Id: id }, TargetHealth: { State: State as never } }] });

beforeEach(() => elbv2.reset());

it('registers the instance on both groups without a port, so each group uses its own', async () => {
  elbv2.on(RegisterTargetsCommand).resolves({});

  await groups().register('i-0aaa');

  expect(elbv2).toHaveReceivedCommandWith(RegisterTargetsCommand, { TargetGroupArn: amqp, Targets: [{ Id: 'i-0aaa' }] });
  expect(elbv2).toHaveReceivedCommandWith(RegisterTargetsCommand, { TargetGroupArn: management, Targets: [{ Id: 'i-0aaa' }] });
  expect(elbv2.commandCalls(RegisterTargetsCommand)[0]!.args[0].input.Targets![0]!.Port).toBeUndefined();
});

it('treats a target EC2 no longer knows as already deregistered', async () => {
  elbv2.on(DeregisterTargetsCommand, { TargetGroupArn: amqp }).resolves({});
  elbv2
    .on(DeregisterTargetsCommand, { TargetGroupArn: management })
    .rejects(new InvalidTargetException({ $metadata: {}, message: 'The following targets are not valid instances: i-0aaa' }));

  await expect(groups().deregister('i-0aaa')).resolves.toBeUndefined();
  expect(elbv2).toHaveReceivedCommandTimes(DeregisterTargetsCommand, 2);
});

it('waits until the instance is healthy in both groups', async () => {
  elbv2.on(DescribeTargetHealthCommand, { TargetGroupArn: amqp }).resolvesOnce(health('i-0aaa', 'initial')).resolves(health('i-0aaa', 'healthy'));
  elbv2.on(DescribeTargetHealthCommand, { TargetGroupArn: management }).resolves(health('i-0aaa', 'healthy'));

  await groups().waitHealthy('i-0aaa', 5);

  expect(elbv2).toHaveReceivedCommandWith(DescribeTargetHealthCommand, { TargetGroupArn: amqp, Targets: [{ Id: 'i-0aaa' }] });
  expect(elbv2.commandCalls(DescribeTargetHealthCommand, { TargetGroupArn: amqp })).toHaveLength(2);
});

it('turns a waiter timeout into WaitTimedOut naming the group', async () => {
  elbv2.on(DescribeTargetHealthCommand, { TargetGroupArn: amqp }).resolves(health('i-0aaa', 'healthy'));
  elbv2.on(DescribeTargetHealthCommand, { TargetGroupArn: management }).resolves(health('i-0aaa', 'unhealthy'));

  const failure = await groups()
    .waitHealthy('i-0aaa', 0.2)
    .catch((error: unknown) => error);

  expect(failure).toBeInstanceOf(WaitTimedOut);
  expect((failure as Error).message).toMatch(/management/);
  expect((failure as Error).cause).toMatchObject({ name: 'TimeoutError' });
});

it('waits until draining has ended in both groups', async () => {
  elbv2.on(DescribeTargetHealthCommand).resolvesOnce(health('i-0aaa', 'draining')).resolves(health('i-0aaa', 'unused'));

  await groups().waitDeregistered('i-0aaa', 5);

  expect(elbv2.commandCalls(DescribeTargetHealthCommand).length).toBeGreaterThanOrEqual(3);
});

it('describes every target of every group', async () => {
  elbv2.on(DescribeTargetHealthCommand, { TargetGroupArn: amqp }).resolves({
    TargetHealthDescriptions: [
      { Target: { Id: 'i-0aaa' }, TargetHealth: { State: 'healthy' } },
      { Target: { Id: 'i-0bbb' }, TargetHealth: { State: 'unhealthy.draining' } },
    ],
  });
  elbv2.on(DescribeTargetHealthCommand, { TargetGroupArn: management }).resolves(health('i-0aaa', 'initial'));

  const described = await groups().describe();

  expect([...described.amqp]).toEqual([
    ['i-0aaa', 'healthy'],
    ['i-0bbb', 'draining'],
  ]);
  expect([...described.management]).toEqual([['i-0aaa', 'initial']]);
});
