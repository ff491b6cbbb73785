import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetQueueAttributesCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { DescribeInstanceInformationCommand, GetCommandInvocationCommand, ListCommandsCommand, waitUntilCommandExecuted } from '@aws-sdk/client-ssm';
import type { SQSRecord } from 'aws-lambda';
import { LocalAwsEndpoint } from '../../../infra/sandbox/aws/endpoint';
import type { ServiceApi } from '../../../infra/sandbox/aws/protocol';
import { md5OfBody, sqsApi } from '../../../infra/sandbox/aws/sqs-api';
import { ssmApi } from '../../../infra/sandbox/aws/ssm-api';
import { realTimeScheduler } from '../../../infra/sandbox/cloud/scheduler';
import { LocalRunCommand, type AgentState, type CommandTargets } from '../../../infra/sandbox/cloud/ssm';
import { LocalQueue } from '../../../infra/sandbox/queue';
import { loadDocument, parameterEnvironment } from '../../../infra/sandbox/nodes/documents';
import { runProcess, type ProcessResult } from '../../../infra/sandbox/nodes/process';
import { createAwsClients, type AwsClients } from '../../../shared/aws/clients';
import { AwsRequestFailed } from '../../../shared/aws/errors';
import { SqsHealQueue } from '../../../shared/aws/heal-queue';
import { CLUSTER_TAG } from '../../../shared/aws/inventory';
import { SsmNodeShell } from '../../../shared/aws/node-shell';
import { NodeCommandFailed } from '../../../shared/errors';
import { parseQueueMessage } from '../../../shared/events';
import { ATTEMPT_ATTRIBUTE, NOT_BEFORE_ATTRIBUTE, type QueuedRecord } from '../../../shared/ports';
import { membersDigest, type Members } from '../../../shared/rabbitmq/operations';
import { retryMarkOf } from '../../../shared/workflows/redelivery';
import { testConfig } from '../../support/config';

/*
 * The JSON-protocol services of the local AWS endpoint (SSM, SQS) on real time, driven by warren's
 * own adapters over real SDK clients: what the SDK sends, what it reads back (epoch-second dates, the
 * waiter's acceptors, error codes from headers, the MD5 digests it verifies) and what the local
 * models did with it. Virtual time is never used here: FakeClock jumps whenever every task waits, and
 * a task waiting on a socket looks just like that.
 */

const PREFIX = 'warren-';
const POLL = { minDelay: 0.05, maxDelay: 0.1 };
const config = testConfig({ SSM_COMMAND_TIMEOUT_SECONDS: '60' });

/** Small documents in the shape of infra/ssm's, whose scripts run in a second: what each instance prints comes from its environment. */
const DOCUMENTS: Record<string, string> = {
  NodeStatus: `schemaVersion: "2.2"
description: test NodeStatus, prints the status its instance was given
parameters: {}
mainSteps:
  - action: aws:runShellScript
    name: nodeStatus
    inputs:
      timeoutSeconds: "60"
      runCommand:
        - NodeStatus.sh
`,
  NodeDrain: `schemaVersion: "2.2"
description: test NodeDrain, sleeps as long as its instance was told, then drains
parameters: {}
mainSteps:
  - action: aws:runShellScript
    name: nodeDrain
    inputs:
      timeoutSeconds: "300"
      runCommand:
        - NodeDrain.sh
`,
  NodeForget: `schemaVersion: "2.2"
description: test NodeForget, which refuses like the real one when the node still runs
parameters:
  NodeName:
    type: String
    description: node to forget
    allowedPattern: ^[A-Za-z0-9_-]{1,64}@[A-Za-z0-9][A-Za-z0-9.-]{0,252}$
    interpolationType: ENV_VAR
  Departed:
    type: String
    description: departed
    default: "false"
    allowedPattern: ^(true|false)$
    interpolationType: ENV_VAR
mainSteps:
  - action: aws:runShellScript
    name: nodeForget
    inputs:
      timeoutSeconds: "120"
      runCommand:
        - NodeForget.sh
`,
};

/** Their scripts, each in the file its document names, as in infra/ssm. */
const SCRIPTS: Record<string, string> = {
  NodeStatus: `printf '%s' "$TEST_STATUS"
`,
  NodeDrain: `sleep "\${TEST_SLEEP:-0}"; printf '{"node":"%s","drained":true}\\n' "$TEST_NODE"
`,
  NodeForget: `echo "node $SSM_NodeName is running; refusing to forget it (departed=$SSM_Departed)" >&2; exit 2
`,
};

/** Machines whose scripts really run (bash, in their own process group), with the agent state the story sets. */
class ScriptTargets implements CommandTargets {
  readonly agents = new Map<string, AgentState>();
  readonly env = new Map<string, Record<string, string>>();
  readonly ran: Array<{ instanceId: string; document: string; params: Record<string, string> }> = [];
  /** instances whose script a CancelCommand killed */
  readonly killed: string[] = [];

  constructor(private readonly directory: string) {}

  agentState(instanceId: string): AgentState | undefined {
    return this.agents.get(instanceId);
  }

  async runDocument(instanceId: string, document: string, params: Record<string, string>, options: { signal?: AbortSignal } = {}): Promise<ProcessResult> {
    this.ran.push({ instanceId, document, params });
    const doc = loadDocument(document, this.directory);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...parameterEnvironment(doc, params), ...this.env.get(instanceId) };
    const result = await runProcess('bash', ['-c', doc.script], { env, signal: options.signal, timeoutMs: doc.timeoutSeconds * 1000 });
    if (options.signal?.aborted) this.killed.push(instanceId);
    return result;
  }
}

/** An EC2-shaped instance id (SendCommand checks the pattern). */
const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const nodeOf = (instanceId: string) => `rabbit@ip-${instanceId.slice(-6)}`;

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

async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('SSM Run Command through the local endpoint, by SsmNodeShell', () => {
  let directory: string;
  let targets: ScriptTargets;
  let runCommand: LocalRunCommand;
  let endpoint: LocalAwsEndpoint;
  let clients: AwsClients;
  let shell: SsmNodeShell;
  /** instances carrying the cluster tag, as EC2 would list them */
  const tagged: string[] = [];

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'warren-ssm-documents-'));
    for (const [name, text] of Object.entries(DOCUMENTS)) writeFileSync(join(directory, `${name}.yml`), text);
    for (const [name, text] of Object.entries(SCRIPTS)) writeFileSync(join(directory, `${name}.sh`), text);
    targets = new ScriptTargets(directory);
    runCommand = new LocalRunCommand({ targets, scheduler: realTimeScheduler, documentPrefix: PREFIX, agentPollMs: 20, documentDirectory: directory });
    endpoint = await LocalAwsEndpoint.start(
      [
        ssmApi(runCommand, {
          instancesTagged: (key, values) => (key === CLUSTER_TAG && values.includes(config.clusterName) ? tagged : []),
          instances: () => [...targets.agents.keys()],
        }),
      ],
      { region: 'us-east-1' },
    );
    clients = createAwsClients({ ...endpoint.clientOptions(), maxAttempts: 2, retryDelayMs: 10 });
    shell = new SsmNodeShell(config, clients, { poll: POLL, log: { warn: () => undefined } });
  });

  afterAll(async () => {
    await endpoint?.close();
    rmSync(directory, { recursive: true, force: true });
  });

  function ready(instanceId: string, status = statusStdout(nodeOf(instanceId), { all: [nodeOf(instanceId)], running: [nodeOf(instanceId)] })): string {
    targets.agents.set(instanceId, { state: 'ready', since: 0 });
    targets.env.set(instanceId, { TEST_STATUS: status, TEST_NODE: nodeOf(instanceId) });
    return instanceId;
  }

  it('runs a status and parses the stdout the script printed, waiting on GetCommandInvocation', async () => {
    const instanceId = ready(id(1));
    const before = endpoint.calls.length;

    const status = await shell.run(instanceId, 'status', {});

    expect(status).toMatchObject({ node: nodeOf(instanceId), running: true, members: { running: [nodeOf(instanceId)] } });
    const calls = endpoint.calls.slice(before);
    expect(calls[0]).toMatchObject({
      service: 'ssm',
      operation: 'SendCommand',
      input: { DocumentName: `${PREFIX}NodeStatus`, InstanceIds: [instanceId], MaxConcurrency: '100%' },
    });
    expect(calls.slice(1).every((call) => call.operation === 'GetCommandInvocation')).toBe(true);
  });

  it('sends parameters as lists of strings and reports a script that fails as NodeCommandFailed with its stderr', async () => {
    const instanceId = ready(id(2));
    const before = endpoint.calls.length;

    const forgetting = shell.run(instanceId, 'forget', { NodeName: 'rabbit@ip-10-0-0-9', Departed: 'true' });

    await expect(forgetting).rejects.toBeInstanceOf(NodeCommandFailed);
    await expect(forgetting).rejects.toMatchObject({ status: 'Failed', stderr: 'node rabbit@ip-10-0-0-9 is running; refusing to forget it (departed=true)\n' });
    const sent = endpoint.calls.slice(before).find((call) => call.operation === 'SendCommand')!;
    expect(sent.input.Parameters).toEqual({ NodeName: ['rabbit@ip-10-0-0-9'], Departed: ['true'] });
    expect(targets.ran.at(-1)).toEqual({ instanceId, document: 'NodeForget', params: { NodeName: 'rabbit@ip-10-0-0-9', Departed: 'true' } });
  });

  it('reads the statuses of more than 50 instances through one tag-targeted command and the pages of ListCommandInvocations', async () => {
    const ids = Array.from({ length: 60 }, (_, n) => id(100 + n));
    const nodes = ids.map(nodeOf).sort();
    const view = { all: nodes, running: nodes };
    for (const instanceId of ids) ready(instanceId, statusStdout(nodeOf(instanceId), view));
    // the tag reaches one instance nobody asked about; its invocation is listed and ignored
    const stranger = ready(id(999));
    tagged.splice(0, tagged.length, ...ids, stranger);
    const before = endpoint.calls.length;

    const statuses = await shell.runOnMany(ids, 'status', {});

    const calls = endpoint.calls.slice(before);
    const sends = calls.filter((call) => call.operation === 'SendCommand');
    expect(sends).toHaveLength(1);
    expect(sends[0]!.input).toMatchObject({ Targets: [{ Key: `tag:${CLUSTER_TAG}`, Values: [config.clusterName] }] });
    expect(sends[0]!.input.InstanceIds).toBeUndefined();
    const listings = calls.filter((call) => call.operation === 'ListCommandInvocations');
    expect(listings.map((call) => call.input.NextToken)).toContain('50');
    expect(listings.every((call) => call.input.Details === true && call.input.MaxResults === 50)).toBe(true);
    // one view: one full output fetched and lent to the other 59
    expect(calls.filter((call) => call.operation === 'GetCommandInvocation')).toHaveLength(1);
    expect(statuses.size).toBe(60);
    for (const instanceId of ids) expect(statuses.get(instanceId)).toMatchObject({ node: nodeOf(instanceId), members: view });
    expect(statuses.has(stranger)).toBe(false);
  });

  it('cancels the command it gave up on: the script is killed and the command ends Cancelled', async () => {
    const quick = ready(id(3));
    const slow = ready(id(4));
    targets.env.set(slow, { ...targets.env.get(slow)!, TEST_SLEEP: '30' });
    const started = Date.now();

    const drained = await shell.runOnMany([quick, slow], 'drain', {}, { timeoutSeconds: 1 });

    expect(Date.now() - started).toBeLessThan(5_000);
    expect(drained.get(quick)).toEqual({ node: nodeOf(quick), drained: true });
    expect(drained.get(slow)).toMatchObject({ name: 'NodeCommandFailed', status: 'TimedOut' });
    const cancel = endpoint.calls.filter((call) => call.operation === 'CancelCommand').at(-1)!;
    expect(cancel.input.InstanceIds).toEqual([slow]);
    await eventually(() => targets.killed.includes(slow));
    const { Commands } = await clients.ssm.send(new ListCommandsCommand({ CommandId: cancel.input.CommandId }));
    expect(Commands).toEqual([expect.objectContaining({ Status: 'Cancelled', TargetCount: 2, CompletedCount: 2, DocumentName: `${PREFIX}NodeDrain` })]);
    const invocation = await clients.ssm.send(new GetCommandInvocationCommand({ CommandId: cancel.input.CommandId, InstanceId: slow }));
    expect(invocation).toMatchObject({ Status: 'Cancelled', StatusDetails: 'Cancelled' });
  });

  it('retries SendCommand once on InvalidInstanceId (an agent not registered yet), then fails with the SSM error', async () => {
    const nobody = id(5);
    const before = endpoint.count('SendCommand');

    const status = shell.run(nobody, 'status', {});

    await expect(status).rejects.toBeInstanceOf(AwsRequestFailed);
    await expect(status).rejects.toMatchObject({ cause: { name: 'InvalidInstanceId' } });
    expect(endpoint.count('SendCommand') - before).toBe(2);
  });

  it('tells an agent Online from one that lost its connection, one still booting and an id SSM never saw', async () => {
    const online = ready(id(6));
    const lost = ready(id(7));
    runCommand.setAgentConnected(lost, false);
    const booting = id(8);
    targets.agents.set(booting, { state: 'booting' });

    const answers = await Promise.all([online, lost, booting, id(9)].map((instanceId) => shell.isAgentOnline(instanceId)));

    expect(answers).toEqual([true, false, false, false]);
    const { InstanceInformationList } = await clients.ssm.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [online, lost, booting] }] }),
    );
    expect(InstanceInformationList!.map(({ InstanceId, PingStatus }) => [InstanceId, PingStatus])).toEqual([
      [online, 'Online'],
      [lost, 'ConnectionLost'],
    ]);
    const onlineOnly = await clients.ssm.send(
      new DescribeInstanceInformationCommand({ InstanceInformationFilterList: [{ key: 'PingStatus', valueSet: ['ConnectionLost'] }] }),
    );
    expect(onlineOnly.InstanceInformationList!.map((information) => information.InstanceId)).toEqual([lost]);
    expect(InstanceInformationList![0]!.LastPingDateTime).toBeInstanceOf(Date);
  });

  it('answers an unknown invocation with InvocationDoesNotExist, which the SDK waiter keeps polling as "not yet"', async () => {
    const unknown = { CommandId: '00000000-0000-4000-8000-000000000000', InstanceId: id(1) };
    const before = endpoint.count('GetCommandInvocation');

    await expect(clients.ssm.send(new GetCommandInvocationCommand(unknown))).rejects.toMatchObject({ name: 'InvocationDoesNotExist' });
    await expect(waitUntilCommandExecuted({ client: clients.ssm, maxWaitTime: 1, minDelay: 0.05, maxDelay: 0.1 }, unknown)).rejects.toMatchObject({
      name: 'TimeoutError',
    });

    expect(endpoint.count('GetCommandInvocation') - before).toBeGreaterThan(3);
    expect(
      endpoint.calls
        .filter((call) => call.operation === 'GetCommandInvocation')
        .slice(before)
        .every((call) => call.error === 'InvocationDoesNotExist'),
    ).toBe(true);
  });

  it('lists the commands newest first for an operator, with dates the SDK reads back as Dates', async () => {
    const { Commands } = await clients.ssm.send(new ListCommandsCommand({ MaxResults: 3 }));
    const failed = await clients.ssm.send(new ListCommandsCommand({ Filters: [{ key: 'Status', value: 'Failed' }] }));

    expect(Commands).toHaveLength(3);
    const times = Commands!.map((command) => command.RequestedDateTime!.getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(Math.abs(times[0]! - Date.now())).toBeLessThan(60_000);
    expect(Commands![0]!.ExpiresAfter!.getTime() - times[0]!).toBe(Commands![0]!.TimeoutSeconds! * 1000);
    expect(failed.Commands!.map((command) => command.DocumentName)).toEqual([`${PREFIX}NodeForget`]);
    await expect(clients.ssm.send(new ListCommandsCommand({ CommandId: '00000000-0000-4000-8000-000000000000' }))).rejects.toMatchObject({
      name: 'InvalidCommandId',
    });
  });
});

describe('SQS through the local endpoint, by SqsHealQueue', () => {
  const URL_BASE = 'https://sqs.us-east-1.amazonaws.com/123456789012';
  let heal: LocalQueue;
  let deadLetters: LocalQueue;
  let triage: LocalQueue;
  let endpoint: LocalAwsEndpoint;
  let sqs: SQSClient;
  let queue: SqsHealQueue;
  let received: SQSRecord[];
  /** what the heal function does with a record, per test */
  let consume: (record: SQSRecord) => Promise<unknown>;
  const triaged: SQSRecord[] = [];

  beforeEach(async () => {
    received = [];
    consume = async () => ({ batchItemFailures: [] });
    const healOptions = {
      url: `${URL_BASE}/test-heal.fifo`,
      contentBasedDeduplication: true,
      visibilityTimeoutMs: 960_000,
      maxReceiveCount: 5,
      groupId: config.clusterName,
    };
    heal = new LocalQueue(realTimeScheduler, { ...healOptions, eventSource: { batchSize: 1, batchingWindowMs: 0 } });
    heal.consumer = async (event) => {
      received.push(event.Records[0]!);
      return consume(event.Records[0]!);
    };
    // its dead-letter queue: test-heal-dlq.fifo
    deadLetters = heal.deadLetterQueue!;
    const triageOptions = {
      url: `${URL_BASE}/test-triage`,
      visibilityTimeoutMs: 90_000,
      maxReceiveCount: 5,
      eventSource: { batchSize: 10, batchingWindowMs: 10 },
    };
    triage = new LocalQueue(realTimeScheduler, triageOptions, async (event) => void triaged.push(...event.Records));
    endpoint = await LocalAwsEndpoint.start([sqsApi([heal, deadLetters, triage])], { region: 'us-east-1' });
    sqs = createAwsClients({ ...endpoint.clientOptions(), maxAttempts: 2, retryDelayMs: 10 }).sqs;
    queue = new SqsHealQueue(
      { clusterName: config.clusterName, healQueueUrl: heal.url, healDeadLetterQueueUrl: deadLetters.url },
      { sqs },
      { now: () => Date.UTC(2024, 0, 1, 12, 30, 10) },
    );
  });

  afterEach(async () => {
    heal.stop();
    triage.stop();
    await endpoint.close();
  });

  const recordOf = (record: SQSRecord): QueuedRecord => ({
    messageId: record.messageId,
    receiptHandle: record.receiptHandle,
    body: record.body,
    groupId: record.attributes.MessageGroupId!,
  });

  it('collapses reconciles of one minute into one message, as its deduplication id says', async () => {
    await queue.enqueueReconcile('alarm one');
    await queue.enqueueReconcile('alarm two');
    await heal.idle();

    expect(received).toHaveLength(1);
    expect(parseQueueMessage(received[0]!.body)).toMatchObject({ kind: 'reconcile' });
    expect(received[0]!.attributes).toMatchObject({
      MessageGroupId: config.clusterName,
      MessageDeduplicationId: `${config.clusterName}-reconcile-${Math.floor(Date.UTC(2024, 0, 1, 12, 30, 10) / 60_000)}`,
    });
    expect(endpoint.calls.map((call) => [call.operation, call.error])).toEqual([
      ['SendMessage', undefined],
      ['SendMessage', undefined],
    ]);
  });

  it('forwards a batch in order, dropping an event sent twice by its id, and reports no failure', async () => {
    const refused = await queue.forward([
      { id: 'evt-1', body: '{"id":"evt-1"}' },
      { id: 'evt-2', body: '{"id":"evt-2"}' },
      { id: 'evt-1', body: '{"id":"evt-1","again":true}' },
    ]);
    await heal.idle();

    expect(refused).toEqual([]);
    expect(received.map((record) => record.body)).toEqual(['{"id":"evt-1"}', '{"id":"evt-2"}']);
    expect(endpoint.count('SendMessageBatch')).toBe(1);
  });

  it('hands the retry marks to the next record as Number attributes the heal function reads back', async () => {
    let first = true;
    consume = async (record) => {
      if (!first) return { batchItemFailures: [] };
      first = false;
      await queue.retryLater(recordOf(record), { attempt: 2, notBefore: 1_700_000_000_123 });
      return { batchItemFailures: [] };
    };

    heal.send({ body: '{"id":"evt-9"}', groupId: config.clusterName, attributes: {} });
    await eventually(() => received.length === 2);

    expect(received[1]!.body).toBe('{"id":"evt-9"}');
    expect(received[1]!.messageAttributes[ATTEMPT_ATTRIBUTE]).toEqual({ stringValue: '2', dataType: 'Number', stringListValues: [], binaryListValues: [] });
    expect(received[1]!.messageAttributes[NOT_BEFORE_ATTRIBUTE]).toMatchObject({ stringValue: '1700000000123', dataType: 'Number' });
    expect(retryMarkOf(received[1])).toEqual({ attempt: 2, notBefore: 1_700_000_000_123 });
    expect(received[1]!.attributes.MessageDeduplicationId).toBe(`retry-${received[0]!.messageId}`);
  });

  it('hides the record in flight for the seconds asked, then the event source receives it again', async () => {
    consume = async (record) => {
      if (received.length > 1) return { batchItemFailures: [] };
      await queue.hideFor(recordOf(record), 1);
      const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: heal.url, AttributeNames: ['ApproximateNumberOfMessagesNotVisible'] }));
      expect(Attributes).toEqual({ ApproximateNumberOfMessagesNotVisible: '1' });
      return { batchItemFailures: [{ itemIdentifier: record.messageId }] };
    };
    const sentAt = Date.now();

    heal.send({ body: '{"id":"evt-5"}', groupId: config.clusterName, attributes: {} });
    await eventually(() => received.length === 2);

    expect(heal.deliveries.map((delivery) => delivery.failed)).toEqual([1, 0]);
    expect(heal.deliveries[1]!.at - sentAt).toBeGreaterThanOrEqual(1_000);
    expect(received[1]!.attributes.ApproximateReceiveCount).toBe('2');
    const stale = queue.hideFor(recordOf(received[0]!), 5);
    await expect(stale).rejects.toBeInstanceOf(AwsRequestFailed);
    await expect(stale).rejects.toMatchObject({ cause: { name: 'ReceiptHandleIsInvalid' } });
  });

  it('dead-letters with the error, which the queue lists and an operator receives and deletes', async () => {
    const record: QueuedRecord = { messageId: 'msg-7', receiptHandle: 'rh', body: '{"id":"evt-7"}', groupId: config.clusterName };

    await queue.deadLetter(record, 3, 'NodeCommandFailed: i-0abc NodeJoin Failed');
    await queue.deadLetter(record, 3, 'NodeCommandFailed: i-0abc NodeJoin Failed');
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: deadLetters.url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }),
    );
    await sqs.send(new DeleteMessageCommand({ QueueUrl: deadLetters.url, ReceiptHandle: Messages![0]!.ReceiptHandle }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: deadLetters.url, AttributeNames: ['All'] }));

    expect(heal.deadLetters).toEqual([
      expect.objectContaining({ body: '{"id":"evt-7"}', receiveCount: 3, error: 'NodeCommandFailed: i-0abc NodeJoin Failed' }),
    ]);
    expect(Messages).toHaveLength(1);
    expect(Messages![0]).toMatchObject({
      Body: '{"id":"evt-7"}',
      MD5OfBody: md5OfBody('{"id":"evt-7"}'),
      MessageAttributes: {
        'warren.error': { DataType: 'String', StringValue: 'NodeCommandFailed: i-0abc NodeJoin Failed' },
        [ATTEMPT_ATTRIBUTE]: { DataType: 'Number', StringValue: '3' },
      },
      Attributes: { MessageGroupId: config.clusterName, MessageDeduplicationId: 'dead-msg-7', ApproximateReceiveCount: '1' },
    });
    expect(Attributes).toMatchObject({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
      FifoQueue: 'true',
      ContentBasedDeduplication: 'false',
    });
    expect(heal.deadLetters).toHaveLength(1);
  });

  it('redrives a message its invocations kept failing into the dead-letter queue, with the last failure', async () => {
    const options = {
      url: `${URL_BASE}/test-quick.fifo`,
      contentBasedDeduplication: true,
      visibilityTimeoutMs: 5,
      maxReceiveCount: 3,
      groupId: config.clusterName,
      eventSource: { batchSize: 1, batchingWindowMs: 0 },
    };
    const quick = new LocalQueue(realTimeScheduler, options, async () => Promise.reject(new Error('killed at its timeout')));

    quick.send({ body: '{"id":"poison"}', groupId: config.clusterName, attributes: {} });
    await quick.idle();

    expect(quick.deadLetters).toEqual([expect.objectContaining({ body: '{"id":"poison"}', receiveCount: 3, error: 'Error: killed at its timeout' })]);
    expect(quick.attributes().RedrivePolicy).toBe(
      JSON.stringify({ deadLetterTargetArn: 'arn:aws:sqs:us-east-1:123456789012:test-quick-dlq.fifo', maxReceiveCount: 3 }),
    );
  });

  it('answers a throttled SendMessage the SDK retries, and the message arrives once', async () => {
    endpoint.armFault({ kind: 'throttling', operation: 'SendMessage', times: 1 });

    await queue.enqueueReconcile('alarm during a burst');
    await heal.idle();

    expect(endpoint.calls.map((call) => [call.operation, call.error])).toEqual([
      ['SendMessage', 'RequestThrottled'],
      ['SendMessage', undefined],
    ]);
    expect(received).toHaveLength(1);
  });

  it('names an unknown queue QueueDoesNotExist from its query-era code, and refuses what SQS refuses of a FIFO queue', async () => {
    const lost = new SqsHealQueue({ clusterName: config.clusterName, healQueueUrl: `${URL_BASE}/nobody.fifo`, healDeadLetterQueueUrl: undefined }, { sqs });

    const sending = lost.enqueueReconcile('x');

    await expect(sending).rejects.toMatchObject({ cause: { name: 'QueueDoesNotExist', Code: 'AWS.SimpleQueueService.NonExistentQueue' } });
    await expect(sqs.send(new SendMessageCommand({ QueueUrl: heal.url, MessageBody: 'x' }))).rejects.toMatchObject({
      name: 'MissingParameter',
      message: expect.stringContaining('MessageGroupId'),
    });
    await expect(sqs.send(new SendMessageCommand({ QueueUrl: deadLetters.url, MessageBody: 'x', MessageGroupId: 'g' }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message: expect.stringContaining('ContentBasedDeduplication'),
    });
    const tooMany = Array.from({ length: 11 }, (_, n) => ({ Id: `e${n}`, MessageBody: 'x', MessageGroupId: 'g' }));
    await expect(sqs.send(new SendMessageBatchCommand({ QueueUrl: heal.url, Entries: tooMany }))).rejects.toMatchObject({
      name: 'TooManyEntriesInBatchRequest',
    });
    await expect(sqs.send(new SendMessageBatchCommand({ QueueUrl: heal.url, Entries: [tooMany[0]!, tooMany[0]!] }))).rejects.toMatchObject({
      name: 'BatchEntryIdsNotDistinct',
    });
    expect(received).toEqual([]);
  });

  it('fails one entry of a batch apart, and answers the attribute digests AWS documents', async () => {
    const attributes = {
      'warren.notBefore': { DataType: 'Number', StringValue: '1700000000000' },
      'warren.attempt': { DataType: 'Number', StringValue: '2' },
      'warren.error': { DataType: 'String', StringValue: 'NodeCommandFailed: ü' },
    };

    const answer = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: heal.url,
        Entries: [
          { Id: 'good', MessageBody: '{"id":"a"}', MessageGroupId: 'g', MessageAttributes: attributes },
          { Id: 'bad', MessageBody: '{"id":"b"}', MessageGroupId: 'g', MessageAttributes: { n: { DataType: 'Number', StringValue: 'seven' } } },
        ],
      }),
    );
    const traced = await sqs.send(
      new SendMessageCommand({
        QueueUrl: heal.url,
        MessageBody: '{"id":"c"}',
        MessageGroupId: 'g',
        MessageSystemAttributes: { AWSTraceHeader: { DataType: 'String', StringValue: 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1' } },
      }),
    );
    await heal.idle();

    // the digests moto computes for the same attributes
    expect(answer.Successful).toEqual([
      expect.objectContaining({ Id: 'good', MD5OfMessageBody: md5OfBody('{"id":"a"}'), MD5OfMessageAttributes: '6a6caf0f0f41944cd65034c27c4ef85a' }),
    ]);
    expect(answer.Successful![0]!.SequenceNumber).toMatch(/^\d{20}$/);
    expect(answer.Failed).toEqual([{ Id: 'bad', SenderFault: true, Code: 'InvalidParameterValue', Message: expect.stringContaining("'n'") }]);
    expect(traced.MD5OfMessageSystemAttributes).toBe('5f48eef650c1d0207456969c85af2fdd');
    expect(received.map((record) => [record.body, record.attributes.MessageGroupId])).toEqual([
      ['{"id":"a"}', 'g'],
      ['{"id":"c"}', 'g'],
    ]);
    expect(received[0]!.messageAttributes['warren.error']).toMatchObject({ dataType: 'String', stringValue: 'NodeCommandFailed: ü' });
  });

  it('takes messages into the standard triage queue with their attributes, and no deduplication id', async () => {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: triage.url,
        MessageBody: '{"detail-type":"EC2"}',
        MessageAttributes: { source: { DataType: 'String', StringValue: 'test' } },
      }),
    );
    await triage.idle();

    expect(triaged.at(-1)).toMatchObject({
      body: '{"detail-type":"EC2"}',
      messageAttributes: { source: { dataType: 'String', stringValue: 'test' } },
      eventSourceARN: triage.arn,
    });
    await expect(sqs.send(new SendMessageCommand({ QueueUrl: triage.url, MessageBody: 'x', MessageDeduplicationId: 'd' }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
    // Lambda's event source consumes it: nobody else receives from it
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: triage.url, MaxNumberOfMessages: 10 }))).Messages).toBeUndefined();
    await expect(sqs.send(new DeleteMessageCommand({ QueueUrl: triage.url, ReceiptHandle: triaged.at(-1)!.receiptHandle }))).rejects.toMatchObject({
      name: 'UnsupportedOperation',
    });
  });
});

describe('the SDK checks what the endpoint answers', () => {
  it("refuses a SendMessage answer whose MD5OfMessageBody is not the body's", async () => {
    const scheduler = realTimeScheduler;
    const target = new LocalQueue(scheduler, { url: 'https://sqs.us-east-1.amazonaws.com/123456789012/check' });
    const api = sqsApi([target]);
    const tampered: ServiceApi = {
      ...api,
      operations: {
        ...api.operations,
        SendMessage: async (input) => ({ ...((await api.operations.SendMessage!(input)) as object), MD5OfMessageBody: md5OfBody('something else') }),
      },
    };
    const endpoint = await LocalAwsEndpoint.start([tampered], { region: 'us-east-1' });
    try {
      const sqs = createAwsClients({ ...endpoint.clientOptions(), maxAttempts: 1 }).sqs;
      await expect(sqs.send(new SendMessageCommand({ QueueUrl: target.url, MessageBody: 'x' }))).rejects.toThrow('InvalidChecksumError');
      // the message was taken all the same: the check is the SDK's, on the answer
      expect(target.depth()).toBe(1);
    } finally {
      await endpoint.close();
    }
  });
});
