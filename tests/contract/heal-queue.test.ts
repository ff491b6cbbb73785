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
