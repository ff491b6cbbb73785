import { type NodeCluster, RABBITMQ_LINES, type SandboxNode, removeLeftovers, startCluster } from '../../infra/sandbox/nodes';
import { parseNodeOutput, type QuorumReplicas } from '../../shared/rabbitmq/operations';

// Replicas of quorum queues and streams drift from the membership in three ways RabbitMQ itself does not
// repair; each is made on purpose on a real 3-node cluster, seen by NodeStatus and repaired by the
// document reconcile sends.
jest.setTimeout(240_000);

const NO_POLICY = { PolicyName: '', PolicyPattern: '', PolicyDefinition: '{}', PolicyApplyTo: 'queues', PolicyPriority: '0', DefaultQueueType: '' };

beforeAll(async () => {
  await removeLeftovers();
});

describe.each(RABBITMQ_LINES)('on RabbitMQ %s', (line) => {
  const major = Number(line.split('.')[0]) as 3 | 4;
  let cluster: NodeCluster;
  let first: SandboxNode;
  let second: SandboxNode;
  let third: SandboxNode;

  const replicasSeenBy = async (node: SandboxNode): Promise<QuorumReplicas | null> =>
    parseNodeOutput('status', (await cluster.runDocument(node, 'NodeStatus')).stdout).replicas;
  const healthy = (queues: number): QuorumReplicas => ({ queues, degraded: 0, leaderless: 0, missing: {}, stopped: {}, departed: {} });
  const repairOn = async (node: SandboxNode) => {
    const result = await cluster.runDocument(node, 'NodeJoin', {
      ...NO_POLICY,
      Peers: cluster.nodes.map((n) => n.name).join(','),
      GrowQuorum: 'true',
      TimeoutSeconds: '60',
    });
    expect(result).toMatchObject({ exitCode: 0 });
    return parseNodeOutput('join', result.stdout);
  };
  /** the members of every quorum queue and stream of both vhosts, as the first node lists them */
  const membersOf = async () => {
    const byQueue: Record<string, string[]> = {};
    for (const vhost of ['/', 'orders']) {
      for (const [queue, members] of Object.entries(await cluster.replicaMembers(first, vhost))) byQueue[`${vhost}${queue}`] = members;
    }
    return byQueue;
  };

  beforeAll(async () => {
    cluster = await startCluster({ size: 3, prefix: `repl${major}`, rabbitmq: line });
    [first, second, third] = [...cluster.nodes].sort((a, b) => a.name.localeCompare(b.name)) as [SandboxNode, SandboxNode, SandboxNode];
    await cluster.declareQueue(first, 'payments', 'quorum');
    await cluster.declareQueue(first, 'invoices', 'quorum');
    await cluster.declareQueue(first, 'audit', 'classic');
    await cluster.declareQueue(first, 'events', 'stream');
    // a second vhost: the report and the repairs cover every vhost, not only "/"
    const vhost = await cluster.rabbitmqctl(first, ['add_vhost', 'orders']);
    expect(vhost.exitCode).toBe(0);
    const declared = await cluster.rabbitmqctl(first, [
      'eval',
      `rabbit_amqqueue:declare(rabbit_misc:r(<<"orders">>, queue, <<"shipments">>), true, false, [{<<"x-queue-type">>, longstr, <<"quorum">>}], none, <<"warren-test">>).`,
    ]);
    expect(declared.stdout).toMatch(/^\{new,/);
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  it('judges the replicas on the first running member only, and finds every queue of every vhost whole', async () => {
    expect(await replicasSeenBy(first)).toEqual(healthy(4));
    expect(await replicasSeenBy(second)).toBeNull();
    expect(await replicasSeenBy(third)).toBeNull();
  });

  it("a replica that stopped on a running member is reported stopped and re-created by the member's NodeJoin", async () => {
    const stopped = await cluster.rabbitmqctl(second, ['eval', `ra:stop_server(quorum_queues, {'%2F_payments', node()}).`]);
    expect(stopped.stdout.trim()).toBe('ok');

    expect(await replicasSeenBy(first)).toEqual({ ...healthy(4), degraded: 1, stopped: { [second.name]: 1 } });
    expect(await repairOn(second)).toMatchObject({ action: 'already-member', policy: 'skipped', quorumGrown: 0, replicasRecreated: 1 });
    expect(await replicasSeenBy(first)).toEqual(healthy(4));
  });

  it('a member without a replica (a grow that did nothing) is reported missing and grown by its NodeJoin', async () => {
    for (const [vhost, queue] of [
      ['/', 'invoices'],
      ['orders', 'shipments'],
    ] as const) {
      const removed = await cluster.exec(first, 'rabbitmq-queues', ['--node', first.name, 'delete_member', '-p', vhost, queue, third.name]);
      expect(removed.exitCode).toBe(0);
    }
    const streamReplica = await cluster.exec(first, 'rabbitmq-streams', ['--node', first.name, 'delete_replica', '-p', '/', 'events', third.name]);
    expect(streamReplica.exitCode).toBe(0);

    expect(await replicasSeenBy(first)).toEqual({ ...healthy(4), degraded: 3, missing: { [third.name]: 3 } });
    expect(await repairOn(third)).toMatchObject({ quorumGrown: 2, streamsGrown: 1, replicasRecreated: 0 });
    expect(await replicasSeenBy(first)).toEqual(healthy(4));
    const all = [first.name, second.name, third.name].sort();
    expect(await membersOf()).toEqual({ '/payments': all, '/invoices': all, '/events': all, ordersshipments: all });
  });

  it('a node that left the cluster but not its queues is reported departed, and NodeForget on a peer removes it', async () => {
    await cluster.killNode(third);
    // what 4.3 leaves behind (measured): the node out of the cluster, still a member of its queues
    const forgetMembershipOnly =
      major === 3 ? `rabbit_mnesia:forget_cluster_node('${third.name}', false).` : `rabbit_db_cluster:forget_member('${third.name}', false).`;
    expect((await cluster.rabbitmqctl(first, ['eval', forgetMembershipOnly])).stdout.trim()).toBe('ok');

    expect(await replicasSeenBy(first)).toEqual({ ...healthy(4), degraded: 4, departed: { [third.name]: 4 } });
    const forget = await cluster.runDocument(second, 'NodeForget', { NodeName: third.name, Departed: 'true' });
    expect(parseNodeOutput('forget', forget.stdout)).toMatchObject({ node: third.name, result: 'absent', replicasRemoved: 4 });
    expect(await replicasSeenBy(first)).toEqual(healthy(4));
    const survivors = [first.name, second.name].sort();
    expect(await membersOf()).toEqual({ '/payments': survivors, '/invoices': survivors, '/events': survivors, ordersshipments: survivors });
  });

  it('a queue without a running majority is counted leaderless, never missing or stopped, and NodeJoin leaves it alone', async () => {
    // (killing nodes instead would have pause_minority stop the survivor's app: no status to read at all)
    for (const node of [first, second]) {
      const stopped = await cluster.rabbitmqctl(node, ['eval', `ra:stop_server(quorum_queues, {'%2F_invoices', node()}).`]);
      expect(stopped.stdout.trim()).toBe('ok');
    }

    expect(await replicasSeenBy(first)).toEqual({ ...healthy(4), degraded: 1, leaderless: 1 });
    expect(await repairOn(second)).toMatchObject({ quorumGrown: 0, replicasRecreated: 0 });
  });
});
