import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { SqsHealQueue } from '../../../shared/aws/heal-queue';
import { ConfigError } from '../../../shared/errors';
import { parseQueueMessage } from '../../../shared/events';
import { testConfig } from './config';

const sqs = mockClient(SQSClient);
const at = (iso: string) => {
  let now = Date.parse(iso);
  return { queue: new SqsHealQueue(testConfig, { sqs: new SQSClient({}) }, { now: () => now }), move: (to: string) => (now = Date.parse(to)) };
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
  expect(message).toMatchObject({ QueueUrl: testConfig.healQueueUrl, MessageGroupId: 'orders' });
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
  expect(() => new SqsHealQueue({ ...testConfig, healQueueUrl: undefined }, { sqs: new SQSClient({}) })).toThrow(ConfigError);
});

it('enqueues a message the heal function reads as a reconcile', async () => {
  const { queue } = at('2025-11-25T21:00:05Z');

  await queue.enqueueReconcile('alarm orders-disk-free');

  const body = sent()[0]!.MessageBody!;
  expect(parseQueueMessage(body)).toEqual({ kind: 'reconcile', id: JSON.parse(body).id, time: Date.parse('2025-11-25T21:00:05Z'), dryRun: false });
});
