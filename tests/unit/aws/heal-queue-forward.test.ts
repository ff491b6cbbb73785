import { SendMessageBatchCommand, SQSClient, type SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { SqsHealQueue } from '../../../shared/aws/heal-queue';
import { Ec2AutoScalingInventory } from '../../../shared/aws/inventory';
import { createObservability } from '../../../shared/observability';
import { answerTriage } from '../../../shared/workflows/triage';
import { instanceEvent, sqsBatch } from '../../events/instance-events';
import { adapterConfig } from '../../support/config';

const sqs = mockClient(SQSClient);
const queue = () => new SqsHealQueue(adapterConfig, { sqs: new SQSClient({}) });
const events = (count: number, bodyBytes = 600) =>
  Array.from({ length: count }, (_, n) => ({ id: `evt-${n}`, body: JSON.stringify({ id: `evt-${n}`, pad: 'x'.repeat(bodyBytes) }) }));
const sent = () => sqs.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input.Entries!);

const takesEverything = (input: { Entries: SendMessageBatchRequestEntry[] }) => ({
  Successful: input.Entries.map((entry) => ({ Id: entry.Id, MessageId: `m-${entry.Id}`, MD5OfMessageBody: '' })),
  Failed: [],
});

beforeEach(() => {
  sqs.reset();
  sqs.on(SendMessageBatchCommand).callsFake(takesEverything);
});

describe('forward: the triage survivors into the cluster message group', () => {
  it('sends 10 entries a call, in order, each in the cluster group and deduplicated by its EventBridge event id', async () => {
    const forwarded = events(23);

    const refused = await queue().forward(forwarded);

    expect(refused).toEqual([]);
    expect(sent().map((entries) => entries.length)).toEqual([10, 10, 3]);
    expect(sent().flat()).toEqual(
      forwarded.map((event) => expect.objectContaining({ MessageBody: event.body, MessageGroupId: 'orders', MessageDeduplicationId: event.id })),
    );
    expect(sqs).toHaveReceivedCommandWith(SendMessageBatchCommand, { QueueUrl: adapterConfig.healQueueUrl });
  });

  it('starts a new call before the entries would pass the 256 KiB a call may carry', async () => {
    await queue().forward(events(5, 100 * 1024));

    expect(sent().map((entries) => entries.length)).toEqual([2, 2, 1]);
  });

  it("answers the entries SQS failed in a partial answer, with SQS's reason", async () => {
    sqs.on(SendMessageBatchCommand).callsFake((input: { Entries: SendMessageBatchRequestEntry[] }) => ({
      Successful: input.Entries.filter((entry) => entry.Id !== '3').map((entry) => ({ Id: entry.Id, MessageId: 'm', MD5OfMessageBody: '' })),
      Failed: input.Entries.filter((entry) => entry.Id === '3').map((entry) => ({
        Id: entry.Id,
        SenderFault: false,
        Code: 'InternalError',
        Message: 'try again',
      })),
    }));

    const refused = await queue().forward(events(12));

    expect(refused).toEqual([{ id: 'evt-3', reason: 'InternalError: try again' }]);
  });

  it('refuses only the entries of a call that failed as a whole; the other calls went through', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .rejectsOnce(Object.assign(new Error('Service is unavailable'), { name: 'ServiceUnavailable' }))
      .callsFake(takesEverything);
    const forwarded = events(15);

    const refused = await queue().forward(forwarded);

    expect(refused.map((failure) => failure.id)).toEqual(forwarded.slice(0, 10).map((event) => event.id));
    expect(refused[0]!.reason).toMatch(/SendMessageBatch failed: ServiceUnavailable/);
    expect(sent().map((entries) => entries.length)).toEqual([10, 5]);
  });

  it('makes no call for no events', async () => {
    expect(await queue().forward([])).toEqual([]);
    expect(sqs).not.toHaveReceivedCommand(SendMessageBatchCommand);
  });
});

describe('the triage function over the adapters', () => {
  const ec2 = mockClient(EC2Client);
  beforeEach(() => ec2.reset());
  afterAll(() => ec2.restore());

  it('reports the records whose entries SendMessageBatch failed as batch item failures, so SQS delivers them again', async () => {
    const ids = ['i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa2', 'i-0aaaaaaaaaaaaaaa3'];
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: ids.map((id) => ({ InstanceId: id, Tags: [{ Key: 'aws:autoscaling:groupName', Value: 'orders-rabbitmq' }] })) }],
    });
    sqs.on(SendMessageBatchCommand).callsFake((input: { Entries: SendMessageBatchRequestEntry[] }) => ({
      Successful: input.Entries.filter((entry) => entry.MessageDeduplicationId !== 'evt-1').map((entry) => ({
        Id: entry.Id,
        MessageId: 'm',
        MD5OfMessageBody: '',
      })),
      Failed: input.Entries.filter((entry) => entry.MessageDeduplicationId === 'evt-1').map((entry) => ({
        Id: entry.Id,
        SenderFault: false,
        Code: 'InternalError',
      })),
    }));
    const wiring = {
      config: adapterConfig,
      inventory: new Ec2AutoScalingInventory(adapterConfig, { ec2: new EC2Client({}) }),
      queue: queue(),
      telemetry: createObservability('orders', { POWERTOOLS_LOG_LEVEL: 'SILENT' }),
      metrics: { count: () => undefined, gauge: () => undefined, durationMs: () => undefined },
    };
    const batch = sqsBatch(...ids.map((id, n) => JSON.stringify(instanceEvent('terminated', id, `evt-${n}`))));

    const answer = await answerTriage(batch, wiring);

    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-1' }] });
    expect(ec2).toHaveReceivedCommandTimes(DescribeInstancesCommand, 1);
  });
});
