import {
  CancelMessageMoveTaskCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  SendMessageCommand,
  StartMessageMoveTaskCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { LocalAwsEndpoint } from '../../../infra/sandbox/aws/endpoint';
import { sqsApi } from '../../../infra/sandbox/aws/sqs-api';
import { realTimeScheduler } from '../../../infra/sandbox/cloud/scheduler';
import { LocalQueue } from '../../../infra/sandbox/queue';
import { createAwsClients } from '../../../shared/aws/clients';
import { eventually } from './aws-endpoint-helpers';

/*
 * The dead-letter redrive of docs/operations.md §2 through the local endpoint with a real SDK v3 client:
 * StartMessageMoveTask into a named queue or back to each message's source, ListMessageMoveTasks,
 * CancelMessageMoveTask, and the errors AWS answers. Real time: the tasks run on the queues' scheduler.
 */

jest.setTimeout(10_000);

const URL_BASE = 'https://sqs.us-east-1.amazonaws.com/123456789012';
let heal: LocalQueue;
let triage: LocalQueue;
let endpoint: LocalAwsEndpoint;
let sqs: SQSClient;
let healed: SQSRecord[];
let triaged: SQSRecord[];
/** whether the triage function fails every record, per test */
let triageFails: boolean;

beforeEach(async () => {
  healed = [];
  triaged = [];
  triageFails = false;
  heal = new LocalQueue(realTimeScheduler, {
    url: `${URL_BASE}/test-heal.fifo`,
    contentBasedDeduplication: true,
    visibilityTimeoutMs: 960_000,
    maxReceiveCount: 5,
    groupId: 'orders',
    eventSource: { batchSize: 1, batchingWindowMs: 0 },
  });
  heal.consumer = async (event) => void healed.push(...event.Records);
  const triageOptions = { url: `${URL_BASE}/test-triage`, visibilityTimeoutMs: 5, maxReceiveCount: 2, eventSource: { batchSize: 10, batchingWindowMs: 5 } };
  triage = new LocalQueue(realTimeScheduler, triageOptions, async (event) => {
    if (triageFails) throw new Error('triage is down');
    triaged.push(...event.Records);
  });
  endpoint = await LocalAwsEndpoint.start([sqsApi([heal, heal.deadLetterQueue!, triage, triage.deadLetterQueue!])], { region: 'us-east-1' });
  sqs = createAwsClients({ ...endpoint.clientOptions(), maxAttempts: 1 }).sqs;
});

afterEach(async () => {
  heal.stop();
  triage.stop();
  await endpoint.close();
});

const arnOf = async (url: string) => (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
const depthOf = async (url: string) =>
  Number(
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes!.ApproximateNumberOfMessages,
  );
/** As the heal function dead-letters: SendMessage into the FIFO dead-letter queue with its retry marks. */
const deadLetter = (body: string, n: number) =>
  sqs.send(
    new SendMessageCommand({
      QueueUrl: heal.deadLetterQueue!.url,
      MessageBody: body,
      MessageGroupId: 'orders',
      MessageDeduplicationId: `dead-${n}`,
      MessageAttributes: {
        'warren.attempt': { DataType: 'Number', StringValue: '5' },
        'warren.error': { DataType: 'String', StringValue: 'NodeCommandFailed: NodeJoin Failed' },
      },
    }),
  );
const listed = async (sourceArn: string, maxResults?: number) =>
  (await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: maxResults }))).Results!;

describe('message move tasks: the dead-letter redrive', () => {
  it('moves the FIFO dead letters warren sent into the heal queue named, in order with their attributes, and the DLQ is empty after', async () => {
    await deadLetter('{"id":"evt-1"}', 1);
    await deadLetter('{"id":"evt-2"}', 2);
    const dlqArn = await arnOf(heal.deadLetterQueue!.url);

    const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn, DestinationArn: await arnOf(heal.url) }));
    await eventually(() => healed.length === 2, 'both records handled');
    const [task] = await listed(dlqArn);

    expect(TaskHandle).toEqual(expect.any(String));
    expect(healed.map((record) => [record.body, record.attributes.MessageGroupId, record.messageAttributes['warren.attempt']?.stringValue])).toEqual([
      ['{"id":"evt-1"}', 'orders', '5'],
      ['{"id":"evt-2"}', 'orders', '5'],
    ]);
    expect(task).toEqual({
      Status: 'COMPLETED',
      SourceArn: dlqArn,
      DestinationArn: heal.arn,
      ApproximateNumberOfMessagesMoved: 2,
      ApproximateNumberOfMessagesToMove: 2,
      StartedTimestamp: expect.any(Number),
    });
    expect(await depthOf(heal.deadLetterQueue!.url)).toBe(0);
  });

  it('without a destination moves each message back to the queue its redrive policy took it from; one SendMessage put there has none, and the task fails', async () => {
    triageFails = true;
    triage.send('{"id":"ec2-1"}');
    await eventually(() => triage.deadLetters.length === 1, 'the event redriven into the triage DLQ after 2 receives');
    triageFails = false;
    const triageDlqArn = await arnOf(triage.deadLetterQueue!.url);
    await deadLetter('{"id":"evt-3"}', 3);

    await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: triageDlqArn }));
    await eventually(() => triaged.length === 1, 'the event triaged again');
    await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: heal.deadLetterQueue!.arn }));
    const failed = await eventually(async () => (await listed(heal.deadLetterQueue!.arn)).find((task) => task.Status !== 'RUNNING'), 'the heal DLQ task ended');

    expect(triaged.map((record) => record.body)).toEqual(['{"id":"ec2-1"}']);
    expect(await listed(triageDlqArn)).toEqual([expect.objectContaining({ Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 1 })]);
    expect((await listed(triageDlqArn))[0]).not.toHaveProperty('DestinationArn');
    expect(failed).toMatchObject({
      Status: 'FAILED',
      FailureReason: 'CouldNotDetermineMessageSource',
      ApproximateNumberOfMessagesMoved: 0,
      ApproximateNumberOfMessagesToMove: 1,
    });
    expect(await depthOf(heal.deadLetterQueue!.url)).toBe(1);
  });

  it('runs one task per source at a time, at the rate asked, and a cancel stops it where it is', async () => {
    for (let n = 1; n <= 3; n++) await deadLetter(`{"id":"slow-${n}"}`, n);
    const dlqArn = heal.deadLetterQueue!.arn;

    const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn, DestinationArn: heal.arn, MaxNumberOfMessagesPerSecond: 1 }));
    const second = sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn, DestinationArn: heal.arn }));
    await expect(second).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message: 'There is already a task running. Only one active task is allowed for a source queue arn at a given time.',
    });
    const [running] = await listed(dlqArn);
    await eventually(() => healed.length === 1, 'the first message moved');
    const cancelled = await sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle }));
    const [after] = await listed(dlqArn, 10);
    const again = sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle }));

    expect(running).toMatchObject({ Status: 'RUNNING', TaskHandle, MaxNumberOfMessagesPerSecond: 1, ApproximateNumberOfMessagesToMove: 3 });
    expect(cancelled.ApproximateNumberOfMessagesMoved).toBe(1);
    expect(after).toMatchObject({ Status: 'CANCELLED', ApproximateNumberOfMessagesMoved: 1 });
    expect(after).not.toHaveProperty('TaskHandle');
    await expect(again).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    expect(await depthOf(heal.deadLetterQueue!.url)).toBe(2);
  });

  it('answers what AWS answers for a bad source, destination, rate, task handle or page size', async () => {
    const nobody = 'arn:aws:sqs:us-east-1:123456789012:nobody';
    const start = (input: ConstructorParameters<typeof StartMessageMoveTaskCommand>[0]) => sqs.send(new StartMessageMoveTaskCommand(input));
    const cancel = (handle: string) => sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle: handle }));
    const handleOf = (named: object) => Buffer.from(JSON.stringify(named)).toString('base64');

    await expect(start({ SourceArn: nobody })).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      $metadata: { httpStatusCode: 404 },
      message: "The resource that you specified for the SourceArn parameter doesn't exist.",
    });
    await expect(start({ SourceArn: heal.arn })).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message: 'Source queue must be configured as a Dead Letter Queue.',
    });
    await expect(start({ SourceArn: heal.deadLetterQueue!.arn, DestinationArn: nobody })).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: "The resource that you specified for the DestinationArn parameter doesn't exist.",
    });
    await expect(start({ SourceArn: heal.deadLetterQueue!.arn, DestinationArn: triage.arn })).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message: expect.stringContaining('FIFO'),
    });
    await expect(start({ SourceArn: heal.deadLetterQueue!.arn, MaxNumberOfMessagesPerSecond: 501 })).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    await expect(cancel('not a handle')).rejects.toMatchObject({ name: 'InvalidParameterValue', message: 'Value for parameter TaskHandle is invalid.' });
    await expect(cancel(handleOf({ taskId: 'x', sourceArn: nobody }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: expect.stringContaining('SourceArn'),
    });
    await expect(cancel(handleOf({ taskId: 'x', sourceArn: heal.deadLetterQueue!.arn }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'Task does not exist.',
    });
    await expect(sqs.send(new ListMessageMoveTasksCommand({ SourceArn: heal.deadLetterQueue!.arn, MaxResults: 11 }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
    expect(await listed(heal.deadLetterQueue!.arn)).toEqual([]);
  });
});
