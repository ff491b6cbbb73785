import { AwsRequestFailed } from '../../../shared/aws/errors';
import { MAX_ATTEMPTS } from '../../../shared/aws/clients';
import { SqsHealQueue } from '../../../shared/aws/heal-queue';
import { Ec2AutoScalingInventory } from '../../../shared/aws/inventory';
import { AutoScalingLifecycle } from '../../../shared/aws/lifecycle';
import { SsmNodeShell } from '../../../shared/aws/node-shell';
import { Elbv2TargetGroups } from '../../../shared/aws/target-groups';
import { adapterConfig } from '../../support/config';
import { FakeAwsEndpoint, fault, hang, requestsSettle, type Reply } from '../../support/fake-aws-endpoint';

/*
 * Every adapter method that calls AWS, against throttling, a 5xx and a silent socket: the SDK's
 * retry strategy (the production client configuration, with a 1 ms delay) makes MAX_ATTEMPTS
 * attempts, then the adapter fails with AwsRequestFailed naming the operation and carrying the
 * SDK's last error as cause. The workflows turn that into a retry of the event (rethrow) or a
 * completed lifecycle action (see workflows.test.ts here).
 */

type Service = 'ec2' | 'autoScaling' | 'elbv2' | 'ssm' | 'sqs';

const endpoint = new FakeAwsEndpoint();
beforeAll(() => endpoint.start());
afterAll(() => endpoint.stop());
beforeEach(() => endpoint.reset());

function adapters() {
  const clients = endpoint.clients();
  return {
    inventory: new Ec2AutoScalingInventory(adapterConfig, clients),
    lifecycle: new AutoScalingLifecycle(clients),
    nodes: new SsmNodeShell(adapterConfig, clients, { poll: { minDelay: 0.01, maxDelay: 0.05 }, maxWaitSeconds: 0.3 }),
    targets: new Elbv2TargetGroups(adapterConfig, clients, { poll: { minDelay: 0.01, maxDelay: 0.05 } }),
    queue: new SqsHealQueue(adapterConfig, clients),
  };
}

const action = {
  autoScalingGroupName: 'orders-rabbitmq',
  lifecycleHookName: 'warren-launch',
  lifecycleActionToken: 'c613620e-07e2-4ed2-a9e2-ef8258911ade',
  instanceId: 'i-0aaa1111bbbb2222c',
};

interface AdapterMethod {
  service: Service;
  /** the AWS operation it sends */
  operation: string;
  /** requests per attempt: the target-group calls go to both groups at once */
  perAttempt: number;
  call: (ports: ReturnType<typeof adapters>) => Promise<unknown>;
}

const METHODS: Record<string, AdapterMethod> = {
  'Inventory.describeGroup': { service: 'autoScaling', operation: 'DescribeAutoScalingGroups', perAttempt: 1, call: (p) => p.inventory.describeGroup() },
  'Inventory.describeInstances': {
    service: 'ec2',
    operation: 'DescribeInstances',
    perAttempt: 1,
    call: (p) => p.inventory.describeInstances([action.instanceId]),
  },
  'Inventory.describeGroupInstances': { service: 'ec2', operation: 'DescribeInstances', perAttempt: 1, call: (p) => p.inventory.describeGroupInstances() },
  'Inventory.groupMembersAmong': {
    service: 'ec2',
    operation: 'DescribeInstances',
    perAttempt: 1,
    call: (p) => p.inventory.groupMembersAmong([action.instanceId]),
  },
  'Inventory.tagNodeName': {
    service: 'ec2',
    operation: 'CreateTags',
    perAttempt: 1,
    call: (p) => p.inventory.tagNodeName(action.instanceId, 'rabbit@ip-10-0-1-5'),
  },
  'Inventory.markUnhealthy': {
    service: 'autoScaling',
    operation: 'SetInstanceHealth',
    perAttempt: 1,
    call: (p) => p.inventory.markUnhealthy(action.instanceId),
  },
  'Lifecycle.heartbeat': { service: 'autoScaling', operation: 'RecordLifecycleActionHeartbeat', perAttempt: 1, call: (p) => p.lifecycle.heartbeat(action) },
  'Lifecycle.complete': { service: 'autoScaling', operation: 'CompleteLifecycleAction', perAttempt: 1, call: (p) => p.lifecycle.complete(action, 'CONTINUE') },
  'NodeShell.isAgentOnline': { service: 'ssm', operation: 'DescribeInstanceInformation', perAttempt: 1, call: (p) => p.nodes.isAgentOnline(action.instanceId) },
  'NodeShell.run (SendCommand)': { service: 'ssm', operation: 'SendCommand', perAttempt: 1, call: (p) => p.nodes.run(action.instanceId, 'drain', {}) },
  'NodeShell.runOnMany (SendCommand)': {
    service: 'ssm',
    operation: 'SendCommand',
    perAttempt: 1,
    call: (p) => p.nodes.runOnMany([action.instanceId, 'i-0ddd3333eeee4444f'], 'status', {}),
  },
  'TargetGroups.register': { service: 'elbv2', operation: 'RegisterTargets', perAttempt: 2, call: (p) => p.targets.register(action.instanceId) },
  'TargetGroups.deregister': { service: 'elbv2', operation: 'DeregisterTargets', perAttempt: 2, call: (p) => p.targets.deregister(action.instanceId) },
  'TargetGroups.describe': { service: 'elbv2', operation: 'DescribeTargetHealth', perAttempt: 2, call: (p) => p.targets.describe() },
  'HealQueue.enqueueReconcile': {
    service: 'sqs',
    operation: 'SendMessage',
    perAttempt: 1,
    call: (p) => p.queue.enqueueReconcile('alarm warren-orders-partitions'),
  },
};

/** What each API answers when it throttles, and a 5xx each one sends (500 for some, 503 for others). */
const THROTTLING: Record<Service, Reply> = {
  ec2: fault(503, 'RequestLimitExceeded', 'Request limit exceeded.'),
  autoScaling: fault(400, 'Throttling', 'Rate exceeded'),
  elbv2: fault(400, 'Throttling', 'Rate exceeded'),
  ssm: fault(400, 'ThrottlingException', 'Rate exceeded'),
  sqs: fault(400, 'RequestThrottled', 'Request is throttled.'),
};
const SERVER_ERROR: Record<Service, Reply> = {
  ec2: fault(500, 'InternalError', 'An internal error has occurred'),
  autoScaling: fault(500, 'InternalFailure', 'An internal error occurred'),
  elbv2: fault(503, 'ServiceUnavailable', 'Service is unavailable'),
  ssm: fault(500, 'InternalServerError', 'An error occurred on the server side'),
  sqs: fault(503, 'ServiceUnavailable', 'Service is unavailable'),
};

const FAULTS: Array<[string, (service: Service) => Reply, (cause: Error & { $metadata?: { httpStatusCode?: number } }, reply: Reply) => void]> = [
  ['throttling', (service) => THROTTLING[service], (cause, reply) => expect(cause.name).toBe((reply as { code: string }).code)],
  [
    'a 5xx',
    (service) => SERVER_ERROR[service],
    (cause, reply) => {
      const { code, status } = reply as { code: string; status: number };
      expect(cause.name).toBe(code);
      expect(cause.$metadata?.httpStatusCode).toBe(status);
    },
  ],
  ['a silent socket (timeout)', () => hang, (cause) => expect(cause.name).toBe('TimeoutError')],
];

const matrix = Object.entries(METHODS).flatMap(([name, method]) =>
  FAULTS.map(([faultName, reply, check]) => [`${name} under ${faultName}`, method, reply, check] as const),
);

describe('every AWS call is retried by the SDK, then fails with AwsRequestFailed carrying the SDK error', () => {
  it.each(matrix)('%s', async (_, method, replyFor, check) => {
    const reply = replyFor(method.service);
    endpoint.on(method.operation, reply);

    const failure = await method.call(adapters()).catch((error: unknown) => error);
    await requestsSettle(endpoint, MAX_ATTEMPTS * method.perAttempt);

    expect(failure).toBeInstanceOf(AwsRequestFailed);
    expect((failure as AwsRequestFailed).operation).toBe(method.operation);
    const cause = (failure as AwsRequestFailed).cause as Error & { $metadata?: { attempts?: number; httpStatusCode?: number } };
    check(cause, reply);
    expect(cause.$metadata?.attempts).toBe(MAX_ATTEMPTS);
    expect(endpoint.requests).toEqual(Array(MAX_ATTEMPTS * method.perAttempt).fill(method.operation));
  });

  it('HealQueue.forward: after the retries a failed SendMessageBatch refuses its entries, so the triage reports them, instead of throwing', async () => {
    endpoint.on('SendMessageBatch', THROTTLING.sqs);

    const refused = await adapters().queue.forward([{ id: 'evt-1', body: '{"id":"evt-1"}' }]);
    await requestsSettle(endpoint, MAX_ATTEMPTS);

    expect(refused).toEqual([{ id: 'evt-1', reason: expect.stringMatching(/^SendMessageBatch failed: RequestThrottled/) }]);
    expect(endpoint.requests).toEqual(Array(MAX_ATTEMPTS).fill('SendMessageBatch'));
  });

  it('succeeds without an error when AWS recovers before the attempts run out', async () => {
    endpoint.next('DescribeAutoScalingGroups', THROTTLING.autoScaling, SERVER_ERROR.autoScaling, hang);
    endpoint.on('DescribeAutoScalingGroups', {
      kind: 'ok',
      body: '<AutoScalingGroups><member><AutoScalingGroupName>orders-rabbitmq</AutoScalingGroupName><MinSize>3</MinSize><MaxSize>5</MaxSize><DesiredCapacity>3</DesiredCapacity><Instances/></member></AutoScalingGroups>',
    });

    const group = await adapters().inventory.describeGroup();

    expect(group).toMatchObject({ name: 'orders-rabbitmq', desiredCapacity: 3 });
    expect(endpoint.count('DescribeAutoScalingGroups')).toBe(4);
  });
});
