import { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { SqsHealQueue } from '../../../shared/aws/heal-queue';
import { ConfigError } from '../../../shared/errors';
import { parseQueueMessage } from '../../../shared/events';
import { adapterConfig } from '../../support/config';

const sqs = mockClient(SQSClient);
const at = (iso: string) => {
  let now = Date.parse(iso);
  return { queue: new SqsHealQueue(adapterConfig, { sqs: new SQSClient({}) }, { now: () => now }), move: (to: string) => (now = Date.parse(to)) };
};
const sent = () => sqs.commandCalls(SendMessageCommand).map((call) => call.args[0].input);

beforeEach(() => {
  sqs.reset();
  sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
});

it('enqueues an EventBridge-shaped reconcile request in the cluster message group', async () => {
  const { queue } = at('2025-11-25T21:00:05.123Z');

  await queue.enqueueReconcile('alarm orders-disk-free');

  const [message] = sent();
  expect(message).toMatchObject({ QueueUrl: adapterConfig.healQueueUrl, MessageGroupId: 'orders' });
  expect(JSON.parse(message!.MessageBody!)).toEqual({
    id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    'detail-type': 'Reconcile Requested',
    source: 'warren',
    time: '2025-11-25T21:00:05.123Z',
    detail: { reason: 'alarm orders-disk-free', dryRun: false },
  });
});

it('gives repeated enqueues within a minute one deduplication id, and the next minute another', async () => {
  const clock = at('2025-11-25T21:00:05Z');

  await clock.queue.enqueueReconcile('first');
  clock.move('2025-11-25T21:00:55Z');
  await clock.queue.enqueueReconcile('second');
  clock.move('2025-11-25T21:01:01Z');
  await clock.queue.enqueueReconcile('third');

  const ids = sent().map((message) => message.MessageDeduplicationId);
  expect(ids[0]).toBe(ids[1]);
  expect(ids[2]).not.toBe(ids[1]);
  expect(new Set(sent().map((message) => JSON.parse(message.MessageBody!).id)).size).toBe(3);
});

it('refuses to exist without a queue URL', () => {
  expect(() => new SqsHealQueue({ ...adapterConfig, healQueueUrl: undefined }, { sqs: new SQSClient({}) })).toThrow(ConfigError);
});

it('enqueues a message the heal function reads as a reconcile', async () => {
  const { queue } = at('2025-11-25T21:00:05Z');

  await queue.enqueueReconcile('alarm orders-disk-free');

  const body = sent()[0]!.MessageBody!;
  expect(parseQueueMessage(body)).toEqual({ kind: 'reconcile', id: JSON.parse(body).id, time: Date.parse('2025-11-25T21:00:05Z'), dryRun: false });
});

describe('handing a failed event on', () => {
  const record = { messageId: '0f1e2d3c-0000-4000-8000-000000000001', receiptHandle: 'AQEB-handle', body: '{"id":"evt-1"}', groupId: 'orders' };
  const withDeadLetters = { ...adapterConfig, healDeadLetterQueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/heal-dlq.fifo' };

  it('sends it again at the tail of its group, marked, deduplicated on the failed message', async () => {
    const queue = new SqsHealQueue(adapterConfig, { sqs: new SQSClient({}) });

    await queue.retryLater(record, { attempt: 2, notBefore: 1_764_104_410_000 });

    expect(sent()).toEqual([
      {
        QueueUrl: adapterConfig.healQueueUrl,
        MessageBody: record.body,
        MessageGroupId: 'orders',
        MessageDeduplicationId: `retry-${record.messageId}`,
        MessageAttributes: {
          'warren.attempt': { DataType: 'Number', StringValue: '2' },
          'warren.notBefore': { DataType: 'Number', StringValue: '1764104410000' },
        },
      },
    ]);
  });

  it('dead-letters it with its error to the dead-letter queue', async () => {
    const queue = new SqsHealQueue(withDeadLetters, { sqs: new SQSClient({}) });

    await queue.deadLetter(record, 5, 'NodeCommandFailed: join timed out');

    expect(sent()[0]).toMatchObject({
      QueueUrl: withDeadLetters.healDeadLetterQueueUrl,
      MessageBody: record.body,
      MessageGroupId: 'orders',
      MessageAttributes: { 'warren.attempt': { StringValue: '5' }, 'warren.error': { DataType: 'String', StringValue: 'NodeCommandFailed: join timed out' } },
    });
  });

  it('refuses to dead-letter without the dead-letter queue URL, sending nothing', async () => {
    const queue = new SqsHealQueue(adapterConfig, { sqs: new SQSClient({}) });

    await expect(queue.deadLetter(record, 5, 'x')).rejects.toThrow(ConfigError);
    expect(sent()).toEqual([]);
  });

  it('changes the visibility of the received message by its receipt handle', async () => {
    sqs.on(ChangeMessageVisibilityCommand).resolves({});
    const queue = new SqsHealQueue(adapterConfig, { sqs: new SQSClient({}) });

    await queue.hideFor(record, 20);

    expect(sqs).toHaveReceivedCommandWith(ChangeMessageVisibilityCommand, {
      QueueUrl: adapterConfig.healQueueUrl,
      ReceiptHandle: 'AQEB-handle',
      VisibilityTimeout: 20,
    });
  });
});
