import { parseEvent, parseQueueMessage, type WarrenEvent } from '../../../shared/events';
import { fixtureText, loadFixture, type FixtureName } from '../../events/load';

const at = (iso: string) => Date.parse(iso);

const lifecycleRef = {
  autoScalingGroupName: 'my-asg',
  lifecycleHookName: 'my-lifecycle-hook',
  lifecycleActionToken: '87654321-4321-4321-4321-210987654321',
  instanceId: 'i-1234567890abcdef0',
};

const expected: Array<[FixtureName, WarrenEvent]> = [
  [
    'asg-launch-lifecycle-action',
    { kind: 'launch', id: '12345678-1234-1234-1234-123456789012', time: at('2023-04-12T09:30:15Z'), instanceId: 'i-1234567890abcdef0', action: lifecycleRef },
  ],
  [
    'asg-terminate-lifecycle-action',
    {
      kind: 'terminate',
      id: '12345678-1234-1234-1234-123456789012',
      time: at('2023-04-12T10:02:44Z'),
      instanceId: 'i-1234567890abcdef0',
      action: lifecycleRef,
    },
  ],
  [
    'ec2-instance-state-change-terminated',
    { kind: 'gone', id: '7bf73129-1428-4cd3-a780-95db273d1602', time: at('2021-11-11T21:29:54Z'), instanceId: 'i-1234567890abcdef0', state: 'terminated' },
  ],
  [
    'ec2-spot-instance-interruption-warning',
    {
      kind: 'interruption',
      id: '12345678-1234-1234-1234-123456789012',
      time: at('2023-04-12T11:15:00Z'),
      instanceId: 'i-1234567890abcdef0',
      reason: 'spot-interruption',
    },
  ],
  [
    'ec2-instance-rebalance-recommendation',
    {
      kind: 'interruption',
      id: '12345678-1234-1234-1234-123456789012',
      time: at('2023-04-12T11:05:00Z'),
      instanceId: 'i-1234567890abcdef0',
      reason: 'rebalance-recommendation',
    },
  ],
  [
    'cloudwatch-alarm-single-metric',
    {
      kind: 'alarm',
      id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
      time: at('2019-10-02T17:04:40Z'),
      alarmName: 'ServerCpuTooHigh',
      state: 'ALARM',
      previousState: 'OK',
      instanceId: 'i-12345678901234567',
    },
  ],
  [
    'cloudwatch-alarm-metric-math',
    {
      kind: 'alarm',
      id: '2dde0eb1-528b-d2d5-9ca6-6d590caf2329',
      time: at('2019-10-02T17:20:48Z'),
      alarmName: 'TotalNetworkTrafficTooHigh',
      state: 'ALARM',
      previousState: 'INSUFFICIENT_DATA',
      instanceId: 'i-12345678901234567',
    },
  ],
  [
    'cloudwatch-alarm-anomaly-detection',
    {
      kind: 'alarm',
      id: 'daafc9f1-bddd-c6c9-83af-74971fcfc4ef',
      time: at('2019-10-03T16:00:04Z'),
      alarmName: 'EC2 CPU Utilization Anomaly',
      state: 'ALARM',
      previousState: 'OK',
      instanceId: 'i-12345678901234567',
    },
  ],
  [
    'cloudwatch-alarm-composite',
    {
      kind: 'alarm',
      id: 'd3dfc86d-384d-24c8-0345-9f7986db0b80',
      time: at('2022-07-22T15:57:45Z'),
      alarmName: 'ServiceAggregatedAlarm',
      state: 'ALARM',
      previousState: 'OK',
      instanceId: undefined,
    },
  ],
  ['scheduled-event', { kind: 'reconcile', id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa', time: at('2015-10-08T16:53:06Z'), dryRun: false }],
];

describe('every AWS fixture converts to the internal event', () => {
  it.each(expected)('%s, invoked directly by EventBridge', (name, event) => {
    const raw = loadFixture(name);

    const converted = parseEvent(raw);

    expect(converted).toStrictEqual(event);
  });

  it.each(expected)('%s, as the body of an SQS record', (name, event) => {
    const body = fixtureText(name);

    const converted = parseQueueMessage(body);

    expect(converted).toStrictEqual(event);
  });
});

describe('variations AWS also sends', () => {
  it('keeps shutting-down as a departure', () => {
    const raw = loadFixture('ec2-instance-state-change-terminated');
    raw.detail.state = 'shutting-down';

    const converted = parseEvent(raw);

    expect(converted).toMatchObject({ kind: 'gone', state: 'shutting-down' });
  });

  it('accepts a lifecycle action without a token (CompleteLifecycleAction then goes by instance id)', () => {
    const raw = loadFixture('asg-launch-lifecycle-action');
    delete raw.detail.LifecycleActionToken;

    const converted = parseEvent(raw);

    expect(converted).toMatchObject({ kind: 'launch', action: { lifecycleActionToken: undefined, instanceId: 'i-1234567890abcdef0' } });
  });

  it('names no instance when the metrics of an alarm point at two different instances', () => {
    const raw = loadFixture('cloudwatch-alarm-metric-math');
    raw.detail.configuration.metrics[2].metricStat.metric.dimensions.InstanceId = 'i-0abcdef0123456789';

    const converted = parseEvent(raw);

    expect(converted).toMatchObject({ kind: 'alarm', alarmName: 'TotalNetworkTrafficTooHigh', instanceId: undefined });
  });

  it('takes a spot interruption that stops rather than terminates', () => {
    const raw = loadFixture('ec2-spot-instance-interruption-warning');
    raw.detail['instance-action'] = 'stop';

    const converted = parseEvent(raw);

    expect(converted).toMatchObject({ kind: 'interruption', reason: 'spot-interruption' });
  });
});
