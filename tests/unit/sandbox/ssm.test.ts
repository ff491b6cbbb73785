import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AwsRequestFailed } from '../../../shared/aws/errors';
import { NodeCommandFailed, NodeOutputInvalid } from '../../../shared/errors';
import { LocalNodeShell } from '../../../infra/sandbox/cloud/local-node-shell';
import { schedulerOn } from '../../../infra/sandbox/cloud/scheduler';
import { LocalRunCommand, type AgentState, type CommandTargets } from '../../../infra/sandbox/cloud/ssm';
import type { ProcessResult } from '../../../infra/sandbox/nodes/process';
import { testConfig } from '../cluster/test-config';
import { FakeClock } from '../workflows/fake-clock';

const STATUS_STDOUT = readFileSync(join(__dirname, '../rabbitmq/fixtures/NodeStatus.running.stdout'), 'utf8');
const PREFIX = 'warren-';

/** Machines whose agent state the story sets and whose "scripts" answer what the story says, recording every run. */
class RecordingTargets implements CommandTargets {
  readonly agents = new Map<string, AgentState>();
  readonly answers = new Map<string, ProcessResult>();
  readonly ran: Array<{ instanceId: string; document: string; params: Record<string, string> }> = [];

  agentState(instanceId: string): AgentState | undefined {
    return this.agents.get(instanceId);
  }

  async runDocument(instanceId: string, document: string, params: Record<string, string>): Promise<ProcessResult> {
    this.ran.push({ instanceId, document, params });
    return this.answers.get(instanceId) ?? { exitCode: 0, stdout: STATUS_STDOUT, stderr: '' };
  }
}

function setUp(options: { agentOnlineDelayMs?: number } = {}) {
  const clock = new FakeClock();
  const targets = new RecordingTargets();
  const runCommand = new LocalRunCommand({ targets, scheduler: schedulerOn(clock), documentPrefix: PREFIX, agentPollMs: 1000, ...options });
  const config = testConfig({ SSM_COMMAND_TIMEOUT_SECONDS: '60' });
  const shell = new LocalNodeShell(runCommand, config);
  return { clock, targets, runCommand, shell };
}

describe('LocalRunCommand', () => {
  it('keeps an invocation Pending until the agent registered, then runs the document to Success', async () => {
    const { clock, targets, runCommand } = setUp({ agentOnlineDelayMs: 5000 });
    targets.agents.set('i-a', { state: 'booting' });

    const commandId = await runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: ['i-a'] });
    const beforeBoot = runCommand.getCommandInvocation(commandId, 'i-a');
    const listedWhileBooting = runCommand.describeInstanceInformation(['i-a']);
    targets.agents.set('i-a', { state: 'ready', since: clock.now() });
    const done = await runCommand.waitForInvocation(commandId, 'i-a', 60_000);

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

    await expect(runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: ['i-nobody'] })).rejects.toMatchObject({ name: 'InvalidInstanceId' });
    await expect(runCommand.sendCommand({ DocumentName: 'NodeStatus', InstanceIds: ['i-nobody'] })).rejects.toMatchObject({ name: 'InvalidDocument' });
    await expect(runCommand.sendCommand({ DocumentName: `${PREFIX}../ssm/NodeStatus`, InstanceIds: ['i-nobody'] })).rejects.toMatchObject({ name: 'InvalidDocument' });
  });

  it('ends DeliveryTimedOut when the agent never comes online within the command timeout', async () => {
    const { targets, runCommand } = setUp();
    targets.agents.set('i-a', { state: 'ready', since: 0 });
    runCommand.setAgentConnected('i-a', false);

    const commandId = await runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: ['i-a'], TimeoutSeconds: 30 });
    const done = await runCommand.waitForInvocation(commandId, 'i-a', 120_000);

    expect(done).toMatchObject({ Status: 'TimedOut', StatusDetails: 'DeliveryTimedOut' });
    expect(done.ExecutionEndDateTime! - done.RequestedDateTime).toBe(30_000);
    expect(runCommand.describeInstanceInformation(['i-a'])).toEqual([{ InstanceId: 'i-a', PingStatus: 'ConnectionLost' }]);
    expect(targets.ran).toHaveLength(0);
  });

  it('fails the next N commands of one document on one instance, then runs normally again', async () => {
    const { targets, runCommand } = setUp();
    targets.agents.set('i-a', { state: 'ready', since: 0 });
    runCommand.injectFault({ instanceId: 'i-a', document: 'NodeStatus', times: 2, effect: { kind: 'fail', stderr: 'disk on fire' } });

    const results = [];
    for (let i = 0; i < 3; i++) {
      const commandId = await runCommand.sendCommand({ DocumentName: `${PREFIX}NodeStatus`, InstanceIds: ['i-a'] });
      results.push(await runCommand.waitForInvocation(commandId, 'i-a', 60_000));
    }

    expect(results.map((r) => r.Status)).toEqual(['Failed', 'Failed', 'Success']);
    expect(results[0]!.StandardErrorContent).toBe('disk on fire');
    expect(targets.ran).toHaveLength(1);
  });
});

describe('LocalNodeShell', () => {
  it('asks many instances in ONE command and reports each one apart', async () => {
    const { targets, runCommand, shell } = setUp();
    for (const id of ['i-a', 'i-b', 'i-c']) targets.agents.set(id, { state: 'ready', since: 0 });
    targets.answers.set('i-b', { exitCode: 3, stdout: '', stderr: 'rabbitmqctl: node down' });
    targets.agents.set('i-c', { state: 'gone' });

    const statuses = await shell.runOnMany(['i-a', 'i-b', 'i-c', 'i-a'], 'status', {});

    expect(runCommand.sent).toHaveLength(1);
    expect(shell.commandsSent('status')).toBe(1);
    expect(statuses.get('i-a')).toMatchObject({ node: 'rabbit@ip-10-213-228-11', running: true });
    expect(statuses.get('i-b')).toBeInstanceOf(NodeCommandFailed);
    expect(statuses.get('i-b')).toMatchObject({ status: 'Failed', stderr: 'rabbitmqctl: node down' });
    expect(statuses.get('i-c')).toMatchObject({ status: 'Undeliverable' });
  });

  it('turns output that does not parse into NodeOutputInvalid', async () => {
    const { targets, shell } = setUp();
    targets.agents.set('i-a', { state: 'ready', since: 0 });
    targets.answers.set('i-a', { exitCode: 0, stdout: 'Error: unable to perform an operation', stderr: '' });

    await expect(shell.run('i-a', 'status', {})).rejects.toBeInstanceOf(NodeOutputInvalid);
  });

  it('reports a command without a terminal status within the bound as TimedOut', async () => {
    const { targets, runCommand, shell } = setUp();
    targets.agents.set('i-a', { state: 'ready', since: 0 });
    runCommand.injectFault({ effect: { kind: 'delay', ms: 300_000 } });

    await expect(shell.run('i-a', 'drain', {})).rejects.toMatchObject({ name: 'NodeCommandFailed', status: 'TimedOut' });
  });

  it('surfaces a refused SendCommand as AwsRequestFailed keeping the SSM error, and counts it', async () => {
    const { targets, shell } = setUp();
    targets.agents.set('i-a', { state: 'ready', since: 0 });

    const forgetting = shell.run('i-a', 'forget', { NodeName: '$(reboot)', Departed: 'false' });

    await expect(forgetting).rejects.toBeInstanceOf(AwsRequestFailed);
    await expect(forgetting).rejects.toMatchObject({ cause: { name: 'InvalidParameters' } });
    expect(shell.commandsSent('forget')).toBe(1);
    expect(await shell.isAgentOnline('i-a')).toBe(true);
  });
});
