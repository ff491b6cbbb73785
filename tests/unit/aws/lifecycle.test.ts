import {
  AutoScalingClient,
  AutoScalingServiceException,
  CompleteLifecycleActionCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { AwsRequestFailed } from '../../../shared/aws/errors';
import { AutoScalingLifecycle } from '../../../shared/aws/lifecycle';

const autoScaling = mockClient(AutoScalingClient);
const lifecycle = () => new AutoScalingLifecycle({ autoScaling: new AutoScalingClient({}) });

const action = {
  autoScalingGroupName: 'orders-rabbitmq',
  lifecycleHookName: 'warren-launch',
  lifecycleActionToken: 'c613620e-07e2-4ed2-a9e2-ef8258911ade',
  instanceId: 'i-0aaa',
};

const validationError = (message: string) =>
  new AutoScalingServiceException({ name: 'ValidationError', $fault: 'client', $metadata: { httpStatusCode: 400 }, message });

beforeEach(() => autoScaling.reset());

it('records a heartbeat by token when the event carried one', async () => {
  autoScaling.on(RecordLifecycleActionHeartbeatCommand).resolves({});

  const outcome = await lifecycle().heartbeat(action);

  expect(outcome).toBe('recorded');
  expect(autoScaling).toHaveReceivedCommandWith(RecordLifecycleActionHeartbeatCommand, {
    AutoScalingGroupName: 'orders-rabbitmq',
    LifecycleHookName: 'warren-launch',
    LifecycleActionToken: 'c613620e-07e2-4ed2-a9e2-ef8258911ade',
  });
  expect(autoScaling.commandCalls(RecordLifecycleActionHeartbeatCommand)[0]!.args[0].input.InstanceId).toBeUndefined();
});

it('completes by instance id when there is no token', async () => {
  autoScaling.on(CompleteLifecycleActionCommand).resolves({});

  const outcome = await lifecycle().complete({ ...action, lifecycleActionToken: undefined }, 'ABANDON');

  expect(outcome).toBe('completed');
  expect(autoScaling).toHaveReceivedCommandWith(CompleteLifecycleActionCommand, {
    AutoScalingGroupName: 'orders-rabbitmq',
    LifecycleHookName: 'warren-launch',
    InstanceId: 'i-0aaa',
    LifecycleActionResult: 'ABANDON',
  });
});

it('reports an action AWS no longer has as already done', async () => {
  autoScaling.on(CompleteLifecycleActionCommand).rejects(validationError('No active Lifecycle Action found with token c613620e-07e2-4ed2-a9e2-ef8258911ade'));
  autoScaling.on(RecordLifecycleActionHeartbeatCommand).rejects(validationError('No active Lifecycle Action found with instance ID i-0aaa'));

  expect(await lifecycle().complete(action, 'CONTINUE')).toBe('no-active-action');
  expect(await lifecycle().heartbeat(action)).toBe('no-active-action');
});

it('fails on any other validation error, keeping the SDK error as cause', async () => {
  const sdkError = validationError('Lifecycle hook warren-launch does not exist');
  autoScaling.on(CompleteLifecycleActionCommand).rejects(sdkError);

  const failure = await lifecycle()
    .complete(action, 'CONTINUE')
    .catch((error: unknown) => error);

  expect(failure).toBeInstanceOf(AwsRequestFailed);
  expect((failure as AwsRequestFailed).cause).toBe(sdkError);
  expect((failure as AwsRequestFailed).message).toMatch(/CompleteLifecycleAction failed: ValidationError/);
});
