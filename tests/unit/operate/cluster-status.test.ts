import { clusterStatusOf } from '../../../infra/operate/status';
import { formatClusterStatus, formatPlan } from '../../../infra/operate/view';
import type { ObservedCluster } from '../../../shared/cluster/reconcile-plan';
import type { GroupInstance, TargetState } from '../../../shared/ports';
import type { NodeStatus } from '../../../shared/rabbitmq/operations';
import { testConfig } from '../../support/config';

// `warren status` is computed from what a reconcile tick observes; here that observation is written by hand.

const name = (id: string) => `rabbit@ip-${id}`;
const status = (id: string, running: string[], all = running, extra: Partial<NodeStatus> = {}): NodeStatus => ({
  node: name(id),
  version: '4.3.6',
  running: true,
  paused: false,
  members: { all: all.map(name), running: running.map(name) },
  partitions: {},
  alarms: [],
  cookieHash: 'x',
  policies: ['warren-quorum'],
  defaultQueueType: 'quorum',
  underMaintenance: false,
  metadataStore: 'khepri',
  featureFlagsDisabled: 0,
  metadataLeader: null,
  adminSecretVersion: null,
  deprecatedFeaturesUsed: [],
  replicas: { queues: 2, degraded: 0, leaderless: 0, missing: {}, stopped: {}, departed: {} },
  ...extra,
});
const inGroup = (instanceId: string, lifecycleState = 'InService'): GroupInstance => ({
  instanceId,
  lifecycleState,
  healthStatus: 'Healthy',
  availabilityZone: 'eu-west-1a',
});

function observed(parts: {
  group: GroupInstance[];
  ec2: Array<[string, 'running' | 'terminated']>;
  statuses: Array<[string, NodeStatus | Error]>;
  healthy: string[];
  paused?: string;
}): ObservedCluster {
  const targets = new Map<string, TargetState>(parts.healthy.map((id) => [id, 'healthy']));
  return {
    group: {
      name: 'prod-mq',
      minSize: 1,
      maxSize: 9,
      desiredCapacity: parts.group.length,
      instances: parts.group,
      ...(parts.paused === undefined ? {} : { paused: parts.paused }),
    },
    instances: parts.ec2.map(([id, state]) => ({
      instanceId: id,
      state,
      privateIp: '10.0.1.5',
      privateDnsName: `ip-${id}.eu-west-1.compute.internal`,
      nodeName: name(id),
      autoScalingGroupName: 'prod-mq',
    })),
    statuses: new Map(parts.statuses),
    targets: { amqp: targets, management: new Map(targets) },
  };
}

const QUEUE = { depth: 1, inFlight: 1, deadLetters: 0 };
const config = testConfig({ CLUSTER_NAME: 'prod-mq', HEAL_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/warren-prod-mq-HealQueue.fifo' });

describe('warren status of a deployed cluster', () => {
  it('shows every instance with its lifecycle state, node, app and targets, the members as the nodes see them, and the queue', () => {
    const shown = clusterStatusOf(
      observed({
        group: [inGroup('a'), inGroup('b'), inGroup('c', 'Pending:Wait')],
        ec2: [
          ['a', 'running'],
          ['b', 'running'],
          ['c', 'running'],
          ['old', 'terminated'],
        ],
        statuses: [
          ['a', status('a', ['a', 'b'])],
          ['b', status('b', ['a', 'b'])],
        ],
        healthy: ['a', 'b'],
      }),
      config,
      'eu-west-1',
      QUEUE,
    );

    expect(shown).toMatchObject({
      cluster: 'prod-mq',
      region: 'eu-west-1',
      autoScalingGroupName: 'prod-mq',
      desiredCapacity: 3,
      paused: null,
      rabbitmq: '4.3.6',
      metadataStore: 'khepri',
      members: { all: [name('a'), name('b')], running: [name('a'), name('b')], partitions: {} },
      majorityLost: false,
      quorumQueues: { total: 2, degraded: 0, leaderless: 0 },
      queue: { depth: 1, inFlight: 1, deadLetters: 0, url: config.healQueueUrl, deadLetterUrl: null },
    });
    expect(shown.instances.map((i) => [i.id, i.lifecycleState, i.node, i.running, i.targets.amqp])).toEqual([
      ['a', 'InService', name('a'), true, 'healthy'],
      ['b', 'InService', name('b'), true, 'healthy'],
      ['c', 'Pending:Wait', name('c'), null, 'unused'],
    ]);
    const text = formatClusterStatus(shown);
    expect(text).toContain('desired capacity 3 (min 1, max 9), 2 InService');
    expect(text).toContain(`members 2 (running 2: ${name('a')}, ${name('b')})   partitions none`);
    expect(text).toContain('Khepri majority held');
    expect(text).toContain('heal queue depth 1 (in flight 1), dead letters 0');
  });

  it('says when the Khepri majority is lost, which node did not answer, and that warren is paused', () => {
    const shown = clusterStatusOf(
      observed({
        group: [inGroup('a'), inGroup('b'), inGroup('c')],
        ec2: [
          ['a', 'running'],
          ['b', 'running'],
          ['c', 'running'],
        ],
        statuses: [
          ['a', status('a', ['a'], ['a', 'b', 'c'])],
          ['b', new Error('NodeStatus on b ended TimedOut: \nmore')],
          ['c', status('c', [], ['a', 'b', 'c'], { running: false, metadataStore: '' })],
        ],
        healthy: ['a'],
        paused: 'alice: rebuilding node 3',
      }),
      config,
      'eu-west-1',
      undefined,
    );

    expect(shown.majorityLost).toBe(true);
    expect(shown.instances.find((i) => i.id === 'b')).toMatchObject({ running: null, statusError: 'NodeStatus on b ended TimedOut: ' });
    expect(shown.findings.map((f) => f.kind)).toContain('majority-lost');
    const text = formatClusterStatus(shown);
    expect(text).toContain('Khepri majority LOST');
    expect(text).toContain('no answer');
    expect(text).toContain('heal queue: not configured on the heal function');
    expect(text).toContain('warren is PAUSED (warren:paused tag on the group: alice: rebuilding node 3)');
  });

  it('shows a partition as the nodes report it', () => {
    const shown = clusterStatusOf(
      observed({
        group: [inGroup('a'), inGroup('b'), inGroup('c')],
        ec2: [
          ['a', 'running'],
          ['b', 'running'],
          ['c', 'running'],
        ],
        statuses: [
          ['a', status('a', ['a', 'b'], ['a', 'b', 'c'], { partitions: { [name('a')]: [name('c')] } })],
          ['b', status('b', ['a', 'b'], ['a', 'b', 'c'])],
          ['c', status('c', ['c'], ['a', 'b', 'c'], { partitions: { [name('c')]: [name('a'), name('b')] } })],
        ],
        healthy: ['a', 'b', 'c'],
      }),
      config,
      'eu-west-1',
      QUEUE,
    );

    expect(shown.members.partitions).toEqual({ [name('a')]: [name('c')], [name('c')]: [name('a'), name('b')] });
    expect(shown.members.running).toEqual([name('a'), name('b')]);
    expect(formatClusterStatus(shown)).toContain(`partitions {"${name('a')}":["${name('c')}"]`);
  });
});

describe('warren plan, printed', () => {
  const base = { cluster: 'prod-mq', region: 'eu-west-1', paused: null, findings: [], partition: null, orphanedHooks: [] };

  it('says there is nothing to do when reconcile would change nothing', () => {
    expect(formatPlan({ ...base, actions: [] })).toBe(
      [
        'reconcile plan for cluster prod-mq in eu-west-1 (dry run: nothing was changed)',
        'nothing to do: reconcile would change nothing',
        'findings: none',
      ].join('\n'),
    );
  });

  it('numbers the actions, names the hooks it would take over, the findings, and the pause', () => {
    const text = formatPlan({
      ...base,
      paused: '',
      actions: [
        { kind: 'forget', node: name('c'), instanceId: 'c', departed: 'true' },
        { kind: 'register', instanceId: 'a' },
      ],
      orphanedHooks: [{ instanceId: 'd', transition: 'launch' }],
      findings: [{ kind: 'unreachable', instanceId: 'b', error: 'Undeliverable' }],
    });

    expect(text).toContain('warren is PAUSED (warren:paused tag on the group): a reconcile tick would carry out none of this until the tag is removed');
    expect(text).toContain(`  1. forget node=${name('c')} instanceId=c departed=true\n  2. register instanceId=a`);
    expect(text).toContain('  launch hook of d');
    expect(text).toContain('  unreachable instanceId=b error=Undeliverable');
    expect(text).not.toContain('nothing to do');
  });
});
