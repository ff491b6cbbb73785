import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { SsmNodeShell } from '../../../shared/aws/node-shell';
import { NodeCommandFailed, NodeOutputInvalid } from '../../../shared/errors';
import { testConfig } from './config';

const ssm = mockClient(SSMClient);
const fastPoll = { minDelay: 0.01, maxDelay: 0.02 };
const shell = (options = {}) => new SsmNodeShell(testConfig, { ssm: new SSMClient({}) }, { poll: fastPoll, ...options });

const status = (node: string) =>
  JSON.stringify({
    node,
    version: '3.10.8',
    running: true,
    members: { all: [node], running: [node] },
    partitions: {},
    alarms: [],
    cookieHash: 'abc',
    policies: ['ha-all'],
    defaultQueueType: '',
    underMaintenance: false,
  });

const notYet = () => new InvocationDoesNotExist({ $metadata: { httpStatusCode: 400 }, message: 'InvocationDoesNotExist' });

beforeEach(() => {
  ssm.reset();
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
});

describe('isAgentOnline', () => {
  it('is true only when the agent pings Online', async () => {
    ssm
      .on(DescribeInstanceInformationCommand)
      .resolvesOnce({ InstanceInformationList: [{ InstanceId: 'i-0aaa', PingStatus: 'ConnectionLost' }] })
      .resolvesOnce({ InstanceInformationList: [{ InstanceId: 'i-0aaa', PingStatus: 'Online' }] });

    expect(await shell().isAgentOnline('i-0aaa')).toBe(false);
    expect(await shell().isAgentOnline('i-0aaa')).toBe(true);
    expect(ssm).toHaveReceivedCommandWith(DescribeInstanceInformationCommand, { Filters: [{ Key: 'InstanceIds', Values: ['i-0aaa'] }] });
  });
});

describe('run', () => {
  it('sends the operation document with its parameters and waits past InvocationDoesNotExist', async () => {
    ssm
      .on(GetCommandInvocationCommand)
      .rejectsOnce(notYet())
      .resolvesOnce({ Status: 'InProgress' })
      .resolves({
        Status: 'Success',
        StandardOutputContent: '{"peer":"rabbit@ip-10-0-1-5","node":"rabbit@ip-10-0-9-9","result":"forgotten","disconnected":false}\n',
      });

    const result = await shell({ cloudWatchLogGroup: '/warren/orders' }).run('i-0aaa', 'forget', { NodeName: 'rabbit@ip-10-0-9-9', Departed: 'true' });

    expect(result).toEqual({ peer: 'rabbit@ip-10-0-1-5', node: 'rabbit@ip-10-0-9-9', result: 'forgotten', disconnected: false });
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: 'warren-NodeForget',
      InstanceIds: ['i-0aaa'],
      Parameters: { NodeName: ['rabbit@ip-10-0-9-9'], Departed: ['true'] },
      TimeoutSeconds: 60,
      CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: '/warren/orders' },
    });
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 3);
    expect(ssm).toHaveReceivedCommandWith(GetCommandInvocationCommand, { CommandId: 'cmd-1', InstanceId: 'i-0aaa' });
  });

  it('parses the last line of stdout with the operation schema', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StandardOutputContent: `warming up\n${status('rabbit@ip-10-0-1-5')}\n` });

    const result = await shell().run('i-0aaa', 'status', {});

    expect(result.node).toBe('rabbit@ip-10-0-1-5');
    expect(result.policies).toEqual(['ha-all']);
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, { DocumentName: 'warren-NodeStatus', Parameters: {} });
  });

  it('throws NodeCommandFailed with the status details and stderr of a failed command', async () => {
    ssm
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Failed', StatusDetails: 'Failed', StandardErrorContent: 'Error: unable to perform an operation on node' });

    const failure = await shell()
      .run('i-0aaa', 'drain', {})
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(NodeCommandFailed);
    expect(failure).toMatchObject({ instanceId: 'i-0aaa', operation: 'drain', status: 'Failed', stderr: 'Error: unable to perform an operation on node' });
  });

  it('reports an execution timeout by its status detail', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut', StandardErrorContent: '' });

    await expect(shell().run('i-0aaa', 'status', {})).rejects.toMatchObject({ status: 'ExecutionTimedOut' });
  });

  it('throws NodeOutputInvalid when stdout is not the promised JSON', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StandardOutputContent: 'Error: {badrpc,nodedown}' });

    const failure = await shell()
      .run('i-0aaa', 'status', {})
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(NodeOutputInvalid);
    expect(failure).toMatchObject({ stdout: 'Error: {badrpc,nodedown}' });
  });

  it('gives up as TimedOut when no terminal status arrives within the bound', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });

    const failure = await shell({ maxWaitSeconds: 0.2 })
      .run('i-0aaa', 'status', {})
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(NodeCommandFailed);
    expect(failure).toMatchObject({ status: 'TimedOut' });
    expect((failure as Error).cause).toMatchObject({ name: 'TimeoutError' });
  });
});

describe('runOnMany', () => {
  it('sends one command to every instance and reports each one separately', async () => {
    ssm.on(GetCommandInvocationCommand, { InstanceId: 'i-0aaa' }).resolves({ Status: 'Success', StandardOutputContent: status('rabbit@ip-10-0-1-5') });
    ssm
      .on(GetCommandInvocationCommand, { InstanceId: 'i-0bbb' })
      .resolves({ Status: 'Failed', StatusDetails: 'Undeliverable', StandardErrorContent: '' });
    ssm.on(GetCommandInvocationCommand, { InstanceId: 'i-0ccc' }).resolves({ Status: 'Success', StandardOutputContent: 'not json' });

    const results = await shell().runOnMany(['i-0aaa', 'i-0bbb', 'i-0ccc'], 'status', {});

    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, { InstanceIds: ['i-0aaa', 'i-0bbb', 'i-0ccc'] });
    expect(results.get('i-0aaa')).toMatchObject({ node: 'rabbit@ip-10-0-1-5' });
    expect(results.get('i-0bbb')).toBeInstanceOf(NodeCommandFailed);
    expect(results.get('i-0bbb')).toMatchObject({ status: 'Undeliverable' });
    expect(results.get('i-0ccc')).toMatchObject({ status: 'OutputInvalid' });
    expect((results.get('i-0ccc') as NodeCommandFailed).cause).toBeInstanceOf(NodeOutputInvalid);
  });

  const sixty = Array.from({ length: 60 }, (_, n) => `i-${n.toString(16).padStart(8, '0')}`);

  it('asks more than the 50 instances SendCommand takes for their status in one command to the cluster tag', async () => {
    ssm.on(GetCommandInvocationCommand).callsFake((input) => ({
      Status: 'Success',
      StandardOutputContent: status(`rabbit@ip-${input.InstanceId}`),
    }));

    const results = await shell().runOnMany(sixty, 'status', {});

    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    const sent = ssm.commandCalls(SendCommandCommand)[0]!.args[0].input;
    expect(sent.Targets).toEqual([{ Key: 'tag:warren:cluster', Values: ['orders'] }]);
    expect(sent.InstanceIds).toBeUndefined();
    // only the asked instances are waited for, whatever else carries the tag
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 60);
    expect(results.size).toBe(60);
    expect(results.get('i-0000003b')).toMatchObject({ node: 'rabbit@ip-i-0000003b' });
  });

  it('reports an asked instance the tag command never reached as failed, and the others', async () => {
    ssm.on(GetCommandInvocationCommand).callsFake((input) => {
      if (input.InstanceId === 'i-00000007') throw notYet();
      return { Status: 'Success', StandardOutputContent: status(`rabbit@ip-${input.InstanceId}`) };
    });

    const results = await shell({ maxWaitSeconds: 0.2 }).runOnMany(sixty, 'status', {});

    expect(results.get('i-00000007')).toBeInstanceOf(NodeCommandFailed);
    expect(results.get('i-00000007')).toMatchObject({ status: 'TimedOut' });
    expect([...results.values()].filter((result) => result instanceof NodeCommandFailed)).toHaveLength(1);
  });

  it('sends an operation that changes a node by instance id, 50 at most a command', async () => {
    ssm.on(GetCommandInvocationCommand).callsFake((input) => ({
      Status: 'Success',
      StandardOutputContent: JSON.stringify({ node: `rabbit@ip-${input.InstanceId}`, drained: true }),
    }));

    const results = await shell().runOnMany(sixty, 'drain', {});

    const sent = ssm.commandCalls(SendCommandCommand).map((call) => call.args[0].input);
    expect(sent.map((input) => input.InstanceIds!.length)).toEqual([50, 10]);
    expect(sent.every((input) => input.Targets === undefined)).toBe(true);
    expect(results.size).toBe(60);
  });

  it('splits a status at 50 instances when it does not know the cluster tag', async () => {
    ssm.on(GetCommandInvocationCommand).callsFake((input) => ({
      Status: 'Success',
      StandardOutputContent: status(`rabbit@ip-${input.InstanceId}`),
    }));
    const untagged = new SsmNodeShell({ ssmDocumentPrefix: 'warren-', bounds: testConfig.bounds }, { ssm: new SSMClient({}) }, { poll: fastPoll });

    await untagged.runOnMany(sixty, 'status', {});

    expect(ssm.commandCalls(SendCommandCommand).map((call) => call.args[0].input.InstanceIds!.length)).toEqual([50, 10]);
  });
});
