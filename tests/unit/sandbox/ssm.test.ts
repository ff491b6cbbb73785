import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalAwsEndpoint } from '../../../infra/sandbox/aws/endpoint';
import { ssmApi } from '../../../infra/sandbox/aws/ssm-api';
import { realTimeScheduler, schedulerOn, type Scheduler } from '../../../infra/sandbox/cloud/scheduler';
import { isTerminal, LocalRunCommand, type AgentState, type CommandInvocation, type CommandTargets } from '../../../infra/sandbox/cloud/ssm';
import type { ProcessResult } from '../../../infra/sandbox/nodes/process';
import { createAwsClients } from '../../../shared/aws/clients';
import { SCRIPT_DEADLINE_MARGIN_SECONDS } from '../../../shared/aws/command-shell';
import { AwsRequestFailed } from '../../../shared/aws/errors';
import { SsmNodeShell } from '../../../shared/aws/node-shell';
import { NodeCommandFailed, NodeOutputInvalid } from '../../../shared/errors';
import { membersDigest, type Members } from '../../../shared/rabbitmq/operations';
import { testConfig } from '../../support/config';
import { FakeClock } from '../../support/fake-clock';

const STATUS_STDOUT = readFileSync(join(__dirname, '../rabbitmq/fixtures/NodeStatus.running.stdout'), 'utf8');
const PREFIX = 'warren-';

/** Machines whose agent state the story sets and whose "scripts" answer what the story says, recording every run. */
class RecordingTargets implements CommandTargets {
  readonly agents = new Map<string, AgentState>();
  readonly answers = new Map<string, ProcessResult>();
  readonly ran: Array<{ instanceId: string; document: string; params: Record<string, string> }> = [];
  /** instances whose script runs until it is killed */
  readonly endless = new Set<string>();
  /** instances whose script was killed */
  readonly killed: string[] = [];

  agentState(instanceId: string): AgentState | undefined {
    return this.agents.get(instanceId);
  }

  async runDocument(instanceId: string, document: string, params: Record<string, string>, options: { signal?: AbortSignal } = {}): Promise<ProcessResult> {
    this.ran.push({ instanceId, document, params });
    if (this.endless.has(instanceId)) {
      await new Promise<void>((resolve) => options.signal?.addEventListener('abort', () => resolve()));
      this.killed.push(instanceId);
      return { exitCode: 137, stdout: '', stderr: 'killed' };
    }
    return this.answers.get(instanceId) ?? { exitCode: 0, stdout: STATUS_STDOUT, stderr: '' };
  }
}

/** The invocation once terminal, or as it stands when `maxWaitMs` ran out first, polled on the model's clock. */
function waiter(runCommand: LocalRunCommand, scheduler: Scheduler) {
  return async (commandId: string, instanceId: string, maxWaitMs: number): Promise<CommandInvocation> => {
    const until = scheduler.now() + maxWaitMs;
    let invocation = runCommand.getCommandInvocation(commandId, instanceId);
    while (!isTerminal(invocation) && scheduler.now() < until) {
      await new Promise<void>((resolve) => scheduler.after(Math.min(10, until - scheduler.now()), resolve));
      invocation = runCommand.getCommandInvocation(commandId, instanceId);
    }
    return invocation;
  };
}

/** The model alone, on virtual time. */
function setUp(options: { agentOnlineDelayMs?: number } = {}) {
  const clock = new FakeClock();
  const targets = new RecordingTargets();
  const scheduler = schedulerOn(clock);
  const runCommand = new LocalRunCommand({ targets, scheduler, documentPrefix: PREFIX, agentPollMs: 1000, ...options });
  return { clock, targets, runCommand, waitFor: waiter(runCommand, scheduler) };
}

describe('LocalRunCommand', () => {
  it('keeps an invocation Pending until the agent registered, then runs the document to Success', async () => {
    const { clock, targets, runCommand, waitFor } = setUp({ agentOnlineDelayMs: 5000 });
    targets.agents.set('i-a', { state: 'booting' });

    const commandId = await runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: ['i-a'] });
    const beforeBoot = runCommand.getCommandInvocation(commandId, 'i-a');
    const listedWhileBooting = runCommand.describeInstanceInformation(['i-a']);
    targets.agents.set('i-a', { state: 'ready', since: clock.now() });
    const done = await waitFor(commandId, 'i-a', 60_000);

    expect(beforeBoot.Status).toBe('Pending');
    expect(listedWhileBooting).toEqual([]);
    expect(done).toMatchObject({ Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardOutputContent: STATUS_STDOUT });
    expect(done.ExecutionStartDateTime! - done.RequestedDateTime).toBeGreaterThanOrEqual(5000);
    expect(runCommand.describeInstanceInformation(['i-a'])).toEqual([{ InstanceId: 'i-a', PingStatus: 'Online' }]);
  });

  it('refuses a parameter outside its allowedPattern at send time and runs nothing', async () => {
    const { targets, runCommand } = setUp();
    targets.agents.set('i-a', { state: 'ready', since: 0 });

    const sending = runCommand.sendCommand({
      DocumentName: `${PREFIX}NodeForget`,
      InstanceIds: ['i-a'],
      Parameters: { NodeName: ['rabbit@ip-10-0-0-1; rm -rf /'] },
    });

    await expect(sending).rejects.toMatchObject({ name: 'InvalidParameters', message: expect.stringContaining('NodeName') });
    expect(runCommand.sent).toHaveLength(0);
    expect(targets.ran).toHaveLength(0);
  });

  it('refuses unknown instances and documents outside the prefix like SSM', async () => {
    const { runCommand } = setUp();

    await expect(runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: ['i-nobody'] })).rejects.toMatchObject({
      name: 'InvalidInstanceId',
    });
    await expect(runCommand.sendCommand({ DocumentName: 'NodeStatus', InstanceIds: ['i-nobody'] })).rejects.toMatchObject({ name: 'InvalidDocument' });
    await expect(runCommand.sendCommand({ DocumentName: `${PREFIX}../ssm/NodeStatus`, InstanceIds: ['i-nobody'] })).rejects.toMatchObject({
      name: 'InvalidDocument',
    });
  });

  it('ends DeliveryTimedOut when the agent never comes online within the command timeout', async () => {
    const { targets, runCommand, waitFor } = setUp();
    targets.agents.set('i-a', { state: 'ready', since: 0 });
    runCommand.setAgentConnected('i-a', false);

    const commandId = await runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: ['i-a'], TimeoutSeconds: 30 });
    const done = await waitFor(commandId, 'i-a', 120_000);

    expect(done).toMatchObject({ Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut' });
    expect(done.ExecutionEndDateTime! - done.RequestedDateTime).toBe(30_000);
    expect(runCommand.describeInstanceInformation(['i-a'])).toEqual([{ InstanceId: 'i-a', PingStatus: 'ConnectionLost' }]);
    expect(targets.ran).toHaveLength(0);
  });

  it('fails the next N commands of one document on one instance, then runs normally again', async () => {
    const { targets, runCommand, waitFor } = setUp();
    targets.agents.set('i-a', { state: 'ready', since: 0 });
    runCommand.injectFault({ instanceId: 'i-a', document: 'NodeStatus', times: 2, effect: { kind: 'fail', stderr: 'disk on fire' } });

    const results = [];
    for (let i = 0; i < 3; i++) {
      const commandId = await runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: ['i-a'] });
      results.push(await waitFor(commandId, 'i-a', 60_000));
    }

    expect(results.map((r) => r.Status)).toEqual(['Failed', 'Failed', 'Success']);
    expect(results[0]!.StandardErrorContent).toBe('disk on fire');
    expect(targets.ran).toHaveLength(1);
  });

  it('cancels a running script by killing it: Cancelling until it ended, then Cancelled', async () => {
    const { targets, runCommand, waitFor } = setUp();
    targets.agents.set('i-a', { state: 'ready', since: 0 });
    targets.endless.add('i-a');
    const commandId = await runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: ['i-a'] });
    const running = await waitFor(commandId, 'i-a', 10_000);

    runCommand.cancelCommand({ CommandId: commandId, InstanceIds: ['i-a'] });
    const right = runCommand.getCommandInvocation(commandId, 'i-a');
    const ended = await waitFor(commandId, 'i-a', 10_000);

    expect(running.Status).toBe('InProgress');
    expect(right.Status).toBe('Cancelling');
    expect(ended).toMatchObject({ Status: 'Cancelled', StatusDetails: 'Cancelled' });
    expect(targets.killed).toEqual(['i-a']);
    expect(() => runCommand.cancelCommand({ CommandId: 'nope' })).toThrow(expect.objectContaining({ name: 'InvalidCommandId' }));
  });

  it('cancels an undelivered invocation at once, so it never runs, and leaves an ended one as it ended', async () => {
    const { targets, runCommand, waitFor } = setUp();
    targets.agents.set('i-a', { state: 'ready', since: 0 });
    targets.agents.set('i-b', { state: 'ready', since: 0 });
    runCommand.setAgentConnected('i-a', false);
    const commandId = await runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: ['i-a', 'i-b'] });
    await waitFor(commandId, 'i-b', 10_000);

    runCommand.cancelCommand({ CommandId: commandId });
    runCommand.setAgentConnected('i-a', true);
    const a = await waitFor(commandId, 'i-a', 10_000);

    expect(a).toMatchObject({ Status: 'Cancelled', StatusDetails: 'Cancelled' });
    expect(runCommand.getCommandInvocation(commandId, 'i-b').Status).toBe('Success');
    expect(targets.ran.map((run) => run.instanceId)).toEqual(['i-b']);
  });
});

describe('LocalRunCommand.listCommandInvocations', () => {
  it("lists a command 50 invocations a page, each output cut at 2,500 characters with stderr after SSM's separator", async () => {
    const { targets, runCommand, waitFor } = setUp();
    const ids = Array.from({ length: 50 }, (_, n) => `i-${n}`);
    for (const id of ids) targets.agents.set(id, { state: 'ready', since: 0 });
    targets.answers.set('i-0', { exitCode: 0, stdout: 'x'.repeat(3000), stderr: '' });
    targets.answers.set('i-1', { exitCode: 2, stdout: 'half\n', stderr: 'boom' });
    const commandId = await runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: ids });
    await Promise.all(ids.map((id) => waitFor(commandId, id, 60_000)));

    const first = runCommand.listCommandInvocations({ CommandId: commandId, Details: true, MaxResults: 30 });
    const second = runCommand.listCommandInvocations({ CommandId: commandId, Details: true, MaxResults: 30, NextToken: first.NextToken });
    const bare = runCommand.listCommandInvocations({ CommandId: commandId });

    expect(first.CommandInvocations).toHaveLength(30);
    expect(first.NextToken).toBeDefined();
    expect(second.CommandInvocations).toHaveLength(20);
    expect(second.NextToken).toBeUndefined();
    expect(bare.CommandInvocations).toHaveLength(50);
    expect(bare.CommandInvocations[0]!.CommandPlugins).toBeUndefined();
    expect(first.CommandInvocations[0]!.CommandPlugins![0]!.Output).toHaveLength(2500);
    expect(first.CommandInvocations[1]).toMatchObject({
      Status: 'Failed',
      CommandPlugins: [{ ResponseCode: 2, Output: 'half\n\n----------ERROR-------\nboom' }],
    });
    expect(() => runCommand.listCommandInvocations({ CommandId: commandId, MaxResults: 51 })).toThrow(expect.objectContaining({ name: 'ValidationException' }));
    expect(() => runCommand.listCommandInvocations({ CommandId: 'nope' })).toThrow(expect.objectContaining({ name: 'InvalidCommandId' }));
  });
});

describe('LocalRunCommand.listCommands and Targets', () => {
  it("adds up a command's invocations: Pending, InProgress while one runs, then Failed with its counts", async () => {
    const { clock, targets, runCommand, waitFor } = setUp();
    targets.agents.set('i-a', { state: 'booting' });
    targets.agents.set('i-b', { state: 'booting' });
    targets.answers.set('i-a', { exitCode: 1, stdout: '', stderr: 'no' });
    targets.endless.add('i-c');
    targets.agents.set('i-c', { state: 'ready', since: 0 });

    const commandId = await runCommand.sendCommand({
      DocumentName: `${PREFIX}NodeStatus`,
      InstanceIds: ['i-a', 'i-b'],
      TimeoutSeconds: 30,
      Comment: 'warren status',
    });
    const pending = runCommand.listCommands()[0]!;
    targets.agents.set('i-a', { state: 'ready', since: clock.now() });
    await waitFor(commandId, 'i-a', 10_000);
    const partly = runCommand.listCommands()[0]!;
    const ended = await waitFor(commandId, 'i-b', 60_000);
    const done = runCommand.listCommands()[0]!;
    const other = await runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: ['i-c'] });
    await waitFor(other, 'i-c', 1_000);
    const running = runCommand.listCommands();

    expect(pending).toMatchObject({ CommandId: commandId, Status: 'Pending', TargetCount: 2, CompletedCount: 0, Comment: 'warren status', TimeoutSeconds: 30 });
    expect(partly).toMatchObject({ Status: 'InProgress', CompletedCount: 1, ErrorCount: 1 });
    expect(ended).toMatchObject({ Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut' });
    expect(done).toMatchObject({ Status: 'Failed', CompletedCount: 2, ErrorCount: 1, DeliveryTimedOutCount: 1 });
    expect(running.map((command) => [command.CommandId, command.Status])).toEqual([
      [other, 'InProgress'],
      [commandId, 'Failed'],
    ]);
    runCommand.cancelCommand({ CommandId: other });
    expect(runCommand.listCommands()[0]).toMatchObject({ Status: 'Cancelling' });
  });

  it('runs a command sent to Targets on the instances SSM manages among those they resolved to, and on none at all', async () => {
    const { targets, runCommand, waitFor } = setUp();
    targets.agents.set('i-a', { state: 'ready', since: 0 });
    const Targets = [{ Key: 'tag:warren:cluster', Values: ['test'] }];

    const some = await runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: ['i-a', 'i-unmanaged'], Targets });
    const none = await runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: [], Targets });
    await waitFor(some, 'i-a', 10_000);

    expect(runCommand.listCommandInvocations({ CommandId: some }).CommandInvocations.map((invocation) => invocation.InstanceId)).toEqual(['i-a']);
    expect(runCommand.listCommandInvocations({ CommandId: none }).CommandInvocations).toEqual([]);
    expect(runCommand.listCommands().map((command) => [command.TargetCount, command.Status, command.Targets])).toEqual([
      [0, 'Success', Targets],
      [1, 'Success', Targets],
    ]);
    expect(runCommand.listCommandInvocations({ InstanceId: 'i-a' }).CommandInvocations.map((invocation) => invocation.CommandId)).toEqual([some]);
  });
});

/** NodeStatus's two lines for a running node seeing `view`. */
function statusStdout(node: string, view: Members): string {
  const summary = {
    node,
    version: '4.0.5',
    running: true,
    partitions: {},
    alarms: [],
    cookieHash: 'c0ffee',
    policies: ['warren-quorum'],
    defaultQueueType: 'quorum',
    underMaintenance: false,
    membersDigest: membersDigest(view),
    memberCounts: { all: view.all.length, running: view.running.length },
  };
  return `${JSON.stringify(summary)}\n${JSON.stringify({ members: view })}\n`;
}

/** An EC2-shaped instance id (SendCommand checks the pattern). */
const id = (name: string) => `i-${Buffer.from(name).toString('hex').padStart(17, '0').slice(-17)}`;

/*
 * warren's adapter over the model through the local endpoint, on real time (virtual time would jump
 * while a request waits on its socket): the model's scripts answer at once, the waits are the SDK
 * waiter's at a fast poll.
 */
describe('SsmNodeShell over the local endpoint', () => {
  let endpoint: LocalAwsEndpoint | undefined;

  afterEach(async () => {
    await endpoint?.close();
    endpoint = undefined;
  });

  async function overEndpoint(options: { scheduler?: Scheduler; byIdOnly?: boolean } = {}) {
    const targets = new RecordingTargets();
    const scheduler = options.scheduler ?? realTimeScheduler;
    const runCommand = new LocalRunCommand({ targets, scheduler, documentPrefix: PREFIX, agentPollMs: 20 });
    endpoint = await LocalAwsEndpoint.start([ssmApi(runCommand)], { region: 'us-east-1' });
    const config = testConfig({ SSM_COMMAND_TIMEOUT_SECONDS: '60' });
    const clients = createAwsClients({ ...endpoint.clientOptions(), maxAttempts: 2, retryDelayMs: 10 });
    // without a cluster name, many instances go by id, 50 a command
    const shell = new SsmNodeShell(options.byIdOnly ? { ...config, clusterName: undefined } : config, clients, {
      poll: { minDelay: 0.05, maxDelay: 0.1 },
      log: { warn: () => undefined },
    });
    return { targets, runCommand, shell, endpoint, waitFor: waiter(runCommand, scheduler) };
  }

  it('sends one step of NodeRestart to every node of a losing side in one command, parameters as SSM exports them', async () => {
    const { targets, runCommand, shell } = await overEndpoint();
    const restarted = readFileSync(join(__dirname, '../rabbitmq/fixtures/NodeRestart.restarted.stdout'), 'utf8');
    const [d, e] = [id('d'), id('e')];
    for (const instanceId of [d, e]) {
      targets.agents.set(instanceId, { state: 'ready', since: 0 });
      targets.answers.set(instanceId, { exitCode: 0, stdout: restarted, stderr: '' });
    }
    const params = { Survivors: 'rabbit@ip-10-0-0-1,rabbit@ip-10-0-0-2', Step: 'stop', TimeoutSeconds: '60' } as const;
    // the script's own deadline ends a margin before the shell stops waiting for it (60 s here)
    const exported = { ...params, TimeoutSeconds: String(60 - SCRIPT_DEADLINE_MARGIN_SECONDS) };

    const results = await shell.runOnMany([d, e], 'restart', params);

    expect(runCommand.sent).toHaveLength(1);
    expect(targets.ran).toEqual([
      { instanceId: d, document: 'NodeRestart', params: exported },
      { instanceId: e, document: 'NodeRestart', params: exported },
    ]);
    expect(results.get(e)).toMatchObject({ done: true, running: true });
    await expect(shell.run(d, 'restart', { ...params, Survivors: 'rabbit@a;reboot' })).rejects.toBeInstanceOf(AwsRequestFailed);
  });

  it('reads many statuses through the listing and fetches one full output per view, 50 instances a command', async () => {
    const { targets, runCommand, shell, endpoint } = await overEndpoint({ byIdOnly: true });
    const ids = Array.from({ length: 120 }, (_, n) => id(`n${n}`));
    const nodes = ids.map((instanceId) => `rabbit@ip-${instanceId}`).sort();
    const whole = { all: nodes, running: nodes };
    const last = ids[119]!;
    const cutOff = { all: nodes, running: [`rabbit@ip-${last}`] };
    for (const instanceId of ids) {
      targets.agents.set(instanceId, { state: 'ready', since: 0 });
      targets.answers.set(instanceId, { exitCode: 0, stdout: statusStdout(`rabbit@ip-${instanceId}`, instanceId === last ? cutOff : whole), stderr: '' });
    }

    const statuses = await shell.runOnMany(ids, 'status', {});

    expect(statusStdout(`rabbit@ip-${ids[0]}`, whole).length).toBeGreaterThan(2500);
    expect(runCommand.sent.map((command) => command.InstanceIds.length)).toEqual([50, 50, 20]);
    const listed = endpoint.calls.filter((call) => call.operation === 'ListCommandInvocations');
    expect(new Set(listed.map((call) => call.input.CommandId)).size).toBe(3);
    expect(endpoint.count('GetCommandInvocation')).toBe(2);
    expect(statuses.get(ids[5]!)).toMatchObject({ node: `rabbit@ip-${ids[5]}`, members: whole });
    expect(statuses.get(last)).toMatchObject({ members: cutOff });
  });

  it('asks many instances in ONE command and reports each one apart', async () => {
    const { targets, runCommand, shell, endpoint } = await overEndpoint();
    const [a, b, c] = [id('a'), id('b'), id('c')];
    for (const instanceId of [a, b, c]) targets.agents.set(instanceId, { state: 'ready', since: 0 });
    targets.answers.set(b, { exitCode: 3, stdout: '', stderr: 'rabbitmqctl: node down' });
    targets.agents.set(c, { state: 'gone' });

    const statuses = await shell.runOnMany([a, b, c, a], 'status', {});

    expect(runCommand.sent).toHaveLength(1);
    expect(endpoint.count('SendCommand')).toBe(1);
    expect(statuses.get(a)).toMatchObject({
      node: 'rabbit@ip-10-213-200-11',
      running: true,
      members: { running: ['rabbit@ip-10-213-200-11', 'rabbit@ip-10-213-200-12'] },
    });
    expect(statuses.get(b)).toBeInstanceOf(NodeCommandFailed);
    expect(statuses.get(b)).toMatchObject({ status: 'Failed', stderr: 'rabbitmqctl: node down' });
    expect(statuses.get(c)).toMatchObject({ status: 'Undeliverable' });
  });

  it('turns output that does not parse into NodeOutputInvalid', async () => {
    const { targets, shell } = await overEndpoint();
    const a = id('a');
    targets.agents.set(a, { state: 'ready', since: 0 });
    targets.answers.set(a, { exitCode: 0, stdout: 'Error: unable to perform an operation', stderr: '' });

    await expect(shell.run(a, 'status', {})).rejects.toBeInstanceOf(NodeOutputInvalid);
  });

  it('reports a command without a terminal status within the bound as TimedOut, and cancels it', async () => {
    const { targets, runCommand, shell, endpoint } = await overEndpoint();
    const a = id('a');
    targets.agents.set(a, { state: 'ready', since: 0 });
    runCommand.injectFault({ effect: { kind: 'delay', ms: 300_000 } });

    await expect(shell.run(a, 'drain', {}, { timeoutSeconds: 1 })).rejects.toMatchObject({ name: 'NodeCommandFailed', status: 'TimedOut' });
    expect(endpoint.count('CancelCommand')).toBe(1);
    expect(runCommand.getCommandInvocation(runCommand.sent[0]!.CommandId, a).Status).toBe('Cancelled');
  });

  it('kills the script it gave up on at its bound, one instance of many, and never runs an undelivered one later', async () => {
    const { targets, runCommand, shell, waitFor } = await overEndpoint();
    const [a, b, c] = [id('a'), id('b'), id('c')];
    for (const instanceId of [a, b, c]) targets.agents.set(instanceId, { state: 'ready', since: 0 });
    targets.endless.add(b);
    runCommand.setAgentConnected(c, false);
    const started = Date.now();

    const drained = await shell.runOnMany([a, b, c], 'drain', {}, { timeoutSeconds: 1 });
    const elapsed = Date.now() - started;
    runCommand.setAgentConnected(c, true);
    const [commandId] = runCommand.sent.map((command) => command.CommandId);
    const later = await waitFor(commandId!, c, 200);

    // the SDK waiter's bound, as its timers keep it
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(3_000);
    // the SDK waiter's TimeoutError names no last status, unlike the model's own wait
    expect(drained.get(b)).toMatchObject({ status: 'TimedOut', message: expect.stringContaining('no terminal status within 1s') });
    expect(drained.get(c)).toMatchObject({ status: 'TimedOut', message: expect.stringContaining('; cancelled') });
    expect(targets.killed).toEqual([b]);
    expect(runCommand.getCommandInvocation(commandId!, b).Status).toBe('Cancelled');
    expect(later.Status).toBe('Cancelled');
    expect(targets.ran.map((run) => run.instanceId).sort()).toEqual([a, b].sort());
  });

  it('surfaces a refused SendCommand as AwsRequestFailed keeping the SSM error, sent once', async () => {
    const { targets, shell, endpoint } = await overEndpoint();
    const a = id('a');
    targets.agents.set(a, { state: 'ready', since: 0 });

    const forgetting = shell.run(a, 'forget', { NodeName: '$(reboot)', Departed: 'false' });

    await expect(forgetting).rejects.toBeInstanceOf(AwsRequestFailed);
    await expect(forgetting).rejects.toMatchObject({ cause: { name: 'InvalidParameters' } });
    expect(endpoint.calls.filter((call) => call.operation === 'SendCommand').map((call) => call.error)).toEqual(['InvalidParameters']);
    expect(targets.ran).toEqual([]);
    expect(await shell.isAgentOnline(a)).toBe(true);
  });
});
