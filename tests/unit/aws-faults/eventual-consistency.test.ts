import { AwsRequestFailed } from '../../../shared/aws/errors';
import { MAX_ATTEMPTS } from '../../../shared/aws/clients';
import { Ec2AutoScalingInventory } from '../../../shared/aws/inventory';
import { AutoScalingLifecycle } from '../../../shared/aws/lifecycle';
import { SsmNodeShell } from '../../../shared/aws/node-shell';
import { Elbv2TargetGroups } from '../../../shared/aws/target-groups';
import { adapterConfig } from '../../support/config';
import { FakeAwsEndpoint, fault, ok, requestsSettle } from '../../support/fake-aws-endpoint';

/*
 * Answers that mean "not visible yet" right after an instance appears (EVENTUALLY_CONSISTENT_ERRORS
 * in shared/aws/clients.ts) are retried like throttling, then fail cleanly; the same names where they
 * mean "already done" or "not yet, ask again" are answers, not failures, and are not retried.
 */

const endpoint = new FakeAwsEndpoint();
beforeAll(() => endpoint.start());
afterAll(() => endpoint.stop());
beforeEach(() => endpoint.reset());

const ID = 'i-0aaa1111bbbb2222c';
const poll = { minDelay: 0.01, maxDelay: 0.05 };
const inventory = () => new Ec2AutoScalingInventory(adapterConfig, endpoint.clients());
const nodes = () => new SsmNodeShell(adapterConfig, endpoint.clients(), { poll, maxWaitSeconds: 0.5 });
const targets = () => new Elbv2TargetGroups(adapterConfig, endpoint.clients(), { poll });
const lifecycle = () => new AutoScalingLifecycle(endpoint.clients());

const TAGS_NOT_FOUND = fault(400, 'InvalidInstanceID.NotFound', `The instance ID '${ID}' does not exist`);
const AGENT_NOT_REGISTERED = fault(400, 'InvalidInstanceId', `Instances [[${ID}]] not in a valid state for account 123456789012`);
const TARGET_NOT_READY = fault(400, 'InvalidTarget', `The following targets are not in a running state and cannot be registered: '${ID}'`);
const sent = ok({ Command: { CommandId: 'cmd-0001', Status: 'Pending' } });
const drained = ok({
  CommandId: 'cmd-0001',
  InstanceId: ID,
  Status: 'Success',
  StandardOutputContent: '{"node":"rabbit@ip-10-0-1-5","drained":true}\n',
  StandardErrorContent: '',
});
const healthy = ok(
  `<TargetHealthDescriptions><member><Target><Id>${ID}</Id></Target><TargetHealth><State>healthy</State></TargetHealth></member></TargetHealthDescriptions>`,
);

async function failureOf(work: Promise<unknown>): Promise<AwsRequestFailed> {
  const failure = await work.catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(AwsRequestFailed);
  return failure as AwsRequestFailed;
}

describe('EC2 InvalidInstanceID.NotFound on CreateTags (an instance launched moments ago)', () => {
  it('is retried until EC2 sees the instance', async () => {
    endpoint.next('CreateTags', TAGS_NOT_FOUND, TAGS_NOT_FOUND).on('CreateTags', ok('<return>true</return>'));

    await inventory().tagNodeName(ID, 'rabbit@ip-10-0-1-5');

    expect(endpoint.count('CreateTags')).toBe(3);
  });

  it('fails cleanly when EC2 never sees it', async () => {
    endpoint.on('CreateTags', TAGS_NOT_FOUND);

    const failure = await failureOf(inventory().tagNodeName(ID, 'rabbit@ip-10-0-1-5'));

    expect(failure.operation).toBe('CreateTags');
    expect(failure.cause).toMatchObject({ name: 'InvalidInstanceID.NotFound' });
    expect(endpoint.count('CreateTags')).toBe(MAX_ATTEMPTS);
  });
});

describe('SSM InvalidInstanceId (the agent has not registered the instance yet)', () => {
  it('on SendCommand is retried until the agent is registered', async () => {
    endpoint.next('SendCommand', AGENT_NOT_REGISTERED).on('SendCommand', sent).on('GetCommandInvocation', drained);

    const result = await nodes().run(ID, 'drain', {});

    expect(result).toEqual({ node: 'rabbit@ip-10-0-1-5', drained: true });
    expect(endpoint.count('SendCommand')).toBe(2);
  });

  it('on SendCommand fails cleanly when the agent never registers', async () => {
    endpoint.on('SendCommand', AGENT_NOT_REGISTERED);

    const failure = await failureOf(nodes().run(ID, 'drain', {}));

    expect(failure.operation).toBe('SendCommand');
    expect(failure.cause).toMatchObject({ name: 'InvalidInstanceId' });
    expect(endpoint.count('SendCommand')).toBe(MAX_ATTEMPTS);
  });

  it('on DescribeInstanceInformation means "agent not online yet": the launch keeps polling', async () => {
    endpoint.on('DescribeInstanceInformation', AGENT_NOT_REGISTERED);

    expect(await nodes().isAgentOnline(ID)).toBe(false);
    expect(endpoint.count('DescribeInstanceInformation')).toBe(1);
  });

  it('InvocationDoesNotExist right after SendCommand is "not yet" for the waiter', async () => {
    endpoint
      .on('SendCommand', sent)
      .next('GetCommandInvocation', fault(400, 'InvocationDoesNotExist', 'An error occurred (InvocationDoesNotExist)'))
      .on('GetCommandInvocation', drained);

    expect(await nodes().run(ID, 'drain', {})).toEqual({ node: 'rabbit@ip-10-0-1-5', drained: true });
    expect(endpoint.count('GetCommandInvocation')).toBe(2);
  });
});

describe('ELB InvalidTarget', () => {
  it('on RegisterTargets is retried until the load balancer sees the instance running', async () => {
    endpoint.next('RegisterTargets', TARGET_NOT_READY, TARGET_NOT_READY).on('RegisterTargets', ok());

    await targets().register(ID);

    expect(endpoint.count('RegisterTargets')).toBe(4);
  });

  it('on RegisterTargets fails cleanly when it never does', async () => {
    endpoint.on('RegisterTargets', TARGET_NOT_READY);

    const failure = await failureOf(targets().register(ID));
    await requestsSettle(endpoint, 2 * MAX_ATTEMPTS);

    expect(failure.operation).toBe('RegisterTargets');
    expect(failure.cause).toMatchObject({ name: 'InvalidTargetException' });
    expect(endpoint.count('RegisterTargets')).toBe(2 * MAX_ATTEMPTS);
  });

  it('on DeregisterTargets means already deregistered, and is not retried', async () => {
    endpoint.on('DeregisterTargets', fault(400, 'InvalidTarget', `The following targets are not valid instances: '${ID}'`));

    await targets().deregister(ID);

    expect(endpoint.count('DeregisterTargets')).toBe(2);
  });

  it('InvalidInstance while waiting for health is "not yet" for the waiter', async () => {
    endpoint
      .next('DescribeTargetHealth', fault(400, 'InvalidInstance', 'not yet'), fault(400, 'InvalidInstance', 'not yet'))
      .on('DescribeTargetHealth', healthy);

    await targets().waitHealthy(ID, 5);

    expect(endpoint.count('DescribeTargetHealth')).toBe(4);
  });
});

describe('Auto Scaling "No active Lifecycle Action found" (invariant 5), as the wire carries it', () => {
  const noActiveAction = fault(400, 'ValidationError', `No active Lifecycle Action found with instance ID ${ID}`);
  const action = { autoScalingGroupName: 'orders-rabbitmq', lifecycleHookName: 'warren-launch', instanceId: ID };

  it('on CompleteLifecycleAction means already completed, not retried', async () => {
    endpoint.on('CompleteLifecycleAction', noActiveAction);

    expect(await lifecycle().complete(action, 'ABANDON')).toBe('no-active-action');
    expect(endpoint.count('CompleteLifecycleAction')).toBe(1);
  });

  it('on RecordLifecycleActionHeartbeat means the action is over, not retried', async () => {
    endpoint.on(
      'RecordLifecycleActionHeartbeat',
      fault(400, 'ValidationError', 'No active Lifecycle Action found with token c613620e-07e2-4ed2-a9e2-ef8258911ade'),
    );

    expect(await lifecycle().heartbeat({ ...action, lifecycleActionToken: 'c613620e-07e2-4ed2-a9e2-ef8258911ade' })).toBe('no-active-action');
    expect(endpoint.count('RecordLifecycleActionHeartbeat')).toBe(1);
  });

  it('any other ValidationError is a failure, not "done"', async () => {
    endpoint.on('CompleteLifecycleAction', fault(400, 'ValidationError', 'Lifecycle hook warren-launch does not exist'));

    const failure = await failureOf(lifecycle().complete(action, 'CONTINUE'));

    expect(failure.cause).toMatchObject({ name: 'ValidationError' });
    expect(endpoint.count('CompleteLifecycleAction')).toBe(1);
  });
});
