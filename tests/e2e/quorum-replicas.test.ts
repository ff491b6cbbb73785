import { randomUUID } from 'node:crypto';
import type { Sandbox } from '../../infra/sandbox/sandbox';
import { divergence, sandboxStatus } from '../../infra/sandbox/status';
import { policyParamsFor } from '../../shared/cluster/policy';
import { connectThroughLoadBalancer, expectConvergedCluster, inService, nodeName, sharedSandbox } from './observed';

// Replicas that drift from the membership while the membership itself is whole: nothing in RabbitMQ
// repairs them, the cluster's own events say nothing, and only reconcile's look at the queues finds them.
jest.setTimeout(420_000);

const QUEUE = 'e2e-replicas';
/** a second queue, so that each keeps a majority while it drifts */
const OTHER = 'e2e-replicas-other';
let sandbox: Sandbox;

sharedSandbox('e2e quorum-replicas', 3, (started) => (sandbox = started));

const reasons = async () => divergence(await sandboxStatus(sandbox), policyParamsFor(sandbox.config, sandbox.rabbitmq.version).params.PolicyName);

async function reconcileOnce(): Promise<string> {
  const before = sandbox.timeline.length;
  sandbox.reconcileNow();
  await sandbox.queue.idle();
  const reconciled = sandbox.timeline.slice(before).filter((h) => h.kind === 'reconcile');
  expect(reconciled).toHaveLength(1);
  return reconciled[0]!.outcome;
}

describe('quorum replicas follow the membership', () => {
  it('a replica that stopped and one that was never grown count as not converged, and one reconcile repairs both without losing a confirmed message', async () => {
    const body = `replica ${randomUUID()}`;
    const publisher = await connectThroughLoadBalancer(sandbox);
    const channel = await publisher.createConfirmChannel();
    for (const queue of [QUEUE, OTHER]) await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    channel.sendToQueue(QUEUE, Buffer.from(body), { persistent: true });
    await channel.waitForConfirms();
    await publisher.close();
    await expectConvergedCluster(sandbox);
    const [leader, stopped, shrunk] = inService(sandbox) as [string, string, string];

    const stop = await sandbox.host.rabbitmqctl(stopped, ['eval', `ra:stop_server(quorum_queues, {'%2F_${QUEUE}', node()}).`]);
    expect(stop.stdout.trim()).toBe('ok');
    const shrink = await sandbox.host.rabbitmqctl(leader, [
      'eval',
      `rabbit_quorum_queue:delete_member(<<"/">>, <<"${OTHER}">>, '${nodeName(sandbox, shrunk)}').`,
    ]);
    expect(shrink.stdout.trim()).toBe('ok');

    expect(await reasons()).toEqual([
      `quorum queue ${QUEUE} replicas not running: ${nodeName(sandbox, stopped)}`,
      `quorum queue ${OTHER} has replicas on ${JSON.stringify([leader, stopped].map((id) => nodeName(sandbox, id)).sort())}, not on the InService nodes`,
    ]);
    expect(await reconcileOnce()).toBe('acted');
    await expectConvergedCluster(sandbox);
    expect(await reconcileOnce()).toBe('done: nothing to repair');

    const consumer = await connectThroughLoadBalancer(sandbox);
    try {
      const reader = await consumer.createChannel();
      const message = await reader.get(QUEUE, { noAck: true });
      expect(message === false ? 'no message' : message.content.toString()).toBe(body);
    } finally {
      await consumer.close();
    }
    expect(sandbox.queue.deadLetters).toEqual([]);
  });
});
