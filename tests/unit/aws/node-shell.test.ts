import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  InvalidCommandId,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  SSMClient,
  type CommandInvocation,
  type ListCommandInvocationsCommandInput,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { SCRIPT_DEADLINE_MARGIN_SECONDS } from '../../../shared/aws/command-shell';
import { SsmNodeShell } from '../../../shared/aws/node-shell';
import { NodeCommandFailed, NodeOutputInvalid } from '../../../shared/errors';
import { membersDigest, type Members } from '../../../shared/rabbitmq/operations';
import { adapterConfig } from '../../support/config';

const ssm = mockClient(SSMClient);
const fastPoll = { minDelay: 0.01, maxDelay: 0.02 };
/** what the shell logged */
let warnings: Array<{ message: string; extra?: Record<string, unknown> }> = [];
const log = { warn: (message: string, extra?: Record<string, unknown>) => void warnings.push({ message, extra }) };
const shell = (options = {}) => new SsmNodeShell(adapterConfig, { ssm: new SSMClient({}) }, { poll: fastPoll, log, ...options });

/** NodeStatus's two lines (infra/ssm/NodeStatus.yml) for a running node seeing `view` (itself alone by default). */
const status = (node: string, view: Members = { all: [node], running: [node] }) =>
  `${JSON.stringify({
    node,
    version: '3.10.8',
    running: true,
    partitions: {},
    alarms: [],
    cookieHash: 'abc',
    policies: ['ha-all'],
    defaultQueueType: '',
    underMaintenance: false,
    membersDigest: membersDigest(view),
    memberCounts: { all: view.all.length, running: view.running.length },
  })}\n${JSON.stringify({ members: view })}\n`;

/** ListCommandInvocations like SSM: 50 a page at most, NextToken the offset, each plugin Output cut at 2,500 characters. */
function listing(invocations: (instanceId: string) => CommandInvocation | undefined, instanceIds: string[]) {
  return (input: ListCommandInvocationsCommandInput) => {
    if ((input.MaxResults ?? 50) > 50) throw new Error('MaxResults above 50');
    const start = Number(input.NextToken ?? 0);
    const listed = instanceIds.flatMap((id) => {
      const invocation = invocations(id);
      return invocation ? [invocation] : [];
    });
    const end = Math.min(listed.length, start + (input.MaxResults ?? 50));
    const page = listed.slice(start, end).map((invocation) => ({
      ...invocation,
      CommandPlugins: input.Details ? invocation.CommandPlugins?.map((plugin) => ({ ...plugin, Output: plugin.Output?.slice(0, 2500) })) : undefined,
    }));
    return { CommandInvocations: page, ...(end < listed.length ? { NextToken: String(end) } : {}) };
  };
}

const succeeded = (InstanceId: string, Output: string): CommandInvocation => ({
  InstanceId,
  Status: 'Success',
  StatusDetails: 'Success',
  CommandPlugins: [{ Name: 'nodeStatus', Status: 'Success', Output }],
});

const notYet = () => new InvocationDoesNotExist({ $metadata: { httpStatusCode: 400 }, message: 'InvocationDoesNotExist' });

beforeEach(() => {
  ssm.reset();
  warnings = [];
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
  ssm.on(CancelCommandCommand).resolves({});
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
    ssm.on(GetCommandInvocationCommand).rejectsOnce(notYet()).resolvesOnce({ Status: 'InProgress' }).resolves({
      Status: 'Success',
      StandardOutputContent: '{"peer":"rabbit@ip-10-0-1-5","node":"rabbit@ip-10-0-9-9","result":"forgotten","disconnected":false,"replicasRemoved":2}\n',
    });

    const result = await shell({ cloudWatchLogGroup: '/warren/orders' }).run('i-0aaa', 'forget', { NodeName: 'rabbit@ip-10-0-9-9', Departed: 'true' });

    expect(result).toEqual({ peer: 'rabbit@ip-10-0-1-5', node: 'rabbit@ip-10-0-9-9', result: 'forgotten', disconnected: false, replicasRemoved: 2 });
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

  it('parses both lines of a status with the operation schema', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StandardOutputContent: status('rabbit@ip-10-0-1-5') });

    const result = await shell().run('i-0aaa', 'status', {});

    expect(result.node).toBe('rabbit@ip-10-0-1-5');
    expect(result.policies).toEqual(['ha-all']);
    expect(result.members).toEqual({ all: ['rabbit@ip-10-0-1-5'], running: ['rabbit@ip-10-0-1-5'] });
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, { DocumentName: 'warren-NodeStatus', Parameters: {} });
    expect(ssm).toHaveReceivedCommandTimes(ListCommandInvocationsCommand, 0);
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

  it('cancels the invocation it gave up on while it was still InProgress, so a retry never runs beside it', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });

    const failure = await shell({ maxWaitSeconds: 0.2 })
      .run('i-0aaa', 'restart', { Survivors: 'rabbit@ip-10-0-1-5', Step: 'restart', TimeoutSeconds: '60' })
      .catch((error: unknown) => error);

    expect(failure).toMatchObject({ name: 'NodeCommandFailed', status: 'TimedOut', message: expect.stringContaining('cancelled') });
    expect(ssm).toHaveReceivedCommandTimes(CancelCommandCommand, 1);
    expect(ssm).toHaveReceivedCommandWith(CancelCommandCommand, { CommandId: 'cmd-1', InstanceIds: ['i-0aaa'] });
  });

  it('never cancels a command that ended, whatever its status', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'TimedOut', StatusDetails: 'ExecutionTimedOut', StandardErrorContent: '' });

    await expect(shell().run('i-0aaa', 'drain', {})).rejects.toMatchObject({ status: 'ExecutionTimedOut' });

    expect(ssm).toHaveReceivedCommandTimes(CancelCommandCommand, 0);
  });

  it('logs a CancelCommand that fails and still reports the command TimedOut', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    ssm.on(CancelCommandCommand).rejects(Object.assign(new Error('User is not authorized to perform: ssm:CancelCommand'), { name: 'AccessDeniedException' }));

    const failure = await shell({ maxWaitSeconds: 0.2 })
      .run('i-0aaa', 'drain', {})
      .catch((error: unknown) => error);

    expect(failure).toMatchObject({ name: 'NodeCommandFailed', status: 'TimedOut', message: expect.stringContaining('not cancelled') });
    expect(warnings).toEqual([
      {
        message: expect.stringContaining('CancelCommand'),
        extra: expect.objectContaining({ commandId: 'cmd-1', instanceIds: ['i-0aaa'], error: expect.stringContaining('not authorized') }),
      },
    ]);
  });

  it("ends a document's own deadline a margin before the wait gives up", async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StandardOutputContent: '' });
    const restart = (TimeoutSeconds: string) => ({ Survivors: 'rabbit@ip-10-0-1-5', Step: 'restart', TimeoutSeconds }) as const;
    const bound = adapterConfig.bounds.ssmCommandSeconds;

    for (const [params, options] of [
      [restart(String(bound)), {}],
      [restart('20'), {}],
      [restart(String(bound)), { timeoutSeconds: 40 }],
      [restart('20'), { timeoutSeconds: 10 }],
    ] as const) {
      await shell()
        .run('i-0aaa', 'restart', params, options)
        .catch(() => undefined);
    }

    const sent = ssm.commandCalls(SendCommandCommand).map((call) => call.args[0].input);
    expect(sent.map((input) => input.Parameters!.TimeoutSeconds![0])).toEqual([
      String(bound - SCRIPT_DEADLINE_MARGIN_SECONDS),
      '20',
      String(40 - SCRIPT_DEADLINE_MARGIN_SECONDS),
      // less time than the margin: the least SSM's parameter allows
      '1',
    ]);
    // SSM's own delivery timeout follows the wait, never below the 30 s SendCommand accepts
    expect(sent.map((input) => input.TimeoutSeconds)).toEqual([bound, bound, 40, 30]);
  });

  it("waits no longer than the caller's own bound, and sends nothing without time to wait", async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    const started = Date.now();

    const late = await shell()
      .run('i-0aaa', 'status', {}, { timeoutSeconds: 0.3 })
      .catch((error: unknown) => error);
    const tooLate = await shell()
      .run('i-0aaa', 'status', {}, { timeoutSeconds: 0 })
      .catch((error: unknown) => error);

    expect(Date.now() - started).toBeLessThan(5_000);
    expect(late).toMatchObject({ name: 'NodeCommandFailed', status: 'TimedOut', message: expect.stringContaining('within 0.3s') });
    expect(tooLate).toMatchObject({ name: 'NodeCommandFailed', status: 'NotSent' });
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
  });
});

describe('runOnMany', () => {
  const sixty = Array.from({ length: 60 }, (_, n) => `i-${n.toString(16).padStart(8, '0')}`);
  const nodeOf = (instanceId: string) => `rabbit@ip-${instanceId}`;
  const everyone: Members = { all: sixty.map(nodeOf).sort(), running: sixty.map(nodeOf).sort() };

  it('reads the statuses of one command through pages of ListCommandInvocations and one full output per view', async () => {
    const stdout = new Map(sixty.map((id) => [id, status(nodeOf(id), everyone)]));
    ssm.on(ListCommandInvocationsCommand).callsFake(listing((id) => succeeded(id, stdout.get(id)!), sixty));
    ssm.on(GetCommandInvocationCommand).callsFake((input) => ({ Status: 'Success', StandardOutputContent: stdout.get(input.InstanceId!) }));

    const results = await shell().runOnMany(sixty, 'status', {});

    expect(stdout.get(sixty[0]!)!.length).toBeGreaterThan(2500);
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(ssm).toHaveReceivedCommandTimes(ListCommandInvocationsCommand, 2);
    expect(ssm).toHaveReceivedCommandWith(ListCommandInvocationsCommand, { CommandId: 'cmd-1', Details: true, MaxResults: 50 });
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 1);
    expect(results.size).toBe(60);
    for (const id of sixty) {
      expect(results.get(id)).toMatchObject({ node: nodeOf(id), running: true, policies: ['ha-all'], members: everyone });
    }
  });

  it('polls the listing until every asked invocation is terminal, past a command SSM does not list yet', async () => {
    const ids = ['i-0aaa', 'i-0bbb'];
    let polls = 0;
    ssm.on(ListCommandInvocationsCommand).callsFake((input: ListCommandInvocationsCommandInput) => {
      polls += 1;
      if (polls === 1) throw new InvalidCommandId({ $metadata: { httpStatusCode: 400 }, message: 'InvalidCommandId' });
      const view = { all: ids.map(nodeOf), running: ids.map(nodeOf) };
      return listing((id) => (polls === 2 && id === 'i-0bbb' ? { InstanceId: id, Status: 'InProgress' } : succeeded(id, status(nodeOf(id), view))), ids)(input);
    });
    ssm.on(GetCommandInvocationCommand).callsFake((input) => ({
      Status: 'Success',
      StandardOutputContent: status(nodeOf(input.InstanceId!), { all: ids.map(nodeOf), running: ids.map(nodeOf) }),
    }));

    const results = await shell().runOnMany(ids, 'status', {});

    expect(polls).toBe(3);
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 1);
    expect(results.get('i-0bbb')).toMatchObject({ node: nodeOf('i-0bbb'), members: { running: ids.map(nodeOf) } });
  });

  it('fetches one full output per distinct view: two in a partition, none for a stopped node', async () => {
    const left = { all: ['rabbit@ip-i-0aaa', 'rabbit@ip-i-0bbb', 'rabbit@ip-i-0ccc'], running: ['rabbit@ip-i-0aaa', 'rabbit@ip-i-0bbb'] };
    const right = { all: left.all, running: ['rabbit@ip-i-0ccc'] };
    const stopped = JSON.parse(status('rabbit@ip-i-0ddd', { all: [], running: [] }).split('\n')[0]!) as Record<string, unknown>;
    const stdout = new Map([
      ['i-0aaa', status('rabbit@ip-i-0aaa', left)],
      ['i-0bbb', status('rabbit@ip-i-0bbb', left)],
      ['i-0ccc', status('rabbit@ip-i-0ccc', right)],
      ['i-0ddd', `${JSON.stringify({ ...stopped, running: false, policies: [] })}\n{"members":{"all":[],"running":[]}}\n`],
    ]);
    const ids = [...stdout.keys()];
    ssm.on(ListCommandInvocationsCommand).callsFake(listing((id) => succeeded(id, stdout.get(id)!.split('\n')[0]!), ids));
    ssm.on(GetCommandInvocationCommand).callsFake((input) => ({ Status: 'Success', StandardOutputContent: stdout.get(input.InstanceId!) }));

    const results = await shell().runOnMany(ids, 'status', {});

    const fetched = ssm
      .commandCalls(GetCommandInvocationCommand)
      .map((call) => call.args[0].input.InstanceId)
      .sort();
    expect(fetched).toEqual(['i-0aaa', 'i-0ccc']);
    expect(results.get('i-0bbb')).toMatchObject({ node: 'rabbit@ip-i-0bbb', members: left });
    expect(results.get('i-0ccc')).toMatchObject({ members: right });
    expect(results.get('i-0ddd')).toMatchObject({ running: false, members: { all: [], running: [] } });
  });

  it('fetches the full output of an instance whose line 1 was itself cut', async () => {
    const many = { all: sixty.map(nodeOf).sort(), running: sixty.map(nodeOf).sort() };
    const alarms = Array.from({ length: 120 }, (_, n) => `memory:rabbit@ip-10-0-0-${n}`);
    const [first, second] = status(nodeOf('i-0aaa'), many).split('\n');
    const long = `${JSON.stringify({ ...(JSON.parse(first!) as object), alarms })}\n${second}\n`;
    ssm.on(ListCommandInvocationsCommand).callsFake(listing((id) => succeeded(id, long), ['i-0aaa']));
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StandardOutputContent: long });

    const results = await shell().runOnMany(['i-0aaa'], 'status', {});

    expect(long.split('\n')[0]!.length).toBeGreaterThan(2500);
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 1);
    expect(results.get('i-0aaa')).toMatchObject({ alarms, members: many });
  });

  it('reports a failed, a silent and an unparsable instance each on its own, the others intact', async () => {
    const ids = ['i-0aaa', 'i-0bbb', 'i-0ccc', 'i-0ddd'];
    ssm.on(ListCommandInvocationsCommand).callsFake(
      listing((id) => {
        if (id === 'i-0bbb') return { InstanceId: id, Status: 'Failed', StatusDetails: 'Undeliverable', CommandPlugins: [{ Output: '' }] };
        if (id === 'i-0ccc') return succeeded(id, 'Error: {badrpc,nodedown}');
        if (id === 'i-0ddd') return undefined;
        return succeeded(id, status(nodeOf(id)));
      }, ids),
    );
    ssm.on(GetCommandInvocationCommand, { InstanceId: 'i-0aaa' }).resolves({ Status: 'Success', StandardOutputContent: status(nodeOf('i-0aaa')) });
    ssm.on(GetCommandInvocationCommand, { InstanceId: 'i-0ccc' }).resolves({ Status: 'Success', StandardOutputContent: 'Error: {badrpc,nodedown}' });

    const results = await shell({ maxWaitSeconds: 0.2 }).runOnMany(ids, 'status', {});

    expect(results.get('i-0aaa')).toMatchObject({ node: 'rabbit@ip-i-0aaa' });
    expect(results.get('i-0bbb')).toBeInstanceOf(NodeCommandFailed);
    expect(results.get('i-0bbb')).toMatchObject({ status: 'Undeliverable' });
    expect(results.get('i-0ccc')).toMatchObject({ status: 'OutputInvalid' });
    expect((results.get('i-0ccc') as NodeCommandFailed).cause).toBeInstanceOf(NodeOutputInvalid);
    expect(results.get('i-0ddd')).toMatchObject({ status: 'TimedOut' });
  });

  it('cancels, in one CancelCommand, the instances whose status did not come back within the bound, and only those', async () => {
    const ids = ['i-0aaa', 'i-0bbb', 'i-0ccc'];
    ssm
      .on(ListCommandInvocationsCommand)
      .callsFake(
        listing((id) => (id === 'i-0aaa' ? succeeded(id, status(nodeOf(id))) : { InstanceId: id, Status: id === 'i-0bbb' ? 'InProgress' : 'Pending' }), ids),
      );
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StandardOutputContent: status(nodeOf('i-0aaa')) });

    const results = await shell().runOnMany(ids, 'status', {}, { timeoutSeconds: 0.2 });

    expect(results.get('i-0aaa')).toMatchObject({ node: nodeOf('i-0aaa') });
    expect(results.get('i-0bbb')).toMatchObject({ status: 'TimedOut', message: expect.stringContaining('last seen: InProgress') });
    expect(results.get('i-0ccc')).toMatchObject({ status: 'TimedOut' });
    expect(ssm).toHaveReceivedCommandTimes(CancelCommandCommand, 1);
    expect(ssm).toHaveReceivedCommandWith(CancelCommandCommand, { CommandId: 'cmd-1', InstanceIds: ['i-0bbb', 'i-0ccc'] });
  });

  it('lends a view from another reporter when the first full output cannot be read', async () => {
    const ids = ['i-0aaa', 'i-0bbb', 'i-0ccc'];
    const view = { all: ids.map(nodeOf), running: ids.map(nodeOf) };
    ssm.on(ListCommandInvocationsCommand).callsFake(listing((id) => succeeded(id, status(nodeOf(id), view)), ids));
    ssm.on(GetCommandInvocationCommand, { InstanceId: 'i-0aaa' }).rejects(new Error('ThrottlingException'));
    ssm.on(GetCommandInvocationCommand, { InstanceId: 'i-0bbb' }).resolves({ Status: 'Success', StandardOutputContent: status(nodeOf('i-0bbb'), view) });

    const results = await shell().runOnMany(ids, 'status', {});

    expect(results.get('i-0aaa')).toBeInstanceOf(NodeCommandFailed);
    expect(results.get('i-0bbb')).toMatchObject({ members: view });
    expect(results.get('i-0ccc')).toMatchObject({ members: view });
  });

  it('reports every instance failed when the listing itself fails', async () => {
    ssm.on(ListCommandInvocationsCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));

    const results = await shell().runOnMany(['i-0aaa', 'i-0bbb'], 'status', {});

    expect([...results.values()].every((result) => result instanceof NodeCommandFailed)).toBe(true);
    expect(results.get('i-0aaa')).toMatchObject({ message: expect.stringContaining('ListCommandInvocations') });
  });

  it('asks more than the 50 instances SendCommand takes for their status in one command to the cluster tag', async () => {
    const tagged = [...sixty, 'i-unasked'];
    ssm.on(ListCommandInvocationsCommand).callsFake(listing((id) => succeeded(id, status(nodeOf(id), everyone)), tagged));
    ssm.on(GetCommandInvocationCommand).callsFake((input) => ({ Status: 'Success', StandardOutputContent: status(nodeOf(input.InstanceId!), everyone) }));

    const results = await shell().runOnMany(sixty, 'status', {});

    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    const sent = ssm.commandCalls(SendCommandCommand)[0]!.args[0].input;
    expect(sent.Targets).toEqual([{ Key: 'tag:warren:cluster', Values: ['orders'] }]);
    expect(sent.InstanceIds).toBeUndefined();
    // only the asked instances are reported, whatever else carries the tag
    expect(results.size).toBe(60);
    expect(results.has('i-unasked')).toBe(false);
    expect(results.get('i-0000003b')).toMatchObject({ node: 'rabbit@ip-i-0000003b' });
  });

  it('reports an asked instance the tag command never reached as failed, and the others', async () => {
    ssm.on(ListCommandInvocationsCommand).callsFake(listing((id) => (id === 'i-00000007' ? undefined : succeeded(id, status(nodeOf(id), everyone))), sixty));
    ssm.on(GetCommandInvocationCommand).callsFake((input) => ({ Status: 'Success', StandardOutputContent: status(nodeOf(input.InstanceId!), everyone) }));

    const results = await shell({ maxWaitSeconds: 0.2 }).runOnMany(sixty, 'status', {});

    expect(results.get('i-00000007')).toBeInstanceOf(NodeCommandFailed);
    expect(results.get('i-00000007')).toMatchObject({ status: 'TimedOut' });
    expect([...results.values()].filter((result) => result instanceof NodeCommandFailed)).toHaveLength(1);
  });

  it('sends an operation that changes a node by instance id, 50 at most a command, and waits on each', async () => {
    ssm.on(GetCommandInvocationCommand).callsFake((input) => ({
      Status: 'Success',
      StandardOutputContent: JSON.stringify({ node: `rabbit@ip-${input.InstanceId}`, drained: true }),
    }));

    const results = await shell().runOnMany(sixty, 'drain', {});

    const sent = ssm.commandCalls(SendCommandCommand).map((call) => call.args[0].input);
    expect(sent.map((input) => input.InstanceIds!.length)).toEqual([50, 10]);
    expect(sent.every((input) => input.Targets === undefined)).toBe(true);
    expect(ssm).toHaveReceivedCommandTimes(ListCommandInvocationsCommand, 0);
    expect(results.size).toBe(60);
  });

  it('splits a status at 50 instances when it does not know the cluster tag, and still fetches one output per view', async () => {
    ssm.on(ListCommandInvocationsCommand).callsFake(listing((id) => succeeded(id, status(nodeOf(id), everyone)), sixty));
    ssm.on(GetCommandInvocationCommand).callsFake((input) => ({ Status: 'Success', StandardOutputContent: status(nodeOf(input.InstanceId!), everyone) }));
    const untagged = new SsmNodeShell({ ssmDocumentPrefix: 'warren-', bounds: adapterConfig.bounds }, { ssm: new SSMClient({}) }, { poll: fastPoll });

    const results = await untagged.runOnMany(sixty, 'status', {});

    expect(ssm.commandCalls(SendCommandCommand).map((call) => call.args[0].input.InstanceIds!.length)).toEqual([50, 10]);
    expect(ssm).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 1);
    expect([...results.values()].every((result) => !(result instanceof Error))).toBe(true);
  });
});
