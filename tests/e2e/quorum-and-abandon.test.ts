import { randomUUID } from 'node:crypto';
import type { Sandbox } from '../../infra/sandbox/sandbox';
import {
  CONVERGE_MS,
  clusterSeenFrom,
  connectThroughLoadBalancer,
  everInstance,
  expectConvergedCluster,
  healsOf,
  inService,
  launchedSince,
  lifecyclePath,
  nodeName,
  targetStates,
  waitFor,
  sharedSandbox,
} from './observed';

// One sandbox of three for the file, in this order: the crash needs three replicas to keep a majority,
// the held terminate leaves two, the abandoned launch grows back to three.
jest.setTimeout(420_000);

const QUEUE = 'e2e-orders';
let sandbox: Sandbox;

interface QueueSeen {
  name: string;
  leader: string;
  members: string[];
  online: string[];
}

/** The quorum queue as list_queues on a member reports it: where its leader and replicas are. */
async function queueSeen(instanceId: string): Promise<QueueSeen> {
  const result = await sandbox.host.rabbitmqctl(instanceId, ['--formatter', 'json', 'list_queues', 'name', 'leader', 'members', 'online']);
  if (result.exitCode !== 0) throw new Error(`list_queues on ${instanceId} failed: ${result.stderr}`);
  const queue = (JSON.parse(result.stdout) as QueueSeen[]).find((q) => q.name === QUEUE);
  if (!queue) throw new Error(`${QUEUE} is not declared`);
  return queue;
}

sharedSandbox('e2e quorum-and-abandon', 3, (started) => (sandbox = started));

describe('data survives and unsafe leaves wait', () => {
  it('a message confirmed into a quorum queue survives the crash of the node that led the queue', async () => {
    const before = everInstance(sandbox);
    const body = `order ${randomUUID()}`;
    const publisher = await connectThroughLoadBalancer(sandbox);
    const channel = await publisher.createConfirmChannel();
    await channel.assertQueue(QUEUE, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    channel.sendToQueue(QUEUE, Buffer.from(body), { persistent: true });
    await channel.waitForConfirms();
    await publisher.close();
    const leader = (await queueSeen(inService(sandbox)[0]!)).leader;
    const leaderInstance = sandbox.host.instanceOfNode(leader)!;

    await sandbox.ec2.crash(leaderInstance);
    await expectConvergedCluster(sandbox);

    const consumer = await connectThroughLoadBalancer(sandbox);
    try {
      const reader = await consumer.createChannel();
      const message = await reader.get(QUEUE, { noAck: false });
      expect(message === false ? 'no message' : message.content.toString()).toBe(body);
      // returned to the queue: the next story counts on a queue with data in it
      if (message) reader.nack(message, false, true);
      await reader.close();
    } finally {
      await consumer.close();
    }
    const seen = await queueSeen(inService(sandbox)[0]!);
    expect(seen.leader).not.toBe(leader);
    expect(seen.members).not.toContain(leader);
    expect(healsOf(sandbox, leaderInstance, 'gone').some((h) => h.outcome === 'acted')).toBe(true);
    expect(launchedSince(sandbox, before)).toHaveLength(1);
  });

  it('the terminate hook waits, heartbeating, while leaving would cost a quorum queue its majority', async () => {
    const queue = await queueSeen(inService(sandbox)[0]!);
    const replicas = inService(sandbox).filter((id) => queue.members.includes(nodeName(sandbox, id)));
    expect(replicas.length).toBeGreaterThanOrEqual(3);
    const [stopped, leaving] = replicas as [string, string];

    const stop = await sandbox.host.rabbitmqctl(stopped, ['stop_app']);
    expect(stop.exitCode).toBe(0);
    sandbox.group.terminateInstance(leaving, true);
    const firstAction = await waitFor('terminate hook open', 60_000, () =>
      sandbox.group.activeActions().find((a) => a.instanceId === leaving && a.transition === 'terminating'),
    );
    // two heartbeats later the hook is still open and its timeout has moved on: warren is holding it
    const heartbeaten = await waitFor('two heartbeats on the held hook', 60_000, () =>
      sandbox.group
        .activeActions()
        .find((a) => a.instanceId === leaving && a.timeoutAt >= firstAction.timeoutAt + 2 * sandbox.config.bounds.heartbeatIntervalSeconds * 1000 - 1_000),
    );

    expect(heartbeaten.token).toBe(firstAction.token);
    expect(sandbox.group.member(leaving)?.lifecycleState).toBe('Terminating:Wait');
    expect((await clusterSeenFrom(sandbox, leaving)).running).toContain(nodeName(sandbox, leaving));
    expect(targetStates(sandbox, leaving)).toEqual({ amqp: 'unused', management: 'unused' });

    const start = await sandbox.host.rabbitmqctl(stopped, ['start_app']);
    expect(start.exitCode).toBe(0);
    await waitFor(
      'held instance terminated',
      CONVERGE_MS,
      () => (sandbox.ec2.get(leaving)?.state === 'terminated' ? true : undefined),
      () => lifecyclePath(sandbox, leaving),
    );
    await expectConvergedCluster(sandbox);

    expect(healsOf(sandbox, leaving, 'terminate').map((h) => h.outcome)).toContain('continued');
    const after = await queueSeen(stopped);
    expect(after.members).not.toContain(nodeName(sandbox, leaving));
    expect(after.online.sort()).toEqual(after.members.sort());
    expect(inService(sandbox)).toHaveLength(2);
  });

  it('a launch whose SSM agent never comes online is abandoned and replaced', async () => {
    const before = everInstance(sandbox);

    sandbox.group.setDesiredCapacity(3);
    const [doomed] = launchedSince(sandbox, before) as [string];
    sandbox.runCommand.setAgentConnected(doomed, false);
    await waitFor(
      'doomed launch abandoned',
      CONVERGE_MS,
      () => (lifecyclePath(sandbox, doomed).includes('Terminating') ? true : undefined),
      () => lifecyclePath(sandbox, doomed),
    );
    // the agent comes back once the launch is given up, so its terminate hook needs no SSM delivery timeout
    sandbox.runCommand.setAgentConnected(doomed, true);
    await waitFor(
      'doomed instance terminated',
      CONVERGE_MS,
      () => (sandbox.ec2.get(doomed)?.state === 'terminated' ? true : undefined),
      () => lifecyclePath(sandbox, doomed),
    );
    await expectConvergedCluster(sandbox);

    expect(healsOf(sandbox, doomed, 'launch').map((h) => h.outcome)).toEqual([expect.stringMatching(/^abandoned: SSM agent online/)]);
    expect(lifecyclePath(sandbox, doomed)).not.toContain('InService');
    expect(targetStates(sandbox, doomed)).toEqual({ amqp: 'unused', management: 'unused' });
    const seen = await clusterSeenFrom(sandbox, inService(sandbox)[0]!);
    expect(seen.all).not.toContain(nodeName(sandbox, doomed));
    const [replacement, ...more] = launchedSince(sandbox, before).filter((id) => id !== doomed);
    expect(more).toEqual([]);
    expect(seen.running).toContain(nodeName(sandbox, replacement!));
    expect(inService(sandbox)).toHaveLength(3);
    expect(sandbox.queue.deadLetters).toEqual([]);
  });
});
