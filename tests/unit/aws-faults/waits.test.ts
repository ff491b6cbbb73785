import { AwsRequestFailed } from '../../../shared/aws/errors';
import { MAX_ATTEMPTS } from '../../../shared/aws/clients';
import { SsmNodeShell } from '../../../shared/aws/node-shell';
import { Elbv2TargetGroups } from '../../../shared/aws/target-groups';
import { NodeCommandFailed, WaitTimedOut } from '../../../shared/errors';
import { adapterConfig } from '../../support/config';
import { FakeAwsEndpoint, fault, hang, ok, type Reply } from '../../support/fake-aws-endpoint';

/*
 * The adapter methods that wait with an SDK waiter (target health, deregistration, an SSM command's
 * end). A waiter takes a failed poll as "not yet" and asks again, each poll itself retried by the
 * SDK; so AWS failing throughout the wait ends at the wait's bound, as the bounded wait's own typed
 * error (WaitTimedOut, NodeCommandFailed 'TimedOut'), with the waiter's report of what it saw as cause.
 */

const endpoint = new FakeAwsEndpoint();
beforeAll(() => endpoint.start());
afterAll(() => endpoint.stop());
beforeEach(() => endpoint.reset());

const ID = 'i-0aaa1111bbbb2222c';
const BOUND_SECONDS = 0.3;
const poll = { minDelay: 0.01, maxDelay: 0.05 };
const targets = () => new Elbv2TargetGroups(adapterConfig, endpoint.clients(), { poll });
const nodes = () => new SsmNodeShell(adapterConfig, endpoint.clients(), { poll, maxWaitSeconds: BOUND_SECONDS });
const sent = ok({ Command: { CommandId: 'cmd-0001', Status: 'Pending' } });

const FAULTS: Array<[string, Reply, RegExp]> = [
  ['throttling', fault(400, 'Throttling', 'Rate exceeded'), /Rate exceeded/],
  ['a 5xx', fault(503, 'ServiceUnavailable', 'Service is unavailable'), /Service is unavailable/],
  ['a silent socket (timeout)', hang, /timed out after \d+ ms of inactivity/],
];
const SSM_FAULTS: Array<[string, Reply, RegExp]> = [
  ['throttling', fault(400, 'ThrottlingException', 'Rate exceeded'), /Rate exceeded/],
  ['a 5xx', fault(500, 'InternalServerError', 'An error occurred on the server side'), /error occurred on the server side/],
  ['a silent socket (timeout)', hang, /timed out after \d+ ms of inactivity/],
];

async function failureOf(work: Promise<unknown>): Promise<Error> {
  const failure = await work.catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(Error);
  return failure as Error;
}

const TARGET_WAITS = [
  ['TargetGroups.waitHealthy', (id: string, seconds: number) => targets().waitHealthy(id, seconds)],
  ['TargetGroups.waitDeregistered', (id: string, seconds: number) => targets().waitDeregistered(id, seconds)],
] as const;

describe.each(TARGET_WAITS)('%s', (_, wait) => {
  it.each(FAULTS)('under %s ends in WaitTimedOut at its bound', async (__, reply, seen) => {
    endpoint.on('DescribeTargetHealth', reply);

    const failure = await failureOf(wait(ID, BOUND_SECONDS));

    expect(failure).toBeInstanceOf(WaitTimedOut);
    expect(String((failure.cause as Error).message)).toMatch(seen);
    expect(endpoint.count('DescribeTargetHealth')).toBeGreaterThanOrEqual(2 * MAX_ATTEMPTS);
  });
});

describe('NodeShell.run, waiting for the command (GetCommandInvocation)', () => {
  it.each(SSM_FAULTS)('under %s ends in NodeCommandFailed TimedOut at the command bound', async (_, reply, seen) => {
    endpoint.on('SendCommand', sent).on('GetCommandInvocation', reply);

    const failure = await failureOf(nodes().run(ID, 'drain', {}));

    expect(failure).toBeInstanceOf(NodeCommandFailed);
    expect(failure).toMatchObject({ instanceId: ID, operation: 'drain', status: 'TimedOut' });
    expect(String((failure.cause as Error).message)).toMatch(seen);
    expect(endpoint.count('GetCommandInvocation')).toBeGreaterThanOrEqual(MAX_ATTEMPTS);
  });

  it('reading the details of a failed command under throttling fails with AwsRequestFailed', async () => {
    endpoint
      .on('SendCommand', sent)
      .next('GetCommandInvocation', ok({ CommandId: 'cmd-0001', InstanceId: ID, Status: 'Failed', StandardErrorContent: 'rabbitmq-upgrade: error' }))
      .on('GetCommandInvocation', fault(400, 'ThrottlingException', 'Rate exceeded'));

    const failure = await failureOf(nodes().run(ID, 'drain', {}));

    expect(failure).toBeInstanceOf(AwsRequestFailed);
    expect(failure).toMatchObject({ operation: 'GetCommandInvocation', cause: expect.objectContaining({ name: 'ThrottlingException' }) });
    expect(endpoint.count('GetCommandInvocation')).toBe(1 + MAX_ATTEMPTS);
  });
});

describe('NodeShell.runOnMany, waiting for each instance', () => {
  it('under throttling reports each instance as NodeCommandFailed TimedOut, and fails none of the others', async () => {
    endpoint.on('SendCommand', sent).on('GetCommandInvocation', fault(400, 'ThrottlingException', 'Rate exceeded'));

    const results = await nodes().runOnMany([ID, 'i-0ddd3333eeee4444f'], 'drain', {});

    expect([...results.keys()]).toEqual([ID, 'i-0ddd3333eeee4444f']);
    for (const result of results.values()) {
      expect(result).toBeInstanceOf(NodeCommandFailed);
      expect(result).toMatchObject({ status: 'TimedOut' });
    }
  });
});
