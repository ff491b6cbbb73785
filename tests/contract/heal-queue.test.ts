import { CreateQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { SqsHealQueue } from '../../shared/aws/heal-queue';
import { startMoto, type Moto } from './moto';

let moto: Moto;
let queueUrl: string;

beforeAll(async () => {
  moto = await startMoto();
  const created = await moto.clients.sqs.send(
    new CreateQueueCommand({ QueueName: 'orders-heal.fifo', Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'false' } }),
  );
  queueUrl = created.QueueUrl!;
});

afterAll(async () => moto?.stop());

it('collapses reconciles enqueued within one minute into one message', async () => {
  const now = Date.parse('2025-11-25T21:00:05Z');
  const queue = new SqsHealQueue({ clusterName: 'orders', healQueueUrl: queueUrl }, moto.clients, { now: () => now });

  await queue.enqueueReconcile('alarm orders-disk-free');
  await queue.enqueueReconcile('alarm orders-memory');

  const received = await moto.clients.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['MessageGroupId'] }),
  );
  expect(received.Messages).toHaveLength(1);
  expect(received.Messages![0]!.Attributes?.MessageGroupId).toBe('orders');
  expect(JSON.parse(received.Messages![0]!.Body!)).toMatchObject({
    source: 'warren',
    'detail-type': 'Reconcile Requested',
    detail: { reason: 'alarm orders-disk-free' },
  });
});

describe('a failed event handed on, against the moto server', () => {
  let retryUrl: string;
  let deadLetterUrl: string;
  let queue: SqsHealQueue;

  beforeAll(async () => {
    const created = await moto.clients.sqs.send(new CreateQueueCommand({ QueueName: 'orders-heal-retry.fifo', Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true' } }));
    const dead = await moto.clients.sqs.send(new CreateQueueCommand({ QueueName: 'orders-heal-dlq.fifo', Attributes: { FifoQueue: 'true' } }));
    [retryUrl, deadLetterUrl] = [created.QueueUrl!, dead.QueueUrl!];
    queue = new SqsHealQueue({ clusterName: 'orders', healQueueUrl: retryUrl, healDeadLetterQueueUrl: deadLetterUrl }, moto.clients);
  });

  const receive = (url: string) =>
    moto.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['MessageGroupId'] }));

  it('sends it again with its mark, once however often the send is repeated, and lets the received copy be hidden', async () => {
    const failed = { messageId: 'b7a6c5d4-0000-4000-8000-000000000001', receiptHandle: 'unused', body: '{"id":"evt-1"}', groupId: 'orders' };

    await queue.retryLater(failed, { attempt: 2, notBefore: 1_764_104_410_000 });
    await queue.retryLater(failed, { attempt: 2, notBefore: 1_764_104_410_000 });

    const { Messages } = await receive(retryUrl);
    expect(Messages).toHaveLength(1);
    expect(Messages![0]).toMatchObject({
      Body: failed.body,
      Attributes: { MessageGroupId: 'orders' },
      MessageAttributes: { 'warren.attempt': { DataType: 'Number', StringValue: '2' }, 'warren.notBefore': { DataType: 'Number', StringValue: '1764104410000' } },
    });
    await expect(queue.hideFor({ ...failed, receiptHandle: Messages![0]!.ReceiptHandle! }, 20)).resolves.toBeUndefined();
  });

  it('dead-letters it with its attempts and error', async () => {
    await queue.deadLetter({ messageId: 'b7a6c5d4-0000-4000-8000-000000000002', receiptHandle: 'unused', body: '{"id":"evt-2"}', groupId: 'orders' }, 5, 'NodeCommandFailed: join timed out');

    const { Messages } = await receive(deadLetterUrl);
    expect(Messages).toHaveLength(1);
    expect(Messages![0]!.MessageAttributes).toMatchObject({ 'warren.attempt': { StringValue: '5' }, 'warren.error': { StringValue: 'NodeCommandFailed: join timed out' } });
  });
});
