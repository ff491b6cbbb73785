import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rules } from '../../infra/sandbox/rules';
import { loadConfig } from '../../shared/config';
import { deployed } from '../support/deployed';
import { cfnLint, packageFunctions, ROOT, type Template } from './cloudformation';

/**
 * `serverless package` must work offline (dummy credentials, Serverless v3) and its CloudFormation
 * must pass cfn-lint. A missing cfn-lint fails the test: it is never skipped.
 */
describe('the functions stack, packaged offline', () => {
  let packaged: { out: string; file: string; template: Template };
  let template: Template;
  let tempEntriesLeft: string[];

  beforeAll(() => {
    const before = new Set(readdirSync(tmpdir()));
    packaged = packageFunctions();
    template = packaged.template;
    tempEntriesLeft = readdirSync(tmpdir()).filter((entry) => !before.has(entry));
  }, 200_000);
  afterAll(() => rmSync(packaged.out, { recursive: true, force: true }));

  it("leaves none of serverless-esbuild's zip staging directories (<function>-<pid>-<ms>-<hex>) in the OS temp dir", () => {
    expect(tempEntriesLeft.filter((entry) => /^[\w-]+-\d+-\d{13}-[0-9a-f]{8}$/.test(entry))).toEqual([]);
  });

  it('passes cfn-lint with no errors', () => {
    expect(cfnLint([packaged.file])).toBe('');
  });

  it('feeds the lifecycle actions and the schedule into one FIFO queue, grouped by cluster, and the EC2 events into the triage queue', () => {
    const rules = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Events::Rule');
    const targeting = (queue: string) => rules.filter((r) => r.Properties.Targets?.some((t: any) => t.Arn?.['Fn::GetAtt']?.[0] === queue));
    const detailTypes = (list: typeof rules) => list.flatMap((r) => r.Properties.EventPattern?.['detail-type'] ?? []).sort();
    const ec2 = ['EC2 Instance Rebalance Recommendation', 'EC2 Instance State-change Notification', 'EC2 Spot Instance Interruption Warning'];
    expect(detailTypes(targeting('HealQueue'))).toEqual(
      expect.arrayContaining(['EC2 Instance-launch Lifecycle Action', 'EC2 Instance-terminate Lifecycle Action']),
    );
    expect(detailTypes(targeting('HealQueue')).filter((type) => ec2.includes(type))).toEqual([]);
    expect(targeting('HealQueue').some((r) => r.Properties.ScheduleExpression)).toBe(true);
    const groups = new Set(targeting('HealQueue').flatMap((r) => r.Properties.Targets.map((t: any) => t.SqsParameters.MessageGroupId)));
    expect([...groups]).toEqual(['warren-demo']);
    expect(template.Resources.HealQueue?.Properties).toMatchObject({ FifoQueue: true, ContentBasedDeduplication: true });
    // EventBridge cannot filter EC2 events by tag: a standard queue takes them, without a message group
    expect(detailTypes(targeting('TriageQueue'))).toEqual(ec2);
    expect(targeting('TriageQueue').flatMap((r) => r.Properties.Targets.map((t: any) => t.SqsParameters))).toEqual([undefined, undefined]);
    expect(template.Resources.TriageQueue?.Properties.FifoQueue).toBeUndefined();
  });

  it('lets only the EC2 rules send to the triage queue, which the triage function takes in batches with a window', () => {
    const senders = (policy: string) =>
      template.Resources[policy]!.Properties.PolicyDocument.Statement[0].Condition.ArnEquals['aws:SourceArn'].map((arn: any) => arn['Fn::GetAtt'][0]);
    expect(senders('TriageQueuePolicy').sort()).toEqual(['InstanceStateRule', 'InterruptionRule']);
    expect(senders('HealQueuePolicy')).not.toContain('InstanceStateRule');
    expect(senders('HealQueuePolicy')).not.toContain('InterruptionRule');
    const mapping = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::Lambda::EventSourceMapping' && r.Properties.EventSourceArn['Fn::GetAtt'][0] === 'TriageQueue',
    )!;
    const triage = template.Resources[mapping.Properties.FunctionName['Fn::GetAtt'][0]]!;
    expect(triage.Properties.Handler).toBe('functions/triage/handler.handler');
    // above 10 records Lambda requires a batching window of at least 1 s on a standard queue
    expect(mapping.Properties.BatchSize).toBeGreaterThan(10);
    expect(mapping.Properties.MaximumBatchingWindowInSeconds).toBeGreaterThanOrEqual(1);
    expect(mapping.Properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    const queue = template.Resources.TriageQueue!.Properties;
    expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(triage.Properties.Timeout);
    const dlq = queue.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0];
    const watched = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .flatMap((r) => r.Properties.Dimensions ?? [])
      .map((d: any) => d.Value?.['Fn::GetAtt']?.[0]);
    expect(watched).toContain(dlq);
  });

  it('filters lifecycle actions to the managed Auto Scaling group', () => {
    const lifecycle = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern?.source?.includes('aws.autoscaling'),
    );
    expect(lifecycle?.Properties.EventPattern.detail.AutoScalingGroupName).toEqual(['warren-demo-asg']);
  });

  it('routes exactly as the sandbox does: its rules are these patterns', () => {
    const patterns = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::Events::Rule')
      .map((r) => r.Properties.EventPattern ?? { source: ['aws.events'], 'detail-type': ['Scheduled Event'] });
    const sandbox = rules('warren-demo-asg', 'warren-').map((rule) => rule.pattern);
    const canonical = (list: unknown[]) => list.map((p) => JSON.stringify(p)).sort();
    expect(canonical(patterns)).toEqual(canonical(sandbox));
    // and into the same queues
    const QUEUES: Record<string, string> = { HealQueue: 'heal-queue', TriageQueue: 'triage-queue' };
    for (const rule of rules('warren-demo-asg', 'warren-').filter((r) => Object.values(QUEUES).includes(r.target))) {
      const target = template.Resources[rule.name]?.Properties.Targets[0].Arn['Fn::GetAtt'][0];
      expect({ rule: rule.name, target: QUEUES[target] }).toEqual({ rule: rule.name, target: rule.target });
    }
  });
  it('runs alarm runbooks in the cluster group, one decision at a time, and reserves no concurrency', () => {
    // Lambda refuses a reservation that leaves the account below its unreserved minimum
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions.map((f) => f.Properties.ReservedConcurrentExecutions)).toEqual(functions.map(() => undefined));
    const alarmRules = Object.values(template.Resources).filter(
      (r) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern?.source?.includes('aws.cloudwatch'),
    );
    expect(alarmRules).toHaveLength(1);
    expect(alarmRules[0]!.Properties.EventPattern.detail).toEqual({ alarmName: [{ prefix: 'warren-' }], state: { value: ['ALARM'] } });
    const [target] = alarmRules[0]!.Properties.Targets;
    const lifecycleRule = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern?.source?.includes('aws.autoscaling'),
    )!;
    expect(target).toEqual({ ...lifecycleRule.Properties.Targets[0], Id: target.Id });
    expect(target.SqsParameters).toEqual({ MessageGroupId: 'warren-demo' });
  });

  it('keeps a message invisible longer than the heal function may run, and dead-letters it after retries', () => {
    const heal = Object.values(template.Resources).find((r) => r.Properties?.Handler === 'functions/heal/handler.handler')!;
    const queue = template.Resources.HealQueue!;
    expect(queue.Properties.VisibilityTimeout).toBeGreaterThan(heal.Properties.Timeout);
    const dlq = template.Resources[queue.Properties.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0]]!;
    expect(dlq.Properties.FifoQueue).toBe(true);
    const watched = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .flatMap((r) => r.Properties.Dimensions ?? [])
      .map((d: any) => d.Value?.['Fn::GetAtt']?.[0]);
    expect(watched).toContain(queue.Properties.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0]);
  });

  it('alarms on heal failures with the dimensions the metrics are published with', () => {
    const failures = Object.values(template.Resources).find((r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.MetricName === 'HealFailures');
    // Powertools publishes every metric with the service dimension besides the configured cluster one
    expect(failures?.Properties).toMatchObject({
      Namespace: 'warren',
      Dimensions: [
        { Name: 'cluster', Value: 'warren-demo' },
        { Name: 'service', Value: 'warren' },
      ],
    });
    expect(failures?.Properties.AlarmName.startsWith('warren-')).toBe(false);
  });

  it('alarms on quorum queues without a leader and on a lost Khepri majority at once, and on degraded replicas that outlive three reconcile ticks', () => {
    const alarmOn = (metric: string) =>
      Object.values(template.Resources).find((r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.MetricName === metric)?.Properties;
    // the gauges are published once a reconcile tick: an alarm period shorter than the schedule would see gaps
    const tickSeconds = Number(/^rate\((\d+) minutes?\)$/.exec(deployed.reconcileSchedule)?.[1]) * 60;
    expect(tickSeconds).toBeGreaterThan(0);
    expect(alarmOn('QuorumQueuesLeaderless')).toMatchObject({
      Namespace: 'warren',
      Statistic: 'Maximum',
      Period: tickSeconds,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(alarmOn('MetadataMajorityLost')).toMatchObject({
      Namespace: 'warren',
      Statistic: 'Maximum',
      Period: tickSeconds,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(alarmOn('QuorumQueuesDegraded')).toMatchObject({
      Namespace: 'warren',
      Statistic: 'Minimum',
      Period: tickSeconds,
      EvaluationPeriods: 3,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    for (const metric of ['QuorumQueuesLeaderless', 'QuorumQueuesDegraded', 'MetadataMajorityLost']) {
      expect(alarmOn(metric)!.Dimensions).toEqual([
        { Name: 'cluster', Value: 'warren-demo' },
        { Name: 'service', Value: 'warren' },
      ]);
    }
  });

  it('alarms on a launch abandoned, a leave blocked past its bound and members below a majority, and hands their names to the roll command', () => {
    const alarms = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
    const alarmOn = (metric: string) => alarms.find(([, r]) => r.Properties.MetricName === metric)!;
    const dimensions = [
      { Name: 'cluster', Value: 'warren-demo' },
      { Name: 'service', Value: 'warren' },
    ];
    // counted once, when it happens: one in any minute; held in ALARM over five so the refresh's check sees it
    for (const metric of ['LaunchAbandoned', 'LeaveWaitExceeded']) {
      expect(alarmOn(metric)[1].Properties).toMatchObject({
        Namespace: 'warren',
        Dimensions: dimensions,
        Statistic: 'Sum',
        Period: 60,
        DatapointsToAlarm: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    }
    const tickSeconds = Number(/^rate\((\d+) minutes?\)$/.exec(deployed.reconcileSchedule)?.[1]) * 60;
    expect(alarmOn('ClusterMembersRunning')[1].Properties).toMatchObject({
      Namespace: 'warren',
      Dimensions: dimensions,
      Statistic: 'Minimum',
      Period: tickSeconds,
      DatapointsToAlarm: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    // a majority of the cluster stack's default size
    const clusterSize = Number(deployed.cluster.Parameters.ClusterSize.Default);
    expect(Number(alarmOn('ClusterMembersRunning')[1].Properties.Threshold)).toBe(Math.floor(clusterSize / 2) + 1);
    const refresh = ['LaunchAbandoned', 'LeaveWaitExceeded', 'ClusterMembersRunning'].map((metric) => alarmOn(metric));
    for (const [, alarm] of refresh) {
      expect(alarm.Properties.AlarmName).toMatch(/^ops warren-demo warren /);
      expect(alarm.Properties.AlarmDescription).toMatch(/rolling replacement/);
    }
    const names = { 'Fn::Join': [',', refresh.map(([id]) => ({ Ref: id }))] };
    expect(template.Outputs!.RefreshAlarmNames!.Value).toEqual(names);
    const heal = Object.values(template.Resources).find((r) => r.Properties?.Handler === 'functions/heal/handler.handler')!;
    expect(heal.Properties.Environment.Variables.REFRESH_ALARM_NAMES).toEqual(names);
    // an Instance Refresh's AlarmSpecification takes at most 10, each at most 255 characters
    expect(refresh.length).toBeLessThanOrEqual(10);
    for (const [, alarm] of refresh) expect(alarm.Properties.AlarmName.replace('warren-demo', 'x'.repeat(63)).length).toBeLessThanOrEqual(255);
  });

  it('draws size vs desired capacity, members, partitions and their repairs, durations, failures and the pause switch on one dashboard', () => {
    const dashboard = Object.values(template.Resources).find((r) => r.Type === 'AWS::CloudWatch::Dashboard')!;
    const [body, values] = dashboard.Properties.DashboardBody['Fn::Sub'];
    const parsed = JSON.parse(body.replace(/\$\{[^}]+\}/g, 'x'));
    const metricNames = parsed.widgets.flatMap((w: any) => w.properties.metrics.map((m: string[]) => m[1]));
    for (const name of [
      'GroupDesiredCapacity',
      'GroupInServiceInstances',
      'ClusterMembersRunning',
      'Partitions',
      'PartitionRepairs',
      'launchDuration',
      'reconcileDuration',
      'HealFailures',
      'QuorumQueuesDegraded',
      'QuorumQueuesLeaderless',
      'Paused',
      'EventsPaused',
    ]) {
      expect(metricNames).toContain(name);
    }
    expect(values).toMatchObject({ Cluster: 'warren-demo', Group: 'warren-demo-asg' });
  });

  it('gives both functions an environment that loadConfig accepts as it is packaged', () => {
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions).toHaveLength(Object.keys(deployed.functions).length);
    for (const fn of functions) {
      const variables = fn.Properties.Environment.Variables as Record<string, unknown>;
      // what the Refs become once deployed: queue URLs, alarm names
      const deployedAs = (name: string) => (name === 'REFRESH_ALARM_NAMES' ? 'ops a,ops b,ops c' : 'https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo');
      const env = Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, typeof value === 'string' ? value : deployedAs(name)]));
      const config = loadConfig(env);
      expect(config).toMatchObject({ clusterName: 'warren-demo', autoScalingGroupName: 'warren-demo-asg', ssmDocumentPrefix: 'warren-' });
      expect(variables.HEAL_QUEUE_URL).toEqual({ Ref: 'HealQueue' });
      // loadConfig ignores unknown names, so a misspelt one would silently fall back to its default
      const configSource = readFileSync(join(ROOT, 'shared', 'config.ts'), 'utf8');
      for (const name of Object.keys(variables).filter((n) => !n.startsWith('POWERTOOLS_'))) expect(configSource).toContain(`${name}:`);
    }
  });
});
