import { decideReplacement, healthyRunningMembers, matchRunbook, minHealthyMembers, replacementWitnesses } from '../../../shared/cluster/alarm-decision';
import { mayForget } from '../../../shared/cluster/forget';
import { nodeNameOf } from '../../../shared/cluster/node-name';
import { policyMissing, policyParamsFor } from '../../../shared/cluster/policy';
import { pickSeedCandidates } from '../../../shared/cluster/seeds';
import { unverifiedRestart } from '../../../shared/cluster/partition';
import type { GroupFacts, GroupInstance, InstanceFacts } from '../../../shared/ports';
import { NodeCommandFailed } from '../../../shared/errors';
import type { NodeRestartOutcome, NodeStatus } from '../../../shared/rabbitmq/operations';
import { testConfig } from '../../support/config';

const member = (instanceId: string, lifecycleState = 'InService', healthStatus: GroupInstance['healthStatus'] = 'Healthy'): GroupInstance => ({
  instanceId,
  lifecycleState,
  healthStatus,
  availabilityZone: 'us-east-1a',
});
const group = (instances: GroupInstance[], desiredCapacity = instances.length): GroupFacts => ({
  name: 'rabbit-asg',
  minSize: 1,
  maxSize: 9,
  desiredCapacity,
  instances,
});

describe('node names', () => {
  it('derives the node name from the short host of the private DNS name', () => {
    const named = (privateDnsName: string) => nodeNameOf({ instanceId: 'i-1', state: 'running', privateDnsName });
    expect(named('ip-10-0-1-5.ec2.internal')).toBe('rabbit@ip-10-0-1-5');
    expect(named('')).toBeUndefined();
    expect(named('bad host;rm.ec2.internal')).toBeUndefined();
  });

  it('prefers the tag warren wrote over the DNS name', () => {
    expect(nodeNameOf({ instanceId: 'i-1', state: 'running', privateDnsName: 'ip-10-0-0-1.ec2.internal', nodeName: 'rabbit@custom' })).toBe('rabbit@custom');
  });
});

describe('pickSeedCandidates', () => {
  it('keeps InService running instances other than the newcomer, tagged first', () => {
    const facts = [
      { instanceId: 'i-new', state: 'running' as const },
      { instanceId: 'i-untagged', state: 'running' as const },
      { instanceId: 'i-tagged', state: 'running' as const, nodeName: 'rabbit@ip-10-0-0-2' },
      { instanceId: 'i-stopping', state: 'stopping' as const, nodeName: 'rabbit@ip-10-0-0-3' },
      { instanceId: 'i-pending', state: 'running' as const },
    ];
    const asg = group([member('i-new', 'Pending:Wait'), member('i-untagged'), member('i-tagged'), member('i-stopping'), member('i-pending', 'Pending:Wait')]);

    expect(pickSeedCandidates(asg, facts, 'i-new').map((i) => i.instanceId)).toEqual(['i-tagged', 'i-untagged']);
  });

  it('accepts a verified instance the ASG has not yet moved from Pending:Proceed', () => {
    const facts = [{ instanceId: 'i-just-joined', state: 'running' as const, nodeName: 'rabbit@ip-10-0-0-4' }];

    expect(pickSeedCandidates(group([member('i-just-joined', 'Pending:Proceed')]), facts, 'i-new')).toHaveLength(1);
  });
});

describe('mayForget (invariants 1 and 2)', () => {
  const peers = ['rabbit@ip-a', 'rabbit@ip-b'];

  it('allows a node whose instance EC2 reports terminated and which is not running', () => {
    expect(mayForget({ node: 'rabbit@ip-c', ec2State: 'terminated', runningMembers: peers })).toEqual({ allowed: true });
  });

  it('refuses an unreachable node whose instance still runs', () => {
    expect(mayForget({ node: 'rabbit@ip-c', ec2State: 'running', runningMembers: peers }).allowed).toBe(false);
  });

  it('refuses a node still among the running members, whatever EC2 says', () => {
    expect(mayForget({ node: 'rabbit@ip-a', ec2State: 'shutting-down', runningMembers: peers }).allowed).toBe(false);
  });

  it('allows a node that left cleanly while its instance is Terminating', () => {
    expect(
      mayForget({ node: 'rabbit@ip-c', ec2State: 'running', asgLifecycleState: 'Terminating:Wait', leftCleanly: true, runningMembers: peers }).allowed,
    ).toBe(true);
    expect(mayForget({ node: 'rabbit@ip-c', ec2State: 'running', asgLifecycleState: 'InService', leftCleanly: true, runningMembers: peers }).allowed).toBe(
      false,
    );
  });

  it('refuses when no other running member would remain', () => {
    expect(mayForget({ node: 'rabbit@ip-c', ec2State: 'terminated', runningMembers: [] })).toEqual({
      allowed: false,
      reason: 'no other running member would remain',
    });
  });
});

describe('policyParamsFor', () => {
  it('sends the configured HA policy, definition as JSON, and no default queue type to 3.x', () => {
    const choice = policyParamsFor(testConfig({ HA_POLICY_PATTERN: '^ha\\.' }), '3.10.8');

    expect(choice).toEqual({
      params: {
        PolicyName: 'ha-all',
        PolicyPattern: '^ha\\.',
        PolicyDefinition: '{"ha-mode":"all","ha-sync-mode":"automatic"}',
        PolicyApplyTo: 'queues',
        PolicyPriority: '0',
        DefaultQueueType: '',
      },
    });
  });

  it('sends the quorum policy and the default queue type to 4.x, and notes the mirroring keys it ignores', () => {
    const { params, omitted, ignored } = policyParamsFor(testConfig({ QUORUM_POLICY_PRIORITY: '5' }), '4.1.0');

    expect(params).toEqual({
      PolicyName: 'warren-quorum',
      PolicyPattern: '.*',
      PolicyDefinition: '{"queue-leader-locator":"balanced"}',
      PolicyApplyTo: 'queues',
      PolicyPriority: '5',
      DefaultQueueType: 'quorum',
    });
    expect(JSON.stringify(params)).not.toContain('ha-');
    expect(omitted).toBeUndefined();
    expect(ignored).toBe(
      'HA_POLICY_* mirroring keys (ha-mode, ha-sync-mode) are ignored on RabbitMQ 4.1.0: classic mirroring was removed in 4.0; applying QUORUM_POLICY_* and DEFAULT_QUEUE_TYPE instead',
    );
  });

  it('notes nothing on 4.x when the HA policy has no mirroring keys, and says why nothing is sent when both 4.x settings are empty', () => {
    const choice = policyParamsFor(testConfig({ HA_POLICY_DEFINITION: '{"max-length":10}', QUORUM_POLICY_NAME: '', DEFAULT_QUEUE_TYPE: '' }), '4.0.5');

    expect(choice.ignored).toBeUndefined();
    expect(choice.params).toMatchObject({ PolicyName: '', PolicyDefinition: '{}', DefaultQueueType: '' });
    expect(choice.omitted).toMatch(/QUORUM_POLICY_NAME and DEFAULT_QUEUE_TYPE are empty/);
  });

  it('sends only the default queue type on 4.x when no quorum policy is configured', () => {
    expect(policyParamsFor(testConfig({ QUORUM_POLICY_NAME: '' }), '4.0.5').params).toMatchObject({
      PolicyName: '',
      PolicyDefinition: '{}',
      DefaultQueueType: 'quorum',
    });
  });

  it('sends nothing for an unknown version', () => {
    expect(policyParamsFor(testConfig(), undefined)).toMatchObject({
      params: { PolicyName: '', DefaultQueueType: '' },
      omitted: expect.stringMatching(/unknown/),
    });
    expect(policyParamsFor(testConfig(), 'unknown').params.PolicyName).toBe('');
  });
});

describe('policyMissing', () => {
  const seen = (version: string, policies: string[], defaultQueueType = '') => ({ version, policies, defaultQueueType });

  it('on 3.x looks at the HA policy only, whatever the default queue type', () => {
    expect(policyMissing(testConfig(), seen('3.10.8', ['ha-all'], ''))).toBe(false);
    expect(policyMissing(testConfig(), seen('3.13.7', ['ha-all'], 'classic'))).toBe(false);
    expect(policyMissing(testConfig(), seen('3.10.8', ['warren-quorum']))).toBe(true);
  });

  it('on 4.x wants the quorum policy and the configured default queue type, not the HA policy', () => {
    expect(policyMissing(testConfig(), seen('4.0.5', ['warren-quorum'], 'quorum'))).toBe(false);
    expect(policyMissing(testConfig(), seen('4.0.5', ['ha-all'], 'quorum'))).toBe(true);
    expect(policyMissing(testConfig(), seen('4.0.5', ['warren-quorum'], 'classic'))).toBe(true);
    expect(policyMissing(testConfig(), seen('4.0.5', ['warren-quorum'], ''))).toBe(true);
  });

  it('on 4.x ignores what is configured empty', () => {
    expect(policyMissing(testConfig({ QUORUM_POLICY_NAME: '' }), seen('4.0.5', [], 'quorum'))).toBe(false);
    expect(policyMissing(testConfig({ DEFAULT_QUEUE_TYPE: '' }), seen('4.0.5', ['warren-quorum'], 'classic'))).toBe(false);
  });

  it('asks nothing of an unknown version', () => {
    expect(policyMissing(testConfig(), seen('unknown', []))).toBe(false);
  });
});

describe('alarm decision', () => {
  const runbook = testConfig({
    ALARM_RUNBOOK: '[{"alarm":"node-down-","match":"prefix","action":"replace-instance"},{"alarm":"drift","action":"reconcile"}]',
  }).alarmRunbook;
  const alarmOf = (alarmName: string, state: 'ALARM' | 'OK' = 'ALARM', instanceId?: string) => ({
    kind: 'alarm' as const,
    id: 'e',
    time: 0,
    alarmName,
    state,
    instanceId,
  });

  it('matches by exact name or by prefix, and only in ALARM', () => {
    expect(matchRunbook(alarmOf('drift'), runbook, undefined).act).toBe('reconcile');
    expect(matchRunbook(alarmOf('drift-2'), runbook, undefined).act).toBe('ignore');
    expect(matchRunbook(alarmOf('node-down-x', 'ALARM', 'i-1'), runbook, group([member('i-1')])).act).toBe('replace-instance');
    expect(matchRunbook(alarmOf('node-down-x', 'ALARM'), runbook, undefined).act).toBe('ignore');
    expect(matchRunbook(alarmOf('drift', 'OK'), runbook, undefined).act).toBe('ignore');
  });

  it('defaults the minimum of healthy members to a majority of the desired capacity', () => {
    expect(minHealthyMembers(testConfig(), 5)).toBe(3);
    expect(minHealthyMembers(testConfig({ MIN_HEALTHY_MEMBERS: '4' }), 5)).toBe(4);
  });

  it('refuses while any instance is unhealthy or not InService, and below the minimum', () => {
    const healthy = ['i-1', 'i-2', 'i-3'];
    expect(
      decideReplacement({
        group: group([member('i-1'), member('i-2'), member('i-3', 'InService', 'Unhealthy')]),
        healthyRunningMemberIds: healthy,
        targetInstanceId: 'i-1',
        minHealthy: 1,
      }).allowed,
    ).toBe(false);
    expect(
      decideReplacement({
        group: group([member('i-1'), member('i-2'), member('i-3')]),
        healthyRunningMemberIds: healthy,
        targetInstanceId: 'i-1',
        minHealthy: 3,
      }).allowed,
    ).toBe(false);
    expect(
      decideReplacement({
        group: group([member('i-1'), member('i-2'), member('i-3')]),
        healthyRunningMemberIds: healthy,
        targetInstanceId: 'i-1',
        minHealthy: 2,
      }).allowed,
    ).toBe(true);
  });

  it('counts as healthy running members only the other InService, Healthy instances EC2 runs whose node answered running', () => {
    const witnesses = replacementWitnesses(
      group([
        member('i-1'),
        member('i-2'),
        member('i-3'),
        member('i-4', 'InService', 'Unhealthy'),
        member('i-5', 'Pending:Wait'),
        member('i-6'),
        member('i-7'),
      ]),
      'i-1',
    );
    expect(witnesses).toEqual(['i-2', 'i-3', 'i-6', 'i-7']);
    const ec2 = (instanceId: string, state: InstanceFacts['state']) => ({ instanceId, state }) as InstanceFacts;
    const answered = (running: boolean) => ({ running }) as NodeStatus;
    const statuses = new Map<string, NodeStatus | Error>([
      ['i-2', answered(true)],
      ['i-3', answered(false)],
      ['i-6', new NodeCommandFailed('i-6', 'status', 'TimedOut', '')],
      ['i-7', answered(true)],
    ]);
    expect(healthyRunningMembers(witnesses, [ec2('i-2', 'running'), ec2('i-3', 'running'), ec2('i-6', 'running'), ec2('i-7', 'stopping')], statuses)).toEqual([
      'i-2',
    ]);
  });
});

describe('restart of a losing side', () => {
  const restarted = (extra: Partial<NodeRestartOutcome>): NodeRestartOutcome =>
    ({ node: 'rabbit@c', step: 'start', done: true, running: true, members: { all: [], running: [] }, partitions: {}, ...extra }) as NodeRestartOutcome;
  const members = (running: string[]) => ({ all: running, running });

  it('is verified only when the node runs again beside a survivor of the winning side', () => {
    expect(unverifiedRestart(restarted({ members: members(['rabbit@a', 'rabbit@c']) }), 'rabbit@c', ['rabbit@a'])).toBeUndefined();
    expect(unverifiedRestart(restarted({ step: 'stop', running: false }), 'rabbit@c', [])).toBeUndefined();
    expect(unverifiedRestart(restarted({ members: members(['rabbit@c']) }), 'rabbit@c', ['rabbit@a'])).toMatch(
      /not a running member with the winning side \(it sees rabbit@c\)/,
    );
    expect(unverifiedRestart(restarted({ running: false, members: members([]) }), 'rabbit@c', ['rabbit@a'])).toMatch(/it sees nothing/);
    expect(unverifiedRestart(undefined, 'rabbit@c', ['rabbit@a'])).toMatch(/no result/);
    expect(unverifiedRestart({ node: 'rabbit@c', step: 'stop', done: false, reason: 'no-survivor-running', detail: 'none answers' }, 'rabbit@c', [])).toBe(
      'stop of rabbit@c refused: no-survivor-running: none answers',
    );
  });
});
