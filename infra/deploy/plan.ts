import { join, resolve } from 'node:path';
import { readCloudFormation } from './cfn-yaml';

/**
 * The command lines of `npm run deploy`, `npm run remove` and `npm run deploy:image`, built
 * without running anything, so they can be checked offline. deploy.ts runs them.
 */

const ROOT = resolve(__dirname, '..', '..');

export interface Step {
  /** what the step does, printed before it runs */
  title: string;
  command: 'aws' | 'npx';
  args: string[];
}

/** A step whose command line needs the cluster stack's outputs. */
export interface OutputsStep {
  title: string;
  needsOutputsOf: string;
  build: (outputs: Record<string, string>) => Step;
}

export type PlannedStep = Step | OutputsStep;

export interface Target {
  region: string;
  /** for templates above CloudFormation's 51,200-byte limit on a direct upload */
  s3Bucket?: string;
}

/** The parameter names each stack declares: the cluster template's Parameters, serverless.yml's params. */
export function knownParameters(): { cluster: string[]; image: string[]; functions: string[] } {
  const parameters = (file: string) => Object.keys(readCloudFormation(join(ROOT, file)).Parameters ?? {});
  return {
    cluster: parameters('infra/cluster.yml'),
    image: parameters('infra/image/image.yml'),
    functions: Object.keys(readCloudFormation(join(ROOT, 'serverless.yml')).params?.default ?? {}),
  };
}

/** The functions stack's params that come from the cluster stack's outputs. */
export const FUNCTION_PARAMS_FROM_OUTPUTS: Record<string, string> = {
  clusterName: 'ClusterName',
  asgName: 'AutoScalingGroupName',
  amqpTargetGroupArn: 'AmqpTargetGroupArn',
  managementTargetGroupArn: 'ManagementTargetGroupArn',
  ssmDocumentPrefix: 'SsmDocumentPrefix',
  adminSecretArn: 'AdminSecretArn',
};

/** "Key=Value" pairs, each routed to the stack that declares Key; anything else is refused. */
export function splitParams(
  pairs: string[],
  known: { cluster: string[]; functions: string[] },
): { cluster: Record<string, string>; functions: Record<string, string> } {
  const split = { cluster: {} as Record<string, string>, functions: {} as Record<string, string> };
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--param ${pair}: expected Key=Value`);
    const [key, value] = [pair.slice(0, at), pair.slice(at + 1)];
    if (known.cluster.includes(key)) split.cluster[key] = value;
    else if (FUNCTION_PARAMS_FROM_OUTPUTS[key]) throw new Error(`--param ${key}: set by the cluster stack's output ${FUNCTION_PARAMS_FROM_OUTPUTS[key]}`);
    else if (known.functions.includes(key)) split.functions[key] = value;
    else throw new Error(`--param ${key}: unknown; cluster parameters: ${known.cluster.join(', ')}; function params: ${known.functions.join(', ')}`);
  }
  return split;
}

export function stackNames(clusterName: string) {
  return {
    image: `${clusterName}-image`,
    documents: `${clusterName}-documents`,
    cluster: `${clusterName}-cluster`,
    functions: `warren-${clusterName}`,
    stage: clusterName,
    /** the heal function's name: serverless names a function <service>-<stage>-<function> */
    healFunction: deployedFunctionName(clusterName, 'heal'),
  };
}

export function deployedFunctionName(clusterName: string, fn: string): string {
  return `warren-${clusterName}-${fn}`;
}

export function cloudFormationDeploy(templateFile: string, stackName: string, params: Record<string, string>, target: Target): string[] {
  const overrides = Object.entries(params).map(([key, value]) => `${key}=${value}`);
  return [
    'cloudformation',
    'deploy',
    '--template-file',
    templateFile,
    '--stack-name',
    stackName,
    '--capabilities',
    'CAPABILITY_IAM',
    '--no-fail-on-empty-changeset',
    ...(target.s3Bucket ? ['--s3-bucket', target.s3Bucket] : []),
    '--region',
    target.region,
    ...(overrides.length > 0 ? ['--parameter-overrides', ...overrides] : []),
  ];
}

export function describeOutputs(stackName: string, target: Target): string[] {
  return ['cloudformation', 'describe-stacks', '--stack-name', stackName, '--region', target.region, '--query', 'Stacks[0].Outputs', '--output', 'json'];
}

export function functionParams(outputs: Record<string, string>, extra: Record<string, string>): Record<string, string> {
  const fromOutputs = Object.entries(FUNCTION_PARAMS_FROM_OUTPUTS).map(([param, output]) => {
    const value = outputs[output];
    if (!value) throw new Error(`the cluster stack has no output ${output}`);
    return [param, value] as const;
  });
  return { ...extra, ...Object.fromEntries(fromOutputs) };
}

export function serverlessDeploy(stage: string, params: Record<string, string>, target: Target): string[] {
  return ['serverless', 'deploy', '--stage', stage, '--region', target.region, ...Object.entries(params).map(([key, value]) => `--param=${key}=${value}`)];
}

export interface DeployInput {
  params: string[];
  target: Target;
  documentsTemplate: string;
  clusterTemplate: string;
  /** whether the cluster stack exists already (describe-stacks) */
  clusterStackExists: boolean;
}

/**
 * Documents stack, cluster stack, then functions stack (fed by the cluster's outputs). The documents
 * depend on nothing and come first, so they exist before warren sends any and before a node joins. A new
 * cluster starts with no nodes: an instance launched before warren's rules exist would wait out its
 * launch hook and be abandoned; so the size is applied in a last cluster update, once warren is listening.
 */
export function deployPlan(input: DeployInput): PlannedStep[] {
  const split = splitParams(input.params, knownParameters());
  const clusterName = split.cluster.ClusterName ?? defaultClusterName();
  const names = stackNames(clusterName);
  const documents: Step = {
    title: `documents stack ${names.documents}`,
    command: 'aws',
    args: cloudFormationDeploy(input.documentsTemplate, names.documents, { ClusterName: clusterName }, input.target),
  };
  const cluster = (params: Record<string, string>) => cloudFormationDeploy(input.clusterTemplate, names.cluster, params, input.target);
  const functions: OutputsStep = {
    title: `functions stack ${names.functions}`,
    needsOutputsOf: names.cluster,
    build: (outputs) => ({
      title: `functions stack ${names.functions}`,
      command: 'npx',
      args: serverlessDeploy(names.stage, functionParams(outputs, split.functions), input.target),
    }),
  };
  const full: Step = { title: `cluster stack ${names.cluster}`, command: 'aws', args: cluster(split.cluster) };
  if (input.clusterStackExists) return [documents, full, functions];
  return [
    documents,
    { title: `cluster stack ${names.cluster}, no nodes yet`, command: 'aws', args: cluster({ ...split.cluster, ClusterSize: '0' }) },
    functions,
    // explicit: `aws cloudformation deploy` keeps a parameter's previous value (0 here) when it is not given
    {
      title: `cluster stack ${names.cluster}, nodes join`,
      command: 'aws',
      args: cluster({ ClusterSize: String(clusterParameter('ClusterSize').Default), ...split.cluster }),
    },
  ];
}

export interface RemoveInput {
  params: string[];
  target: Target;
  /** whether each stack exists (describe-stacks): a removal that failed halfway can be run again */
  clusterStackExists: boolean;
  functionsStackExists: boolean;
  documentsStackExists: boolean;
}

/**
 * Deleting the cluster stack terminates every instance through the terminate hook. Without warren each
 * instance would wait out the hook's heartbeat timeout (2100 s); with warren, its nodes would leave one
 * by one and the last running member, which is never stopped (invariant 2), would hold its hook for
 * LEAVE_WAIT_TIMEOUT_SECONDS. The whole cluster is going, so nobody needs to leave: the group's
 * lifecycle hooks are deleted first (DeleteLifecycleHook completes their open actions: ABANDON for
 * launching instances, CONTINUE for terminating ones), then warren stops listening, then the cluster goes,
 * and the documents last, once no node or function can run one.
 */
export function removePlan(input: RemoveInput): PlannedStep[] {
  const split = splitParams(input.params, knownParameters());
  const names = stackNames(split.cluster.ClusterName ?? defaultClusterName());
  const region = ['--region', input.target.region];
  const hooks: OutputsStep[] = clusterLifecycleHooks().map((hook) => ({
    title: `lifecycle hook ${hook} of the cluster's group (its open actions are completed)`,
    needsOutputsOf: names.cluster,
    build: (outputs) => {
      const group = outputs.AutoScalingGroupName;
      if (!group) throw new Error('the cluster stack has no output AutoScalingGroupName');
      return {
        title: `lifecycle hook ${hook} of ${group} (its open actions are completed)`,
        command: 'aws',
        args: ['autoscaling', 'delete-lifecycle-hook', '--auto-scaling-group-name', group, '--lifecycle-hook-name', hook, ...region],
      };
    },
  }));
  const functions: Step = { title: `functions stack ${names.functions}`, command: 'npx', args: ['serverless', 'remove', '--stage', names.stage, ...region] };
  const deleteStack = (kind: string, stackName: string): Step[] => [
    { title: `${kind} stack ${stackName}`, command: 'aws', args: ['cloudformation', 'delete-stack', '--stack-name', stackName, ...region] },
    {
      title: `wait for ${stackName} to be deleted`,
      command: 'aws',
      args: ['cloudformation', 'wait', 'stack-delete-complete', '--stack-name', stackName, ...region],
    },
  ];
  return [
    ...(input.clusterStackExists ? hooks : []),
    ...(input.functionsStackExists ? [functions] : []),
    ...(input.clusterStackExists ? deleteStack('cluster', names.cluster) : []),
    ...(input.documentsStackExists ? deleteStack('documents', names.documents) : []),
  ];
}

/** The lifecycle hooks infra/cluster.yml gives the group, by name. */
export function clusterLifecycleHooks(): string[] {
  const group = readCloudFormation(join(ROOT, 'infra', 'cluster.yml')).Resources.AutoScalingGroup;
  return group.Properties.LifecycleHookSpecificationList.map((hook: { LifecycleHookName: string }) => hook.LifecycleHookName);
}

/** The image stack takes its own parameters (image.yml's); it builds the AMI the cluster's ImageId names. */
export function imagePlan(params: string[], target: Target, imageTemplate: string): Step[] {
  const known = knownParameters();
  const split = splitParams(params, { cluster: known.image, functions: [] });
  const names = stackNames(split.cluster.ClusterName ?? defaultClusterName());
  return [
    {
      title: `image stack ${names.image} (builds the AMI; about 30 minutes)`,
      command: 'aws',
      args: cloudFormationDeploy(imageTemplate, names.image, split.cluster, target),
    },
    { title: 'the AMI id', command: 'aws', args: describeOutputs(names.image, target) },
  ];
}

export function defaultClusterName(): string {
  return String(clusterParameter('ClusterName').Default);
}

function clusterParameter(name: string): { Default?: unknown } {
  return readCloudFormation(join(ROOT, 'infra', 'cluster.yml')).Parameters[name];
}
