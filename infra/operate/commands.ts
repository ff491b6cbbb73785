import { InvalidArgumentError, type Command } from 'commander';
import { wire } from '../../functions/wire';
import { createAwsClients, createSqsClient, SqsHealQueue, type ClientOptions } from '../../shared/aws';
import { AutoScalingGroupNotFound } from '../../shared/aws/errors';
import { FunctionNotFound } from '../../shared/aws/function-settings';
import type { Config } from '../../shared/config';
import { toDirectReconcile } from '../../shared/events/reconcile';
import type { Log } from '../../shared/ports';
import { invocationDeps, type Deps } from '../../shared/workflows/deps';
import { inExecutionOrder } from '../../shared/cluster/reconcile-plan';
import { reconcile } from '../../shared/workflows/reconcile';
import { stackNames } from '../deploy/plan';
import { integer } from '../sandbox/cli/options';
import { CLUSTER_NAME, deployedConfig } from './settings';
import { cancelRoll, formatRefresh, formatRollPlan, latestRefresh, planRoll, readRollGroup, RollRefused, startRoll, type RollTarget } from './roll';
import { readClusterStatus, type ClusterStatus } from './status';
import { formatClusterStatus, formatPlan, type PlanReport } from './view';

/**
 * `warren status` and `warren plan` against a deployed cluster, with the operator's own AWS credentials
 * (the SDK's default chain) and warren's own adapters: the heal function's composition (functions/wire.ts)
 * built from its deployed environment. Read-only: the only node operation sent is NodeStatus, and plan
 * runs reconcile as a direct `{"dryRun": true}` invocation would.
 */

/** Bad input or a cluster that is not there: the message is the whole story, the exit code non-zero. */
export class OperatorInputError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OperatorInputError';
  }
}

interface TargetOptions {
  cluster: string;
  region?: string;
  endpointUrl?: string;
  timeout: number;
  json?: boolean;
  verbose?: boolean;
}

interface Connected {
  config: Config;
  region: string;
  clients: ClientOptions;
  deps: Deps;
}

const clusterName = (value: string): string => {
  if (!CLUSTER_NAME.test(value)) throw new InvalidArgumentError('the ClusterName of the cluster stack: letters, digits and dashes, at most 52');
  return value;
};

/** reconcile's log lines, on stderr with --verbose; otherwise the printed result is the whole output */
function logTo(verbose: boolean): Log {
  const write = (level: string) => (message: string, extra?: Record<string, unknown>) => {
    if (verbose) process.stderr.write(`${JSON.stringify({ level, message, ...extra })}\n`);
  };
  return { debug: write('DEBUG'), info: write('INFO'), warn: write('WARN'), error: write('ERROR') };
}

async function connect(options: TargetOptions): Promise<Connected> {
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) throw new OperatorInputError('no region: give --region (or set AWS_REGION)');
  const endpoint = options.endpointUrl ?? process.env.AWS_ENDPOINT_URL;
  const clients: ClientOptions = { region, ...(endpoint ? { endpoint } : {}) };
  let config: Config;
  try {
    config = await deployedConfig(options.cluster, clients);
  } catch (error) {
    if (!(error instanceof FunctionNotFound)) throw error;
    throw new OperatorInputError(
      `warren is not deployed for cluster ${options.cluster} in ${region}: Lambda has no function ${stackNames(options.cluster).healFunction} (check --cluster and --region; \`npm run deploy\` creates it)`,
      { cause: error },
    );
  }
  // the heal function's composition; its telemetry is never flushed, so nothing but the result is printed
  const { telemetry: _telemetry, onRecordAnswered: _observer, ...ports } = wire(config, { clients, env: {} });
  const deps = invocationDeps(ports, logTo(options.verbose === true), Date.now() + options.timeout * 1000);
  return { config, region, clients, deps };
}

/** The group named by the function's ASG_NAME is gone: the cluster stack was removed, or warren outlived it. */
async function explained<T>(connected: Connected, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (!(error instanceof AutoScalingGroupNotFound)) throw error;
    throw new OperatorInputError(
      `cluster ${connected.config.clusterName}: its Auto Scaling group ${connected.config.autoScalingGroupName} does not exist in ${connected.region}`,
      { cause: error },
    );
  }
}

async function status(options: TargetOptions): Promise<void> {
  const connected = await connect(options);
  const { config, clients, deps, region } = connected;
  const queue = config.healQueueUrl ? new SqsHealQueue(config, { sqs: createSqsClient(clients) }) : undefined;
  const shown = await explained(connected, () => readClusterStatus(deps, region, queue));
  const refresh = await latestRefresh(createAwsClients(clients).autoScaling, config.autoScalingGroupName);
  const full: ClusterStatus = { ...shown, refresh };
  process.stdout.write(`${options.json ? JSON.stringify(full, null, 2) : `${formatClusterStatus(full)}\n${formatRefresh(refresh)}`}\n`);
}

export interface RollOptions extends TargetOptions {
  imageId?: string;
  launchTemplateVersion?: number;
  dryRun?: boolean;
  cancel?: boolean;
}

/** What must hold before a roll starts: every desired member running, every quorum queue whole. */
function wholeCluster(status: ClusterStatus): void {
  const problems = [
    ...(status.members.running.length < status.desiredCapacity ? [`${status.members.running.length} of ${status.desiredCapacity} members running`] : []),
    ...(status.majorityLost ? ['the Khepri majority is lost'] : []),
    ...(status.quorumQueues && status.quorumQueues.degraded > 0 ? [`${status.quorumQueues.degraded} quorum queues degraded`] : []),
    ...(status.quorumQueues && status.quorumQueues.leaderless > 0 ? [`${status.quorumQueues.leaderless} quorum queues leaderless`] : []),
  ];
  if (problems.length > 0) {
    throw new RollRefused(`cluster ${status.cluster} is not whole (${problems.join('; ')}): a roll starts only from a whole cluster; see \`warren status\``);
  }
}

/** `warren roll`; also what `warren sandbox roll` runs against the sandbox's endpoint. */
export async function roll(options: RollOptions): Promise<void> {
  const connected = await connect(options);
  const { config, clients, deps, region } = connected;
  const aws = createAwsClients(clients);
  const group = config.autoScalingGroupName;
  if (options.cancel) {
    const id = await cancelRoll(aws.autoScaling, group);
    process.stdout.write(`cancelling instance refresh ${id}: instances already replaced stay; follow it with \`warren status\`\n`);
    return;
  }
  const target: RollTarget = { imageId: options.imageId, launchTemplateVersion: options.launchTemplateVersion };
  const plan = await explained(connected, async () => {
    const status = await readClusterStatus(deps, region, undefined);
    wholeCluster(status);
    return planRoll(await readRollGroup(aws, group), target, config.refreshAlarmNames);
  });
  if (options.dryRun) {
    process.stdout.write(`${options.json ? JSON.stringify(plan, null, 2) : `${formatRollPlan(plan)}\n\n(dry run: nothing sent)`}\n`);
    return;
  }
  const started = await startRoll(aws, plan);
  process.stdout.write(
    options.json
      ? `${JSON.stringify({ ...plan, ...started }, null, 2)}\n`
      : `${formatRollPlan(plan)}\n\nstarted instance refresh ${started.instanceRefreshId} to launch template version ${started.version}; follow it with \`warren status\`, stop it with \`warren roll --cancel\`\n`,
  );
}

async function plan(options: TargetOptions): Promise<void> {
  const connected = await connect(options);
  const { config, deps, region } = connected;
  const report = await explained(connected, async (): Promise<PlanReport> => {
    const group = await deps.inventory.describeGroup();
    const outcome = await reconcile(toDirectReconcile({ dryRun: true }), deps);
    const planned = outcome.details as Pick<PlanReport, 'actions' | 'findings' | 'orphanedHooks'> & { partition?: PlanReport['partition'] };
    return {
      cluster: config.clusterName,
      region,
      paused: group.paused ?? null,
      actions: inExecutionOrder(planned.actions),
      findings: planned.findings,
      partition: planned.partition ?? null,
      orphanedHooks: planned.orphanedHooks,
    };
  });
  process.stdout.write(`${options.json ? JSON.stringify(report, null, 2) : formatPlan(report)}\n`);
}

const withTarget = (command: Command) =>
  command
    .requiredOption('--cluster <name>', 'the ClusterName the cluster was deployed with', clusterName)
    .option('--region <region>', 'the region it runs in (default: AWS_REGION)')
    .option('--endpoint-url <url>', 'send every AWS call here, as the AWS CLI does (default: AWS_ENDPOINT_URL), e.g. the sandbox endpoint')
    .option('--timeout <seconds>', "how long to wait for the nodes' NodeStatus", integer(5, 900), 120)
    .option('--json', 'print JSON')
    .option('--verbose', "reconcile's log lines on stderr");

/** Adds `status` and `plan` to the `warren` program. */
export function addOperatorCommands(warren: Command): void {
  withTarget(
    warren
      .command('status')
      .description('a deployed cluster: instances, lifecycle states, members as the nodes see them, target health, partitions, heal queue depth (read-only)'),
  ).action(status);
  withTarget(warren.command('plan').description("what warren's reconcile would do now: a dry run with the heal function's settings (read-only)")).action(plan);
  withTarget(
    warren
      .command('roll')
      .description(
        "replace every node, one at a time, through an Instance Refresh with RabbitMQ-safe preferences (docs/operations.md); it rolls back if warren's alarms fire",
      ),
  )
    .option('--image-id <ami>', "roll to a new AMI: a launch template version is created from the group's with this ImageId")
    .option('--launch-template-version <n>', 'roll to an existing version of the launch template', integer(1, 1_000_000))
    .option('--dry-run', 'print the requests and why each preference is chosen; send nothing')
    .option('--cancel', "cancel the group's running instance refresh (instances already replaced stay)")
    .action(roll);
}
