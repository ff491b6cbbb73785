import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readCloudFormation } from '../../infra/deploy/cfn-yaml';
import { deployPlan, FUNCTION_PARAMS_FROM_OUTPUTS, imagePlan, removePlan, type OutputsStep, type Step } from '../../infra/deploy/plan';
import { ROOT } from './cloudformation';

/** The command lines `npm run deploy` / `remove` / `deploy:image` run, checked without an AWS account. */

const target = { region: 'eu-west-1' };
const clusterParams = [
  'ClusterName=prod-mq',
  'VpcId=vpc-0123',
  'PrimarySubnetId=subnet-a',
  'SecondarySubnetId=subnet-b',
  'ImageId=ami-0123',
  'ClientCidr=10.0.0.0/16',
  'AdminCidr=10.0.9.0/24',
];
const outputs = {
  ClusterName: 'prod-mq',
  AutoScalingGroupName: 'prod-mq',
  AmqpTargetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/a/0123456789abcdef',
  ManagementTargetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/m/0123456789abcdef',
  SsmDocumentPrefix: 'prod-mq-',
  AdminSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:warren/prod-mq/admin-AbCdEf',
};
const overrides = (step: Step) => step.args.slice(step.args.indexOf('--parameter-overrides') + 1);
const resolve = (step: Step | OutputsStep) => ('build' in step ? step.build(outputs) : step);
const templates = { documentsTemplate: 'dist/infra/documents.json', clusterTemplate: 'dist/infra/cluster.json' };
const stackOf = (step: Step) => step.args[step.args.indexOf('--stack-name') + 1];

describe('deploying the stacks', () => {
  it('creates the documents, then a new cluster without nodes, deploys warren from its outputs, then sizes the cluster', () => {
    const plan = deployPlan({
      params: [...clusterParams, 'minHealthyMembers=2'],
      target,
      ...templates,
      clusterStackExists: false,
    }).map(resolve);
    expect(plan.map((step) => step.command)).toEqual(['aws', 'aws', 'npx', 'aws']);
    // the documents first: they exist before warren can send one and before any node joins
    expect(plan[0]!.args.slice(0, 2)).toEqual(['cloudformation', 'deploy']);
    expect(plan[0]!.args).toEqual(
      expect.arrayContaining(['--stack-name', 'prod-mq-documents', '--template-file', 'dist/infra/documents.json', '--region', 'eu-west-1']),
    );
    expect(overrides(plan[0]!)).toEqual(['ClusterName=prod-mq']);
    expect(plan[1]!.args.slice(0, 2)).toEqual(['cloudformation', 'deploy']);
    expect(plan[1]!.args).toEqual(
      expect.arrayContaining(['--stack-name', 'prod-mq-cluster', '--template-file', 'dist/infra/cluster.json', '--region', 'eu-west-1']),
    );
    expect(overrides(plan[1]!)).toEqual([...clusterParams, 'ClusterSize=0']);
    expect(plan[2]!.args).toEqual([
      'serverless',
      'deploy',
      '--stage',
      'prod-mq',
      '--region',
      'eu-west-1',
      '--param=minHealthyMembers=2',
      '--param=clusterName=prod-mq',
      '--param=asgName=prod-mq',
      `--param=amqpTargetGroupArn=${outputs.AmqpTargetGroupArn}`,
      `--param=managementTargetGroupArn=${outputs.ManagementTargetGroupArn}`,
      '--param=ssmDocumentPrefix=prod-mq-',
      `--param=adminSecretArn=${outputs.AdminSecretArn}`,
    ]);
    // the default size is passed explicitly: deploy would otherwise keep the previous 0
    expect(plan[3]!.args).toEqual(expect.arrayContaining(['--stack-name', 'prod-mq-cluster']));
    expect(overrides(plan[3]!)).toEqual(['ClusterSize=3', ...clusterParams]);
  });

  it('updates the documents, then an existing cluster stack, then the functions, with the size given', () => {
    const plan = deployPlan({
      params: [...clusterParams, 'ClusterSize=5'],
      target: { ...target, s3Bucket: 'b' },
      ...templates,
      clusterStackExists: true,
    }).map(resolve);
    expect(plan.map((step) => step.args[0])).toEqual(['cloudformation', 'cloudformation', 'serverless']);
    expect(plan.slice(0, 2).map(stackOf)).toEqual(['prod-mq-documents', 'prod-mq-cluster']);
    expect(overrides(plan[0]!)).toEqual(['ClusterName=prod-mq']);
    expect(overrides(plan[1]!)).toContain('ClusterSize=5');
    for (const step of plan.slice(0, 2)) expect(step.args).toEqual(expect.arrayContaining(['--s3-bucket', 'b']));
  });

  it("names the documents with the cluster's name, its default too", () => {
    const plan = deployPlan({ params: clusterParams.filter((p) => !p.startsWith('ClusterName=')), target, ...templates, clusterStackExists: true });
    const [documents, cluster] = plan as Step[];
    expect(stackOf(documents!)).toBe('warren-documents');
    expect(overrides(documents!)).toEqual(['ClusterName=warren']);
    expect(stackOf(cluster!)).toBe('warren-cluster');
  });

  it('feeds the functions stack every param the cluster stack outputs, by outputs it really declares', () => {
    const declared = Object.keys(readCloudFormation(join(ROOT, 'infra', 'cluster.yml')).Outputs);
    const serverlessParams = Object.keys(readCloudFormation(join(ROOT, 'serverless.yml')).params.default);
    for (const [param, output] of Object.entries(FUNCTION_PARAMS_FROM_OUTPUTS)) {
      expect(declared).toContain(output);
      expect(serverlessParams).toContain(param);
    }
    const plan = deployPlan({ params: clusterParams, target, ...templates, clusterStackExists: true });
    expect(() => (plan[2] as OutputsStep).build({ ...outputs, AmqpTargetGroupArn: '' })).toThrow('no output AmqpTargetGroupArn');
  });

  it('refuses a parameter no stack declares, and one the cluster stack already provides', () => {
    const plan = (extra: string) => () => deployPlan({ params: [...clusterParams, extra], target, ...templates, clusterStackExists: true });
    expect(plan('ClusterSise=3')).toThrow(/ClusterSise: unknown/);
    expect(plan('asgName=other')).toThrow(/set by the cluster stack's output AutoScalingGroupName/);
    expect(plan('novalue')).toThrow(/expected Key=Value/);
  });

  const removal = (exists: { cluster: boolean; functions: boolean; documents: boolean }) =>
    removePlan({
      params: ['ClusterName=prod-mq'],
      target,
      clusterStackExists: exists.cluster,
      functionsStackExists: exists.functions,
      documentsStackExists: exists.documents,
    }).map(resolve);
  const commandOf = (step: Step) => [step.command, ...step.args.slice(0, 2), ...(step.args.includes('--stack-name') ? [stackOf(step)] : [])].join(' ');
  const deleted = (stack: string) => [`aws cloudformation delete-stack ${stack}`, `aws cloudformation wait ${stack}`];

  it("deletes the group's lifecycle hooks first, so deleting the cluster waits on no hook, then warren, then the cluster, then the documents", () => {
    const plan = removal({ cluster: true, functions: true, documents: true });

    expect(plan.map(commandOf)).toEqual([
      'aws autoscaling delete-lifecycle-hook',
      'aws autoscaling delete-lifecycle-hook',
      'npx serverless remove',
      ...deleted('prod-mq-cluster'),
      ...deleted('prod-mq-documents'),
    ]);
    expect(plan.at(-1)!.args).toEqual(['cloudformation', 'wait', 'stack-delete-complete', '--stack-name', 'prod-mq-documents', '--region', 'eu-west-1']);
    // every hook the template gives the group, on the group the cluster stack outputs
    const [[, group]] = Object.entries(readCloudFormation(join(ROOT, 'infra', 'cluster.yml')).Resources).filter(
      ([, r]: [string, any]) => r.Type === 'AWS::AutoScaling::AutoScalingGroup',
    ) as [[string, any]];
    const hooks = group.Properties.LifecycleHookSpecificationList.map((h: any) => [h.LifecycleTransition, h.LifecycleHookName]);
    expect(hooks.map(([transition]: string[]) => transition).sort()).toEqual(['autoscaling:EC2_INSTANCE_LAUNCHING', 'autoscaling:EC2_INSTANCE_TERMINATING']);
    expect(plan.slice(0, 2).map((step) => step.args)).toEqual(
      hooks.map(([, name]: string[]) => [
        'autoscaling',
        'delete-lifecycle-hook',
        '--auto-scaling-group-name',
        'prod-mq',
        '--lifecycle-hook-name',
        name,
        '--region',
        'eu-west-1',
      ]),
    );
    expect(plan[2]!.args).toEqual(expect.arrayContaining(['--stage', 'prod-mq']));
    expect(plan[3]!.args).toEqual(expect.arrayContaining(['--stack-name', 'prod-mq-cluster']));
  });

  it('removes what is left after a removal that stopped halfway', () => {
    expect(removal({ cluster: true, functions: false, documents: true }).map(commandOf)).toEqual([
      'aws autoscaling delete-lifecycle-hook',
      'aws autoscaling delete-lifecycle-hook',
      ...deleted('prod-mq-cluster'),
      ...deleted('prod-mq-documents'),
    ]);
    expect(removal({ cluster: false, functions: true, documents: true }).map(commandOf)).toEqual(['npx serverless remove', ...deleted('prod-mq-documents')]);
    // stopped after the cluster was deleted: only the documents are left
    expect(removal({ cluster: false, functions: false, documents: true }).map(commandOf)).toEqual(deleted('prod-mq-documents'));
    expect(removal({ cluster: true, functions: true, documents: false }).map(commandOf).slice(-2)).toEqual(deleted('prod-mq-cluster'));
    expect(removal({ cluster: false, functions: false, documents: false })).toEqual([]);
  });

  it('prints the whole removal with --dry-run, offline, hooks first', () => {
    const commands = dryRun('remove', ['--param', 'ClusterName=prod-mq']);
    expect(commands.map((line) => line.split(' ').slice(1, 4).join(' '))).toEqual([
      'aws autoscaling delete-lifecycle-hook',
      'aws autoscaling delete-lifecycle-hook',
      'npx serverless remove',
      'aws cloudformation delete-stack',
      'aws cloudformation wait',
      'aws cloudformation delete-stack',
      'aws cloudformation wait',
    ]);
    expect(commands.slice(3).map((line) => line.match(/--stack-name (\S+)/)?.[1])).toEqual([
      'prod-mq-cluster',
      'prod-mq-cluster',
      'prod-mq-documents',
      'prod-mq-documents',
    ]);
    expect(commands[0]).toContain('--auto-scaling-group-name <AutoScalingGroupName output of prod-mq-cluster>');
  });

  it('builds the image stack with its own parameters only', () => {
    const plan = imagePlan(['ClusterName=prod-mq', 'BuildInstanceType=t4g.large'], target, 'i.json');
    expect(overrides(plan[0]!)).toEqual(['ClusterName=prod-mq', 'BuildInstanceType=t4g.large']);
    expect(plan[0]!.args).toEqual(expect.arrayContaining(['--stack-name', 'prod-mq-image']));
    expect(() => imagePlan(['ImageId=ami-1'], target, 'i.json')).toThrow(/ImageId: unknown/);
  });

  it('prints the whole deploy with --dry-run, offline', () => {
    const commands = dryRun(
      'deploy',
      clusterParams.flatMap((p) => ['--param', p]),
    );
    expect(commands.map((line) => line.split(' ').slice(1, 4).join(' '))).toEqual([
      'aws cloudformation deploy',
      'aws cloudformation deploy',
      'npx serverless deploy',
      'aws cloudformation deploy',
    ]);
    expect(commands[0]).toMatch(/--template-file \S+\/documents\.json --stack-name prod-mq-documents /);
    expect(commands[2]).toContain('--param=asgName=<AutoScalingGroupName output of prod-mq-cluster>');
  });
});

/** `npm run <command> -- --dry-run`, offline: the commands it would run, each line starting with "$ ". */
function dryRun(command: 'deploy' | 'remove', params: string[]): string[] {
  const run = spawnSync('npx', ['tsx', 'infra/deploy/deploy.ts', command, '--dry-run', '--region', 'eu-west-1', ...params], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout.split('\n').filter((line) => line.startsWith('$ '));
}
