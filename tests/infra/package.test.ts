import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rules } from '../../infra/sandbox/rules';

/**
 * `serverless package` must work offline (dummy credentials, Serverless v3) and its CloudFormation
 * must pass cfn-lint. A missing cfn-lint fails the test: it is never skipped.
 */
describe('the functions stack, packaged offline', () => {
  const out = mkdtempSync(join(tmpdir(), 'warren-package-'));
  let template: { Resources: Record<string, { Type: string; Properties: any }> };

  beforeAll(() => {
    execFileSync('npx', ['serverless', 'package', '--package', out], {
      cwd: join(__dirname, '..', '..'),
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'not-a-real-secret',
        AWS_REGION: 'us-east-1',
        SLS_TELEMETRY_DISABLED: '1',
      },
      stdio: 'pipe',
      timeout: 180_000,
    });
    template = JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8'));
  }, 200_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('passes cfn-lint with no errors', () => {
    const lint = spawnSync('cfn-lint', [join(out, 'cloudformation-template-update-stack.json')], { encoding: 'utf8' });
    if (lint.error) throw new Error(`cfn-lint is not installed or not on PATH: ${lint.error.message}`);
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
  });

  it('feeds every membership event kind into one FIFO queue, grouped by cluster', () => {
    const rules = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Events::Rule');
    const queueRules = rules.filter((r) => r.Properties.Targets?.some((t: any) => t.SqsParameters));
    const detailTypes = queueRules.flatMap((r) => r.Properties.EventPattern?.['detail-type'] ?? []);
    expect(detailTypes.sort()).toEqual([
      'EC2 Instance Rebalance Recommendation',
      'EC2 Instance State-change Notification',
      'EC2 Instance-launch Lifecycle Action',
      'EC2 Instance-terminate Lifecycle Action',
      'EC2 Spot Instance Interruption Warning',
    ]);
    expect(queueRules.some((r) => r.Properties.ScheduleExpression)).toBe(true);
    const groups = new Set(queueRules.flatMap((r) => r.Properties.Targets.map((t: any) => t.SqsParameters.MessageGroupId)));
    expect(groups.size).toBe(1);
    const queue = Object.values(template.Resources).find((r) => r.Type === 'AWS::SQS::Queue' && r.Properties.RedrivePolicy);
    expect(queue?.Properties).toMatchObject({ FifoQueue: true, ContentBasedDeduplication: true });
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
  });
});
