import { divergence, type ReplicatedQueueView, type SandboxStatus } from '../../../infra/sandbox/status';

const nodes = ['rabbit@ip-10-0-0-1', 'rabbit@ip-10-0-0-2'];

/** Two InService instances whose nodes run, with healthy targets and the given quorum queues and streams. */
function status(replicatedQueues: ReplicatedQueueView[] | null): SandboxStatus {
  return {
    cluster: 'c',
    autoScalingGroupName: 'g',
    desiredCapacity: 2,
    paused: null,
    network: 'netns',
    rabbitmq: '4.3.6-1',
    instances: nodes.map((node, i) => ({
      id: `i-${i}`,
      privateIp: null,
      hostname: null,
      availabilityZone: 'a',
      lifecycleState: 'InService',
      ec2State: 'running',
      node,
      namespace: null,
      targets: { amqp: 'healthy', management: 'healthy' },
    })),
    members: { all: nodes, running: nodes, partitions: {} },
    policies: ['warren-quorum'],
    replicatedQueues,
    loadBalancer: { amqp: '', management: '', amqpUrl: '', managementUrl: '', tls: null },
    targetGroups: { amqp: '', management: '' },
    queue: { depth: 0, deadLetters: 0, url: '', deadLetterUrl: '' },
    aws: { endpoint: '', region: '', accessKeyId: '', secretAccessKey: '', adminSecretArn: '' },
  };
}
const queue = (extra: Partial<ReplicatedQueueView> = {}): ReplicatedQueueView => ({
  type: 'quorum',
  vhost: '/',
  name: 'orders',
  members: nodes,
  online: nodes,
  leader: nodes[0]!,
  ...extra,
});

describe('divergence: converged includes the quorum queues and streams', () => {
  it('is converged when every quorum queue has a running leader and a running replica on exactly the InService nodes', () => {
    expect(divergence(status([queue(), queue({ vhost: 'billing', name: 'invoices' })]), 'warren-quorum')).toEqual([]);
  });

  it('names a queue with a replica missing, one not running, one without a leader, and queues that could not be listed', () => {
    expect(divergence(status([queue({ members: [nodes[0]!], online: [nodes[0]!] })]), 'warren-quorum')).toEqual([
      `quorum queue orders has replicas on ["${nodes[0]}"], not on the InService nodes`,
    ]);
    expect(divergence(status([queue({ vhost: 'billing', online: [nodes[0]!] })]), 'warren-quorum')).toEqual([
      `quorum queue billing/orders replicas not running: ${nodes[1]}`,
    ]);
    expect(divergence(status([queue({ leader: '' })]), 'warren-quorum')).toEqual(['quorum queue orders has no running leader']);
    expect(divergence(status(null), 'warren-quorum')).toEqual(['quorum queues and streams could not be listed']);
    expect(
      divergence(status([queue({ type: 'stream', name: 'events', members: [nodes[1]!], online: [nodes[1]!], leader: nodes[1]! })]), 'warren-quorum'),
    ).toEqual([`stream events has replicas on ["${nodes[1]}"], not on the InService nodes`]);
  });

  it('counts a replica on a node that is no longer InService as divergence', () => {
    expect(divergence(status([queue({ members: [...nodes, 'rabbit@ip-10-0-0-3'], online: nodes })]), 'warren-quorum')).toEqual([
      `quorum queue orders has replicas on ${JSON.stringify([...nodes, 'rabbit@ip-10-0-0-3'])}, not on the InService nodes`,
      'quorum queue orders replicas not running: rabbit@ip-10-0-0-3',
    ]);
  });
});
