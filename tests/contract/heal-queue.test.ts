import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { SqsHealQueue } from '../../shared/aws/heal-queue';
import { BACKENDS, startBackend, type Backend } from './backends';

/*
 * moto and the local AWS answer every call SqsHealQueue makes (SendMessage, SendMessageBatch, GetQueueAttributes,
 * ChangeMessageVisibility): the assertions are one set. Only the local AWS can fail a call on purpose,
 * so how the adapter takes a call that failed after the SDK's retries is shown there alone.
 */

const HEAL = 'orders-heal.fifo';
// content-based deduplication, as the deployed heal queue has it (EventBridge sends no deduplication ids)
const RETRY = 'orders-heal-retry.fifo';
const DEAD = 'orders-heal-dlq.fifo';
const FORWARDED = 'orders-heal-forwarded.fifo';

describe.each(BACKENDS)('%s', (name) => {
  let backend: Backend;

  beforeAll(async () => {
    backend = await startBackend(name, {
      queues: [
        { name: HEAL, fifo: true, contentBasedDeduplication: false },
        { name: RETRY, fifo: true, contentBasedDeduplication: true },
        { name: DEAD, fifo: true },
        { name: FORWARDED, fifo: true, contentBasedDeduplication: false },
      ],
    });
  });

  afterAll(async () => backend?.stop());

  const receive = (queue: string) =>
    backend.clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: backend.queueUrls[queue],
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['MessageGroupId'],
      }),
    );

  it('collapses reconciles enqueued within one minute into one message', async () => {
    const now = Date.parse('2025-11-25T21:00:05Z');
    const queue = new SqsHealQueue({ clusterName: 'orders', healQueueUrl: backend.queueUrls[HEAL] }, backend.clients, { now: () => now });

    await queue.enqueueReconcile('alarm orders-disk-free');
    await queue.enqueueReconcile('alarm orders-memory');

    const received = await receive(HEAL);
    expect(received.Messages).toHaveLength(1);
    expect(received.Messages![0]!.Attributes?.MessageGroupId).toBe('orders');
    expect(JSON.parse(received.Messages![0]!.Body!)).toMatchObject({
      source: 'warren',
      'detail-type': 'Reconcile Requested',
      detail: { reason: 'alarm orders-disk-free' },
    });
  });

  it("forwards events into the cluster's group in order, a repeated event once", async () => {
    const queue = new SqsHealQueue({ clusterName: 'orders', healQueueUrl: backend.queueUrls[FORWARDED] }, backend.clients);
    const events = Array.from({ length: 12 }, (_, n) => ({
      id: `evt-${n}`,
      body: JSON.stringify({ id: `evt-${n}`, 'detail-type': 'EC2 Instance State-change Notification' }),
    }));

    // twelve events take two SendMessageBatch calls; the first two are delivered again
    await expect(queue.forward(events)).resolves.toEqual([]);
    await expect(queue.forward(events.slice(0, 2))).resolves.toEqual([]);

    const bodies: string[] = [];
    for (let batch = await receive(FORWARDED); batch.Messages?.length; batch = await receive(FORWARDED)) {
      bodies.push(...batch.Messages.map((message) => message.Body!));
      expect(batch.Messages.every((message) => message.Attributes?.MessageGroupId === 'orders')).toBe(true);
      // a FIFO group hands out its next messages once those in flight are gone
      for (const message of batch.Messages)
        await backend.clients.sqs.send(new DeleteMessageCommand({ QueueUrl: backend.queueUrls[FORWARDED], ReceiptHandle: message.ReceiptHandle }));
      if (bodies.length > events.length) break;
    }
    expect(bodies).toEqual(events.map((event) => event.body));
  });

  describe('a failed event handed on', () => {
    let queue: SqsHealQueue;

    beforeAll(() => {
      queue = new SqsHealQueue(
        { clusterName: 'orders', healQueueUrl: backend.queueUrls[RETRY], healDeadLetterQueueUrl: backend.queueUrls[DEAD] },
        backend.clients,
      );
    });

    it('sends it again with its mark, once however often the send is repeated, and lets the received copy be hidden', async () => {
      const failed = { messageId: 'b7a6c5d4-0000-4000-8000-000000000001', receiptHandle: 'unused', body: '{"id":"evt-1"}', groupId: 'orders' };

      await queue.retryLater(failed, { attempt: 2, notBefore: 1_764_104_410_000 });
      await queue.retryLater(failed, { attempt: 2, notBefore: 1_764_104_410_000 });

      const { Messages } = await receive(RETRY);
      expect(Messages).toHaveLength(1);
      expect(Messages![0]).toMatchObject({
        Body: failed.body,
        Attributes: { MessageGroupId: 'orders' },
        MessageAttributes: {
          'warren.attempt': { DataType: 'Number', StringValue: '2' },
          'warren.notBefore': { DataType: 'Number', StringValue: '1764104410000' },
        },
      });
      await expect(queue.hideFor({ ...failed, receiptHandle: Messages![0]!.ReceiptHandle! }, 20)).resolves.toBeUndefined();
    });

    it('dead-letters it with its attempts and error', async () => {
      await queue.deadLetter(
        { messageId: 'b7a6c5d4-0000-4000-8000-000000000002', receiptHandle: 'unused', body: '{"id":"evt-2"}', groupId: 'orders' },
        5,
        'NodeCommandFailed: join timed out',
      );

      const { Messages } = await receive(DEAD);
      expect(Messages).toHaveLength(1);
      expect(Messages![0]!.MessageAttributes).toMatchObject({
        'warren.attempt': { StringValue: '5' },
        'warren.error': { StringValue: 'NodeCommandFailed: join timed out' },
      });
    });

    it('counts the events waiting or in flight, and the dead letters, for `warren status`', async () => {
      // each queue holds the one message received above, in flight
      await expect(queue.depths()).resolves.toEqual({ depth: 1, inFlight: 1, deadLetters: 1 });
    });
  });

  if (name === 'local AWS') {
    describe('on the local AWS alone: calls that fail after the SDK retries (moto cannot inject faults)', () => {
      it('refuses the events of a SendMessageBatch that failed as a whole, and takes the next call', async () => {
        const queue = new SqsHealQueue({ clusterName: 'orders', healQueueUrl: backend.queueUrls[HEAL] }, backend.clients);
        backend.armThrottling!('SendMessageBatch', 2);

        const refused = await queue.forward([
          { id: 'evt-100', body: '{"id":"evt-100"}' },
          { id: 'evt-101', body: '{"id":"evt-101"}' },
        ]);

        expect(refused.map((failure) => failure.id)).toEqual(['evt-100', 'evt-101']);
        expect(refused.every((failure) => failure.reason.startsWith('SendMessageBatch failed: RequestThrottled'))).toBe(true);
        await expect(queue.forward([{ id: 'evt-102', body: '{"id":"evt-102"}' }])).resolves.toEqual([]);
      });

      it('rides out a throttled SendMessage with the SDK retry', async () => {
        const queue = new SqsHealQueue(
          { clusterName: 'orders', healQueueUrl: backend.queueUrls[RETRY], healDeadLetterQueueUrl: backend.queueUrls[DEAD] },
          backend.clients,
        );
        backend.armThrottling!('SendMessage', 1);

        await queue.deadLetter(
          { messageId: 'b7a6c5d4-0000-4000-8000-000000000003', receiptHandle: 'unused', body: '{"id":"evt-3"}', groupId: 'orders-2' },
          5,
          'timed out',
        );

        const { Messages } = await receive(DEAD);
        expect(Messages?.map((message) => message.Body)).toEqual(['{"id":"evt-3"}']);
      });
    });
  }
});
