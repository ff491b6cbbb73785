import { execFileSync, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { writeTemplates } from './build-templates';
import { withPrivateTmpdir } from './private-tmpdir';
import {
  defaultClusterName,
  deployPlan,
  describeOutputs,
  imagePlan,
  knownParameters,
  removePlan,
  splitParams,
  stackNames,
  type PlannedStep,
  type Step,
  type Target,
} from './plan';

/**
 * npm run deploy       -- --region eu-west-1 --param ClusterName=prod-mq --param ... [--s3-bucket b] [--dry-run]
 * npm run remove       -- --region eu-west-1 --param ClusterName=prod-mq [--dry-run]
 * npm run deploy:image -- --region eu-west-1 --param ClusterName=prod-mq
 * Needs the AWS CLI v2 with credentials; --dry-run prints the commands instead of running them.
 */

const ROOT = resolve(__dirname, '..', '..');
const collect = (value: string, previous: string[]) => [...previous, value];

interface Options {
  region: string;
  param: string[];
  s3Bucket?: string;
  dryRun?: boolean;
}

function run(step: Step, dryRun: boolean): void {
  console.log(`\n== ${step.title}\n$ ${step.command} ${step.args.join(' ')}`);
  if (dryRun) return;
  withPrivateTmpdir((env) => execFileSync(step.command, step.args, { cwd: ROOT, env, stdio: 'inherit' }));
}

function stackExists(stackName: string, target: Target, dryRun: boolean): boolean {
  if (dryRun) return false;
  const answer = spawnSync('aws', ['cloudformation', 'describe-stacks', '--stack-name', stackName, '--region', target.region], { encoding: 'utf8' });
  if (answer.status === 0) return true;
  if (/does not exist/.test(answer.stderr)) return false;
  throw new Error(`aws cloudformation describe-stacks failed: ${answer.stderr || answer.error?.message}`);
}

function outputsOf(stackName: string, target: Target, dryRun: boolean): Record<string, string> {
  if (dryRun) return new Proxy({}, { get: (_, key) => `<${String(key)} output of ${stackName}>` });
  const text = execFileSync('aws', describeOutputs(stackName, target), { cwd: ROOT, encoding: 'utf8' });
  const outputs = JSON.parse(text) as Array<{ OutputKey: string; OutputValue: string }>;
  return Object.fromEntries(outputs.map((output) => [output.OutputKey, output.OutputValue]));
}

function execute(plan: PlannedStep[], target: Target, dryRun: boolean): void {
  for (const step of plan) {
    if ('build' in step) run(step.build(outputsOf(step.needsOutputsOf, target, dryRun)), dryRun);
    else run(step, dryRun);
  }
}

const program = new Command('warren-deploy').description("deploys warren's stacks to AWS");
const withTarget = (command: Command) =>
  command
    .requiredOption('--region <region>', 'AWS region of the stacks')
    .option('--param <Key=Value>', 'a stack parameter (repeatable): see docs/configuration.md for each one', collect, [])
    .option('--s3-bucket <bucket>', 'bucket for templates above 51,200 bytes')
    .option('--dry-run', 'print the commands without running them');

withTarget(program.command('deploy').description('the documents stack, the cluster stack, then the functions stack')).action((options: Options) => {
  const target = { region: options.region, s3Bucket: options.s3Bucket };
  const templates = writeTemplates();
  const clusterName = splitParams(options.param, knownParameters()).cluster.ClusterName ?? defaultClusterName();
  const exists = stackExists(stackNames(clusterName).cluster, target, !!options.dryRun);
  const plan = deployPlan({
    params: options.param,
    target,
    documentsTemplate: templates.documents,
    clusterTemplate: templates.cluster,
    clusterStackExists: exists,
  });
  execute(plan, target, !!options.dryRun);
});

withTarget(program.command('remove').description('lifecycle hooks, then the functions, cluster and documents stacks')).action((options: Options) => {
  const target = { region: options.region };
  const names = stackNames(splitParams(options.param, knownParameters()).cluster.ClusterName ?? defaultClusterName());
  // --dry-run prints the removal of every stack
  const exists = (stackName: string) => !!options.dryRun || stackExists(stackName, target, false);
  const plan = removePlan({
    params: options.param,
    target,
    clusterStackExists: exists(names.cluster),
    functionsStackExists: exists(names.functions),
    documentsStackExists: exists(names.documents),
  });
  if (plan.length === 0) console.log(`none of ${names.functions}, ${names.cluster}, ${names.documents} exists: nothing to remove`);
  execute(plan, target, !!options.dryRun);
});

withTarget(program.command('image').description('the image stack: builds the AMI for ImageId')).action((options: Options) => {
  const target = { region: options.region, s3Bucket: options.s3Bucket };
  execute(imagePlan(options.param, target, writeTemplates().image), target, !!options.dryRun);
});

program.parseAsync().catch((error: Error) => {
  console.error(`deploy failed: ${error.message}`);
  process.exit(1);
});
