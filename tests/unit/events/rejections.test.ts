import { parseEvent, parseQueueMessage } from '../../../shared/events';
import type { EventSkipped } from '../../../shared/errors';
import { skipReason } from '../../support/skipped';
import { loadFixture, type FixtureName } from '../../events/load';

/** A fixture with one change applied, the way a malformed or forged event would differ from a real one. */
function altered(name: FixtureName, change: (raw: Record<string, any>) => void): Record<string, any> {
  const raw = loadFixture(name);
  change(raw);
  return raw;
}

const shellInjections = ['i-123; rm -rf /', '$(reboot)', '`reboot`', 'i-1234567890abcdef0 && halt', 'i-1234567890abcdef0\nreboot'];

const badPayloads: Array<[string, () => unknown, RegExp]> = [
  ['null', () => null, /null, not an object/],
  ['a string', () => 'reconcile', /string, not an object/],
  ['an array', () => [loadFixture('scheduled-event')], /an array, not an object/],
  ['a number for source', () => altered('scheduled-event', (r) => (r.source = 42)), /must both be strings/],
  [
    'an unknown detail-type',
    () => altered('scheduled-event', (r) => (r['detail-type'] = 'EC2 Instance Launch Successful')),
    /no converter for "aws.events" \/ "EC2 Instance Launch Successful"/,
  ],
  ['a known detail-type from a foreign source', () => altered('ec2-instance-rebalance-recommendation', (r) => (r.source = 'com.example.ec2')), /no converter/],
  ['the Auto Scaling test notification on a queue', () => loadFixture('asg-test-notification'), /test notification/],
  ['the Auto Scaling test notification through EventBridge', () => loadFixture('asg-test-notification-eventbridge'), /test notification/],
  [
    'a launch event carrying the terminating transition',
    () => altered('asg-launch-lifecycle-action', (r) => (r.detail.LifecycleTransition = 'autoscaling:EC2_INSTANCE_TERMINATING')),
    /is not autoscaling:EC2_INSTANCE_LAUNCHING/,
  ],
  [
    'a terminate event carrying the launching transition',
    () => altered('asg-terminate-lifecycle-action', (r) => (r.detail.LifecycleTransition = 'autoscaling:EC2_INSTANCE_LAUNCHING')),
    /is not autoscaling:EC2_INSTANCE_TERMINATING/,
  ],
  [
    'a lifecycle action without the hook name',
    () => altered('asg-launch-lifecycle-action', (r) => delete r.detail.LifecycleHookName),
    /detail\.LifecycleHookName/,
  ],
  ['a lifecycle action without an instance id', () => altered('asg-terminate-lifecycle-action', (r) => delete r.detail.EC2InstanceId), /detail\.EC2InstanceId/],
  ['a lifecycle action without detail', () => altered('asg-launch-lifecycle-action', (r) => delete r.detail), /detail/],
  ['an event without an id', () => altered('asg-launch-lifecycle-action', (r) => delete r.id), /id:/],
  [
    'an event whose time is not a time',
    () => altered('ec2-instance-state-change-terminated', (r) => (r.time = 'yyyy-mm-ddThh:mm:ssZ')),
    /time: not a timestamp/,
  ],
  ['an event whose time is a number', () => altered('ec2-instance-state-change-terminated', (r) => (r.time = 1700000000)), /time:/],
  ['an instance that entered pending', () => loadFixture('ec2-instance-state-change-pending'), /state "pending" is not shutting-down or terminated/],
  ['an instance that stopped', () => altered('ec2-instance-state-change-terminated', (r) => (r.detail.state = 'stopped')), /state "stopped"/],
  ['a state that is an object', () => altered('ec2-instance-state-change-terminated', (r) => (r.detail.state = { name: 'terminated' })), /detail\.state/],
  [
    'the Lambda guide example id with non-hex letters',
    () => altered('ec2-instance-state-change-terminated', (r) => (r.detail['instance-id'] = 'i-0c314xmplcd5b8173')),
    /not an EC2 instance id/,
  ],
  [
    'an instance id that is too short',
    () => altered('ec2-instance-rebalance-recommendation', (r) => (r.detail['instance-id'] = 'i-1234567')),
    /not an EC2 instance id/,
  ],
  [
    'an instance id in capitals',
    () => altered('ec2-spot-instance-interruption-warning', (r) => (r.detail['instance-id'] = 'i-1234567890ABCDEF0')),
    /not an EC2 instance id/,
  ],
  [
    'a spot warning with an unknown action',
    () => altered('ec2-spot-instance-interruption-warning', (r) => (r.detail['instance-action'] = 'action')),
    /instance-action/,
  ],
  ['an alarm in an unknown state', () => altered('cloudwatch-alarm-single-metric', (r) => (r.detail.state.value = 'ALARMING')), /detail\.state\.value/],
  ['an alarm without a name', () => altered('cloudwatch-alarm-single-metric', (r) => delete r.detail.alarmName), /detail\.alarmName/],
  [
    'an alarm whose InstanceId dimension is not an instance',
    () => altered('cloudwatch-alarm-single-metric', (r) => (r.detail.configuration.metrics[0].metricStat.metric.dimensions.InstanceId = 'web-1')),
    /not an EC2 instance id/,
  ],
  [
    'a lifecycle token that is not a UUID',
    () => altered('asg-launch-lifecycle-action', (r) => (r.detail.LifecycleActionToken = 'token')),
    /not a lifecycle action token/,
  ],
  ['a direct invocation with dryRun as a string', () => ({ dryRun: 'yes' }), /dryRun/],
  ['a scheduled event with a bad time', () => altered('scheduled-event', (r) => (r.time = 'soon')), /time: not a timestamp/],
  [
    'a payload above 256 KiB',
    () => altered('cloudwatch-alarm-single-metric', (r) => (r.detail.configuration.description = 'x'.repeat(256 * 1024))),
    /above EventBridge's 262144/,
  ],
  ['a payload that cannot be JSON', () => ({ source: 'aws.events', big: BigInt(1) }), /cannot be serialised/],
  [
    'a payload nested deeper than any AWS event',
    () => altered('scheduled-event', (r) => (r.detail = JSON.parse(`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`))),
    /nested deeper than 32 levels/,
  ],
  ['a scheduled event whose detail is not empty', () => altered('scheduled-event', (r) => (r.detail = { dryRun: true })), /detail: Unrecognized key: "dryRun"/],
];

describe('parseEvent skips what it must not act on', () => {
  it.each(badPayloads)('%s', (_, build, reason) => {
    const raw = build();

    const skipped = skipReason(() => parseEvent(raw));

    expect(skipped).toMatch(reason);
  });
});

describe('shell metacharacters never pass', () => {
  it.each(shellInjections)('instance id %j in a state change', (value) => {
    const raw = altered('ec2-instance-state-change-terminated', (r) => (r.detail['instance-id'] = value));

    expect(skipReason(() => parseEvent(raw))).toMatch(/not an EC2 instance id/);
  });

  it.each(shellInjections)('instance id %j in a lifecycle action', (value) => {
    const raw = altered('asg-launch-lifecycle-action', (r) => (r.detail.EC2InstanceId = value));

    expect(skipReason(() => parseEvent(raw))).toMatch(/not an EC2 instance id/);
  });

  it.each(['my-hook; rm -rf /', '$(reboot)', '`reboot`', 'hook|nc evil 80'])('hook name %j', (value) => {
    const raw = altered('asg-terminate-lifecycle-action', (r) => (r.detail.LifecycleHookName = value));

    expect(skipReason(() => parseEvent(raw))).toMatch(/not a lifecycle hook name/);
  });

  it.each(['87654321-4321-4321-4321-21098765432;', '$(reboot)', '`reboot`'])('lifecycle token %j', (value) => {
    const raw = altered('asg-launch-lifecycle-action', (r) => (r.detail.LifecycleActionToken = value));

    expect(skipReason(() => parseEvent(raw))).toMatch(/not a lifecycle action token/);
  });

  it.each(['High CPU; rm -rf /', '$(reboot)', '`reboot`', "cpu' || true"])('alarm name %j', (value) => {
    const raw = altered('cloudwatch-alarm-single-metric', (r) => (r.detail.alarmName = value));

    expect(skipReason(() => parseEvent(raw))).toMatch(/alarm name has characters/);
  });

  it.each(['my-asg; reboot', '$(reboot)'])('group name %j', (value) => {
    const raw = altered('asg-launch-lifecycle-action', (r) => (r.detail.AutoScalingGroupName = value));

    expect(skipReason(() => parseEvent(raw))).toMatch(/not an Auto Scaling group name/);
  });
});

describe('the skip reason stays one readable log line', () => {
  it('names the first ten problems of an event that fails on every element of a long array', () => {
    const raw = altered('cloudwatch-alarm-single-metric', (r) => {
      const metric = r.detail.configuration.metrics[0];
      r.detail.configuration.metrics = Array.from({ length: 60 }, () => ({ ...metric, metricStat: { metric: { dimensions: { InstanceId: '$(reboot)' } } } }));
    });

    let details: Record<string, unknown> = {};
    try {
      parseEvent(raw);
    } catch (error) {
      details = (error as EventSkipped).details;
    }

    expect(details.problems).toHaveLength(11);
    expect((details.problems as string[])[10]).toBe('... and 50 more');
  });
});

describe('parseQueueMessage', () => {
  it.each([
    ['truncated JSON', '{"source": "aws.events", "detail-type": "Sched'],
    ['plain text', 'reconcile please'],
    ['an empty body', ''],
  ])('skips %s', (_, body) => {
    expect(skipReason(() => parseQueueMessage(body))).toMatch(/message body is not JSON/);
  });

  it('skips a body above 256 KiB before parsing it', () => {
    const body = JSON.stringify({ dryRun: false, padding: 'x'.repeat(300 * 1024) });

    expect(skipReason(() => parseQueueMessage(body))).toMatch(/message of \d+ bytes is above/);
  });

  it('carries the field problems in the skip details for the log line', () => {
    const body = JSON.stringify(altered('asg-launch-lifecycle-action', (r) => delete r.detail.EC2InstanceId));

    let details: Record<string, unknown> = {};
    try {
      parseQueueMessage(body);
    } catch (error) {
      details = (error as EventSkipped).details;
    }

    expect(details.problems).toEqual([expect.stringContaining('detail.EC2InstanceId')]);
  });
});
