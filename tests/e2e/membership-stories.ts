import type { Sandbox } from '../../infra/sandbox/sandbox';
import { policyParamsFor } from '../../shared/cluster/policy';
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
} from './observed';

/** Declared by the first story: converged then also means its replicas follow each change (status.ts). */
const MEMBERSHIP_QUEUE = 'e2e-membership';

/**
 * The membership changes every RabbitMQ generation must heal: scale-out, a terminate through the
 * hook, a crash. Each story starts from the converged cluster the previous one left (3 nodes at first).
 */
export function membershipStories(current: () => Sandbox): void {
  let sandbox: Sandbox;
  beforeEach(() => {
    sandbox = current();
  });

  it('a quorum queue declared through the load balancer has a running replica on every member, as every later story requires', async () => {
    const client = await connectThroughLoadBalancer(sandbox);
    try {
      const channel = await client.createChannel();
      await channel.assertQueue(MEMBERSHIP_QUEUE, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    } finally {
      await client.close();
    }

    const status = await expectConvergedCluster(sandbox);

    const nodes = inService(sandbox)
      .map((id) => nodeName(sandbox, id))
      .sort();
    expect(status.replicatedQueues).toContainEqual(expect.objectContaining({ vhost: '/', name: MEMBERSHIP_QUEUE, members: nodes, online: nodes }));
  });

  it('scales out by two at once: both join, all five serve, the policy stays', async () => {
    const before = everInstance(sandbox);

    sandbox.group.setDesiredCapacity(5);
    const status = await expectConvergedCluster(sandbox);

    const launched = launchedSince(sandbox, before);
    expect(launched).toHaveLength(2);
    // both were waiting on the launch hook together: the group launched them at once, not one after the other
    const firstInService = Math.min(...launched.map((id) => sandbox.group.activities.find((a) => a.instanceId === id && a.to === 'InService')!.at));
    for (const id of launched) {
      expect(sandbox.group.activities.find((a) => a.instanceId === id && a.to === 'Pending:Wait')!.at).toBeLessThan(firstInService);
      expect(lifecyclePath(sandbox, id)).toEqual(['Pending', 'Pending:Wait', 'Pending:Proceed', 'InService']);
      // one launch event joins the whole batch: the others' own events then find their action completed
      expect(healsOf(sandbox, id, 'launch').map((h) => h.outcome)).toEqual(
        expect.arrayContaining([expect.stringMatching(/^continued$|lifecycle action already completed/)]),
      );
      expect(targetStates(sandbox, id)).toEqual({ amqp: 'healthy', management: 'healthy' });
    }
    expect(inService(sandbox)).toHaveLength(5);
    expect(status.members.running).toHaveLength(5);
    expect(status.policies).toContain(policyParamsFor(sandbox.config, sandbox.rabbitmq.version).params.PolicyName);
  });

  it('terminates an instance through the hook: it leaves, is forgotten and deregistered', async () => {
    const victim = inService(sandbox)[0]!;
    const victimNode = nodeName(sandbox, victim);

    sandbox.group.terminateInstance(victim, true);
    await waitFor(
      'victim terminated',
      CONVERGE_MS,
      () => (sandbox.ec2.get(victim)?.state === 'terminated' ? true : undefined),
      () => lifecyclePath(sandbox, victim),
    );
    await expectConvergedCluster(sandbox);

    const survivor = inService(sandbox)[0]!;
    const seen = await clusterSeenFrom(sandbox, survivor);
    expect(seen.all).not.toContain(victimNode);
    expect(inService(sandbox)).toHaveLength(4);
    expect(targetStates(sandbox, victim)).toEqual({ amqp: 'unused', management: 'unused' });
    expect(lifecyclePath(sandbox, victim).slice(-4)).toEqual(['Terminating', 'Terminating:Wait', 'Terminating:Proceed', 'Terminated']);
    expect(healsOf(sandbox, victim, 'terminate').map((h) => h.outcome)).toContain('continued');
  });

  it('a crashed instance (no hook runs) is forgotten by the gone path and replaced', async () => {
    const before = everInstance(sandbox);
    const victim = inService(sandbox)[0]!;
    const victimNode = nodeName(sandbox, victim);

    await sandbox.ec2.crash(victim);
    await expectConvergedCluster(sandbox);

    const seen = await clusterSeenFrom(sandbox, inService(sandbox)[0]!);
    expect(seen.all).not.toContain(victimNode);
    expect(targetStates(sandbox, victim)).toEqual({ amqp: 'unused', management: 'unused' });
    expect(lifecyclePath(sandbox, victim)).not.toContain('Terminating:Wait');
    expect(healsOf(sandbox, victim, 'gone').some((h) => h.outcome === 'acted')).toBe(true);
    const [replacement, ...more] = launchedSince(sandbox, before);
    expect(more).toEqual([]);
    expect(inService(sandbox)).toContain(replacement);
    expect(seen.running).toContain(nodeName(sandbox, replacement!));
    expect(sandbox.queue.deadLetters).toEqual([]);
  });
}
