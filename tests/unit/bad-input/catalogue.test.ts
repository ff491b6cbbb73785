import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, type Instance } from '@aws-sdk/client-ec2';
import { loadFixture, type FixtureName } from '../../events/load';
import { aws, awsRequests, ENV, GROUP, invoke, OUR_ALARM_PREFIX, resetAws, sqsBatch, withoutPowertoolsDevMode } from '../../support/handler-harness';

/*
 * The bad-input catalogue (issue 5, docs/design.md invariants 7 and 8): every row goes through the
 * deployed handler, with the real adapters and SDK clients, and must end the same way: one WARN
 * line "event skipped" with the reason, no AWS request beyond the reads needed to learn that the
 * event is not ours (so no change in AWS, and no node command, which would be an SSM SendCommand),
 * and the event acknowledged: an empty batchItemFailures for the heal function's SQS batch, a
 * resolved invocation for the alarm function. Nothing here goes to the dead-letter queue: retrying
 * bytes that cannot be acted on would only block the cluster's FIFO group.
 *
 * Oversized input: SQS refuses a message above 256 KiB and EventBridge an event above 256 KiB, so a
 * bigger body or payload did not come through them; it is measured before JSON.parse touches it,
 * skipped with its size, and acknowledged. A payload nested deeper than 32 levels (no AWS event is)
 * is refused before anything recursive walks it.
 *
 * Converter-level checks of the same rules, with their exact reasons, are in
 * tests/unit/events/rejections.test.ts; configuration errors are in configuration.test.ts here.
 */

const THEIRS = 'someone-elses-asg';
const OUR_INSTANCE = 'i-0123456789abcdef0';

function fixture(name: FixtureName, change: (raw: Record<string, any>) => void = () => undefined): Record<string, any> {
  const raw = loadFixture(name);
  change(raw);
  return raw;
}
/** A lifecycle action of the managed group, as EventBridge puts it on the queue, changed by `change`. */
const lifecycle = (name: 'asg-launch-lifecycle-action' | 'asg-terminate-lifecycle-action', change: (raw: Record<string, any>) => void = () => undefined) =>
  fixture(name, (raw) => {
    raw.detail.AutoScalingGroupName = GROUP;
    raw.detail.EC2InstanceId = OUR_INSTANCE;
    change(raw);
  });
const onQueue = (raw: unknown) => sqsBatch(JSON.stringify(raw));
const alarm = (change: (raw: Record<string, any>) => void) => fixture('cloudwatch-alarm-single-metric', change);

/** What EC2 answers to DescribeInstances: the instance with its tags. */
function ec2Knows(instance: Instance | undefined): void {
  aws.ec2.on(DescribeInstancesCommand).resolves({ Reservations: instance ? [{ Instances: [instance] }] : [] });
}
const ec2Instance = (tags: Record<string, string>, extra: Partial<Instance> = {}): Instance => ({
  InstanceId: OUR_INSTANCE,
  State: { Name: 'terminated' },
  Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
  ...extra,
});

interface BadInput {
  fn: 'heal' | 'alarm';
  payload: () => unknown;
  /** the reason the log line must give */
  reason: RegExp;
  /** AWS answers the function may read before it can tell the event is not its own */
  given?: () => void;
  /** the read requests it may make for that, in order; any other request is a failure */
  reads?: string[];
}

const catalogue: Record<string, BadInput> = {
  // --- the SQS message itself
  'malformed JSON body': { fn: 'heal', payload: () => sqsBatch('{"source": "aws.autoscaling", "detail-type": '), reason: /message body is not JSON/ },
  'empty body': { fn: 'heal', payload: () => sqsBatch(''), reason: /message body is not JSON/ },
  'body that is a JSON array': {
    fn: 'heal',
    payload: () => sqsBatch(JSON.stringify([fixture('scheduled-event')])),
    reason: /payload is an array, not an object/,
  },
  'body that is a JSON number': { fn: 'heal', payload: () => sqsBatch('42'), reason: /payload is number, not an object/ },
  'body that is JSON null': { fn: 'heal', payload: () => sqsBatch('null'), reason: /payload is null, not an object/ },
  'body of 300 KB (SQS refuses above 256 KiB, so it cannot be an EventBridge delivery)': {
    fn: 'heal',
    payload: () => sqsBatch(JSON.stringify({ ...fixture('scheduled-event'), padding: 'x'.repeat(300 * 1024) })),
    reason: /message of \d+ bytes is above EventBridge's 262144/,
  },
  'batch record of another event source': {
    fn: 'heal',
    payload: () => ({ Records: [{ eventSource: 'aws:kinesis', eventID: 'shardId-000000000000:1', kinesis: { data: 'e30=' } }] }),
    reason: /batch record is not an SQS message with a text body/,
  },
  'SQS record whose body is an object, not text': {
    fn: 'heal',
    payload: () => ({ Records: [{ ...sqsBatch('').Records[0], body: fixture('scheduled-event') }] }),
    reason: /batch record is not an SQS message with a text body/,
  },
  'SQS batch without records': { fn: 'heal', payload: () => ({ Records: [] }), reason: /SQS batch without records/ },

  // --- the EventBridge envelope
  'event without a detail-type': {
    fn: 'heal',
    payload: () => onQueue(lifecycle('asg-launch-lifecycle-action', (raw) => delete raw['detail-type'])),
    reason: /source and detail-type must both be strings/,
  },
  'unknown detail-type of a known source': {
    fn: 'heal',
    payload: () => onQueue(lifecycle('asg-launch-lifecycle-action', (raw) => (raw['detail-type'] = 'EC2 Instance Launch Successful'))),
    reason: /no converter for "aws.autoscaling" \/ "EC2 Instance Launch Successful"/,
  },
  'unknown source with a known detail-type': {
    fn: 'heal',
    payload: () => onQueue(lifecycle('asg-launch-lifecycle-action', (raw) => (raw.source = 'com.example.autoscaling'))),
    reason: /no converter for "com.example.autoscaling"/,
  },
  'Auto Scaling test notification sent straight to the queue': {
    fn: 'heal',
    payload: () => onQueue(fixture('asg-test-notification')),
    reason: /Auto Scaling test notification/,
  },
  'Auto Scaling test notification through EventBridge': {
    fn: 'heal',
    payload: () => onQueue(fixture('asg-test-notification-eventbridge')),
    reason: /Auto Scaling test notification/,
  },
  'alarm state change put on the heal queue': {
    fn: 'heal',
    payload: () => onQueue(alarm((raw) => (raw.detail.alarmName = `${OUR_ALARM_PREFIX}partitions`))),
    reason: /this function does not handle alarm events/,
  },

  // --- events that are not ours
  'launch lifecycle action of another Auto Scaling group': {
    fn: 'heal',
    payload: () => onQueue(lifecycle('asg-launch-lifecycle-action', (raw) => (raw.detail.AutoScalingGroupName = THEIRS))),
    reason: /lifecycle action of another Auto Scaling group/,
  },
  'terminate lifecycle action of another Auto Scaling group': {
    fn: 'heal',
    payload: () => onQueue(lifecycle('asg-terminate-lifecycle-action', (raw) => (raw.detail.AutoScalingGroupName = THEIRS))),
    reason: /lifecycle action of another Auto Scaling group/,
  },
  'terminated instance of another group (EC2 events carry no group: one DescribeInstances tells)': {
    fn: 'heal',
    payload: () => onQueue(fixture('ec2-instance-state-change-terminated', (raw) => (raw.detail['instance-id'] = OUR_INSTANCE))),
    given: () => ec2Knows(ec2Instance({ 'aws:autoscaling:groupName': THEIRS })),
    reads: ['DescribeInstancesCommand'],
    reason: /instance of another Auto Scaling group/,
  },
  'terminated instance of no group at all': {
    fn: 'heal',
    payload: () => onQueue(fixture('ec2-instance-state-change-terminated', (raw) => (raw.detail['instance-id'] = OUR_INSTANCE))),
    given: () => ec2Knows(ec2Instance({})),
    reads: ['DescribeInstancesCommand'],
    reason: /instance of another Auto Scaling group/,
  },
  'terminated instance EC2 does not know (another account or long gone)': {
    fn: 'heal',
    payload: () => onQueue(fixture('ec2-instance-state-change-terminated', (raw) => (raw.detail['instance-id'] = OUR_INSTANCE))),
    given: () => ec2Knows(undefined),
    reads: ['DescribeInstancesCommand'],
    reason: /instance unknown to EC2/,
  },
  'spot interruption warning for an instance of another group': {
    fn: 'heal',
    payload: () => onQueue(fixture('ec2-spot-instance-interruption-warning', (raw) => (raw.detail['instance-id'] = OUR_INSTANCE))),
    given: () => ec2Knows(ec2Instance({ 'aws:autoscaling:groupName': THEIRS }, { State: { Name: 'running' } })),
    reads: ['DescribeInstancesCommand'],
    reason: /instance of another Auto Scaling group/,
  },

  // --- fields that do not match their patterns or types
  'instance id longer than an EC2 id (18 hex digits)': {
    fn: 'heal',
    payload: () => onQueue(lifecycle('asg-launch-lifecycle-action', (raw) => (raw.detail.EC2InstanceId = 'i-1234567890abcdef01'))),
    reason: /detail\.EC2InstanceId: not an EC2 instance id/,
  },
  'instance id of another resource type (an AMI id)': {
    fn: 'heal',
    payload: () => onQueue(fixture('ec2-instance-state-change-terminated', (raw) => (raw.detail['instance-id'] = 'ami-0123456789abcdef0'))),
    reason: /detail\.instance-id: not an EC2 instance id/,
  },
  'lifecycle hook name that is a number': {
    fn: 'heal',
    payload: () => onQueue(lifecycle('asg-terminate-lifecycle-action', (raw) => (raw.detail.LifecycleHookName = 42))),
    reason: /detail\.LifecycleHookName/,
  },
  'lifecycle action token that is a list': {
    fn: 'heal',
    payload: () => onQueue(lifecycle('asg-launch-lifecycle-action', (raw) => (raw.detail.LifecycleActionToken = ['87654321-4321-4321-4321-210987654321']))),
    reason: /detail\.LifecycleActionToken/,
  },
  'lifecycle transition misspelt': {
    fn: 'heal',
    payload: () => onQueue(lifecycle('asg-launch-lifecycle-action', (raw) => (raw.detail.LifecycleTransition = 'autoscaling:EC2_INSTANCE_LAUNCHED'))),
    reason: /lifecycle transition "autoscaling:EC2_INSTANCE_LAUNCHED" is not autoscaling:EC2_INSTANCE_LAUNCHING/,
  },
  'alarm whose state is a bare string instead of an object': {
    fn: 'alarm',
    payload: () => alarm((raw) => (raw.detail.state = 'ALARM')),
    reason: /malformed alarm state change: detail\.state/,
  },
  'alarm without any state': { fn: 'alarm', payload: () => alarm((raw) => delete raw.detail.state), reason: /malformed alarm state change: detail\.state/ },

  // --- injection attempts (invariant 7): refused before any workflow sees them
  'instance id "i-123;rm -rf /" in a launch lifecycle action': {
    fn: 'heal',
    payload: () => onQueue(lifecycle('asg-launch-lifecycle-action', (raw) => (raw.detail.EC2InstanceId = 'i-123;rm -rf /'))),
    reason: /not an EC2 instance id/,
  },
  'instance id "$(reboot)" in a terminate lifecycle action': {
    fn: 'heal',
    payload: () => onQueue(lifecycle('asg-terminate-lifecycle-action', (raw) => (raw.detail.EC2InstanceId = '$(reboot)'))),
    reason: /not an EC2 instance id/,
  },
  'instance id with backticks in a state-change notification': {
    fn: 'heal',
    payload: () => onQueue(fixture('ec2-instance-state-change-terminated', (raw) => (raw.detail['instance-id'] = 'i-1234567890abcdef0`reboot`'))),
    reason: /not an EC2 instance id/,
  },
  'instance id with a newline and a command in a spot interruption warning': {
    fn: 'heal',
    payload: () => onQueue(fixture('ec2-spot-instance-interruption-warning', (raw) => (raw.detail['instance-id'] = 'i-1234567890abcdef0\nreboot'))),
    reason: /not an EC2 instance id/,
  },
  'InstanceId dimension "$(reboot)" in an alarm of ours': {
    fn: 'alarm',
    payload: () =>
      alarm((raw) => {
        raw.detail.alarmName = `${OUR_ALARM_PREFIX}node-cpu`;
        raw.detail.configuration.metrics[0].metricStat.metric.dimensions.InstanceId = '$(reboot)';
      }),
    reason: /not an EC2 instance id/,
  },
  'group name with a shell command in a lifecycle action': {
    fn: 'heal',
    payload: () => onQueue(lifecycle('asg-launch-lifecycle-action', (raw) => (raw.detail.AutoScalingGroupName = `${GROUP};reboot`))),
    reason: /not an Auto Scaling group name/,
  },
  'node-name tag with shell metacharacters on an instance without a private DNS name': {
    fn: 'heal',
    payload: () => onQueue(fixture('ec2-instance-state-change-terminated', (raw) => (raw.detail['instance-id'] = OUR_INSTANCE))),
    given: () => ec2Knows(ec2Instance({ 'aws:autoscaling:groupName': GROUP, 'warren:node-name': 'rabbit@ip-10-0-1-5;reboot' })),
    reads: ['DescribeInstancesCommand'],
    reason: /no node name: neither a tag nor a private DNS name/,
  },
  'node-name tag that is not a RabbitMQ node name ("$(reboot)")': {
    fn: 'heal',
    payload: () => onQueue(fixture('ec2-instance-state-change-terminated', (raw) => (raw.detail['instance-id'] = OUR_INSTANCE))),
    given: () => ec2Knows(ec2Instance({ 'aws:autoscaling:groupName': GROUP, 'warren:node-name': '$(reboot)' }, { PrivateDnsName: '' })),
    reads: ['DescribeInstancesCommand'],
    reason: /no node name: neither a tag nor a private DNS name/,
  },

  // --- shapes meant to break the parser rather than the workflow
  'keys "__proto__" and "constructor" in a direct invocation': {
    fn: 'heal',
    payload: () => JSON.parse('{"__proto__": {"dryRun": true, "polluted": true}, "constructor": {"prototype": {"polluted": true}}}'),
    reason: /Unrecognized keys?: "__proto__", "constructor"/,
  },
  '"__proto__" supplying the group name a lifecycle detail lacks': {
    fn: 'heal',
    payload: () =>
      sqsBatch(
        JSON.stringify(lifecycle('asg-launch-lifecycle-action', (raw) => delete raw.detail.AutoScalingGroupName)).replace(
          '"detail":{',
          `"detail":{"__proto__":{"AutoScalingGroupName":"${GROUP}"},`,
        ),
      ),
    reason: /detail\.AutoScalingGroupName/,
  },
  'detail nested 100 000 levels deep': {
    fn: 'heal',
    payload: () =>
      sqsBatch(
        JSON.stringify(fixture('ec2-instance-state-change-terminated')).replace('"detail":{', `"detail":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)},`),
      ),
    reason: /nested deeper than 32 levels/,
  },
  'a payload whose field throws when read (a converter crash is a skip, not a retry)': {
    fn: 'heal',
    payload: () => ({
      get source(): string {
        throw new TypeError('getter exploded');
      },
    }),
    reason: /event could not be converted: getter exploded/,
  },

  // --- alarms warren must not act on
  'alarm of a name no runbook rule matches': {
    fn: 'alarm',
    payload: () => alarm((raw) => (raw.detail.alarmName = 'ServerCpuTooHigh')),
    // the alarm workflow reads the group before matching the runbook when the alarm names an instance
    given: () =>
      aws.autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({
        AutoScalingGroups: [
          {
            AutoScalingGroupName: GROUP,
            MinSize: 3,
            MaxSize: 5,
            DesiredCapacity: 3,
            Instances: [],
            DefaultCooldown: 300,
            AvailabilityZones: [],
            HealthCheckType: 'EC2',
            CreatedTime: new Date(),
          },
        ],
      }),
    reads: ['DescribeAutoScalingGroupsCommand'],
    reason: /no runbook rule for alarm ServerCpuTooHigh/,
  },
  'alarm of ours back in OK': {
    fn: 'alarm',
    payload: () => alarm((raw) => Object.assign(raw.detail, { alarmName: `${OUR_ALARM_PREFIX}node-cpu`, state: { ...raw.detail.state, value: 'OK' } })),
    reason: /alarm state is OK/,
  },
  'alarm of ours in INSUFFICIENT_DATA': {
    fn: 'alarm',
    payload: () =>
      alarm((raw) => Object.assign(raw.detail, { alarmName: `${OUR_ALARM_PREFIX}node-cpu`, state: { ...raw.detail.state, value: 'INSUFFICIENT_DATA' } })),
    reason: /alarm state is INSUFFICIENT_DATA/,
  },
  'replace-instance alarm naming an instance outside the group': {
    fn: 'alarm',
    payload: () => alarm((raw) => (raw.detail.alarmName = `${OUR_ALARM_PREFIX}node-cpu`)),
    given: () =>
      aws.autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({
        AutoScalingGroups: [
          {
            AutoScalingGroupName: GROUP,
            MinSize: 3,
            MaxSize: 5,
            DesiredCapacity: 3,
            Instances: [],
            DefaultCooldown: 300,
            AvailabilityZones: [],
            HealthCheckType: 'EC2',
            CreatedTime: new Date(),
          },
        ],
      }),
    reads: ['DescribeAutoScalingGroupsCommand'],
    reason: /instance i-12345678901234567 is not in group orders-rabbitmq/,
  },

  // --- reconcile requests warren did not write
  'scheduled event whose detail asks for something (AWS always sends {})': {
    fn: 'heal',
    payload: () => onQueue(fixture('scheduled-event', (raw) => (raw.detail = { dryRun: true, instanceId: OUR_INSTANCE }))),
    reason: /malformed scheduled event: detail: Unrecognized keys: "dryRun", "instanceId"/,
  },
  'reconcile request from a source other than warren': {
    fn: 'heal',
    payload: () =>
      onQueue({
        id: 'a1b2c3d4-0000-4000-8000-000000000000',
        time: '2024-05-01T12:00:00Z',
        source: 'aws.events',
        'detail-type': 'Reconcile Requested',
        detail: { reason: 'forged' },
      }),
    reason: /no converter for "aws.events" \/ "Reconcile Requested"/,
  },
  'reconcile request with a field warren never writes': {
    fn: 'heal',
    payload: () =>
      onQueue({
        id: 'a1b2c3d4-0000-4000-8000-000000000000',
        time: '2024-05-01T12:00:00Z',
        source: 'warren',
        'detail-type': 'Reconcile Requested',
        detail: { reason: 'alarm', forget: 'rabbit@ip-10-0-1-5' },
      }),
    reason: /malformed reconcile request: detail: Unrecognized key: "forget"/,
  },
};

/** Acknowledged: nothing for SQS to redeliver, no error for Lambda to retry. */
function acknowledged(result: unknown): void {
  if (typeof result === 'object' && result !== null && 'batchItemFailures' in result) {
    expect(result).toEqual({ batchItemFailures: [] });
  } else {
    expect(result).toMatchObject({ result: 'done', reason: expect.stringMatching(/^skipped: /) });
  }
}

describe('bad input is logged with its reason, changes nothing and is acknowledged', () => {
  withoutPowertoolsDevMode();
  beforeEach(() => resetAws());

  it('holds at least the 25 cases issue 5 asks for', () => {
    expect(Object.keys(catalogue).length).toBeGreaterThanOrEqual(25);
  });

  it.each(Object.entries(catalogue))('%s', async (_, bad) => {
    bad.given?.();

    const { result, error, lines } = await invoke(bad.fn, bad.payload(), ENV);

    expect(error).toBeUndefined();
    acknowledged(result);
    const skipped = lines.filter((line) => line.message === 'event skipped');
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({ level: 'WARN', service: 'warren', cluster: 'orders', reason: expect.stringMatching(bad.reason) });
    expect(skipped[0]!.correlation_id).toEqual(expect.any(String));
    expect(lines.filter((line) => line.level === 'ERROR')).toEqual([]);
    expect(awsRequests()).toEqual(bad.reads ?? []);
    expect(lines.find((line) => line._aws)).toMatchObject({ EventsSkipped: 1 });
  });

  it('leaves Object.prototype untouched after the "__proto__" rows', () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).dryRun).toBeUndefined();
    expect(({} as Record<string, unknown>).AutoScalingGroupName).toBeUndefined();
  });
});
