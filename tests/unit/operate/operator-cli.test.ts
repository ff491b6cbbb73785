import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configOfDeployed, deployedConfig } from '../../../infra/operate/settings';
import type { ClusterStatus } from '../../../infra/operate/status';
import type { PlanReport } from '../../../infra/operate/view';
import { lambdaApi } from '../../../infra/sandbox/aws/lambda-api';
import { sqsApi } from '../../../infra/sandbox/aws/sqs-api';
import { LOCAL_CREDENTIALS, type LocalAwsEndpoint } from '../../../infra/sandbox/aws/endpoint';
import { realTimeScheduler } from '../../../infra/sandbox/cloud/scheduler';
import { runProcess } from '../../../infra/sandbox/nodes/process';
import { healQueueOptions, LocalQueue } from '../../../infra/sandbox/queue';
import { deployedEnvironment } from '../../../infra/deploy/settings';
import { FunctionNotFound, LambdaFunctionSettings } from '../../../shared/aws/function-settings';
import { ConfigError } from '../../../shared/errors';
import { closeAll, GROUP_NAME, localAws, TARGET_GROUP_ARNS } from '../sandbox/aws-endpoint-helpers';

/*
 * `warren status` and `warren plan` derive a cluster's settings from its heal function's environment
 * (Lambda GetFunctionConfiguration), then read the group, EC2, the target groups and the heal queue
 * through warren's adapters. Here the local AWS endpoint answers, with an empty group: no node is asked.
 */

jest.setTimeout(60_000);

const LAUNCHER = join(__dirname, '../../../infra/sandbox/cli/warren.js');
const REGION = 'us-east-1';
const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/warren-orders-HealQueue.fifo';

function healEnvironment(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    ...deployedEnvironment(),
    CLUSTER_NAME: 'orders',
    ASG_NAME: GROUP_NAME,
    AMQP_TARGET_GROUP_ARN: TARGET_GROUP_ARNS.amqp,
    MANAGEMENT_TARGET_GROUP_ARN: TARGET_GROUP_ARNS.management,
    SSM_DOCUMENT_PREFIX: 'orders-',
    HEAL_QUEUE_URL: QUEUE_URL,
    HEAL_DEAD_LETTER_QUEUE_URL: QUEUE_URL.replace(/\.fifo$/, '-dlq.fifo'),
    ...overrides,
  };
}

const heal = (name: string, environment: Record<string, string>) => ({
  name,
  handler: 'functions/heal/handler.handler',
  description: 'heal',
  timeoutSeconds: 900,
  memorySize: 256,
  runtime: 'nodejs22.x',
  architecture: 'arm64',
  environment,
});

/** An account with warren deployed for cluster "orders" (an empty group) and a heal function of a cluster whose group is gone. */
async function account(): Promise<{ endpoint: LocalAwsEndpoint; queue: LocalQueue }> {
  const queue = new LocalQueue(realTimeScheduler, { ...healQueueOptions('orders', QUEUE_URL), eventSource: undefined });
  const functions = [heal('warren-orders-heal', healEnvironment()), heal('warren-gone-heal', healEnvironment({ CLUSTER_NAME: 'gone', ASG_NAME: 'gone' }))];
  const aws = await localAws({
    group: { minSize: 0, desiredCapacity: 0 },
    apis: [lambdaApi(functions, { region: REGION, account: '123456789012' }), sqsApi([queue, queue.deadLetterQueue!])],
  });
  return { endpoint: aws.endpoint, queue };
}

function warren(endpoint: LocalAwsEndpoint | undefined, ...args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey };
  delete env.AWS_REGION;
  delete env.AWS_DEFAULT_REGION;
  delete env.AWS_ENDPOINT_URL;
  return runProcess(process.execPath, [LAUNCHER, ...args, ...(endpoint ? ['--endpoint-url', endpoint.url] : [])], { env, timeoutMs: 50_000 });
}

afterEach(closeAll);

describe('the settings of a deployed cluster', () => {
  it("are the heal function's environment, read through the Lambda API with the real SDK client", async () => {
    const { endpoint } = await account();

    const config = await deployedConfig('orders', endpoint.clientOptions());

    expect(config).toMatchObject({
      clusterName: 'orders',
      autoScalingGroupName: GROUP_NAME,
      targetGroups: TARGET_GROUP_ARNS,
      ssmDocumentPrefix: 'orders-',
      healQueueUrl: QUEUE_URL,
      healDeadLetterQueueUrl: QUEUE_URL.replace(/\.fifo$/, '-dlq.fifo'),
    });
  });

  it('are read through a throttled GetFunctionConfiguration by the SDK retry, as every call of warren is', async () => {
    const { endpoint } = await account();
    endpoint.armFault({ kind: 'throttling', operation: 'GetFunctionConfiguration', times: 2 });

    await expect(deployedConfig('orders', { ...endpoint.clientOptions(), retryDelayMs: 10 })).resolves.toMatchObject({ clusterName: 'orders' });
    expect(endpoint.calls.filter((call) => call.operation === 'GetFunctionConfiguration').map((call) => call.error)).toEqual([
      'TooManyRequestsException',
      'TooManyRequestsException',
      undefined,
    ]);
  });

  it('name a cluster without a heal function as not deployed, and refuse a function of another cluster', async () => {
    const { endpoint } = await account();
    const lambda = new LambdaFunctionSettings({}, endpoint.clientOptions());

    await expect(lambda.environmentOf('warren-nope-heal')).rejects.toThrow(FunctionNotFound);
    await expect(lambda.environmentOf('warren-nope-heal')).rejects.toThrow('Lambda has no function warren-nope-heal here');
    // an ARN names the same function; a version that was never published does not exist
    await expect(lambda.environmentOf(`arn:aws:lambda:${REGION}:123456789012:function:warren-orders-heal`)).resolves.toMatchObject({ CLUSTER_NAME: 'orders' });
    await expect(lambda.environmentOf('warren-orders-heal:7')).rejects.toThrow(FunctionNotFound);
    await expect(deployedConfig('orders', endpoint.clientOptions())).resolves.toBeDefined();
    expect(() => configOfDeployed('other', 'warren-orders-heal', healEnvironment())).toThrow(ConfigError);
  });
});

describe('warren status and warren plan, the command line', () => {
  it('status --json shows the group, its settings and the heal queue as the account answers them', async () => {
    const { endpoint, queue } = await account();
    queue.send({ body: '{"waiting":true}', groupId: 'orders' });

    const result = await warren(endpoint, 'status', '--cluster', 'orders', '--region', REGION, '--json');

    expect({ exitCode: result.exitCode, stderr: result.stderr }).toMatchObject({ exitCode: 0 });
    const shown = JSON.parse(result.stdout) as ClusterStatus;
    expect(shown).toMatchObject({
      cluster: 'orders',
      region: REGION,
      autoScalingGroupName: GROUP_NAME,
      desiredCapacity: 0,
      paused: null,
      instances: [],
      members: { all: [], running: [], partitions: {} },
      queue: { depth: 1, inFlight: 0, deadLetters: 0, url: QUEUE_URL },
      targetGroups: TARGET_GROUP_ARNS,
    });
  });

  it('plan prints what a dry-run reconcile decided, and changes nothing', async () => {
    const { endpoint } = await account();

    const text = await warren(endpoint, 'plan', '--cluster', 'orders', '--region', REGION);
    const json = await warren(endpoint, 'plan', '--cluster', 'orders', '--region', REGION, '--json');

    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain(`reconcile plan for cluster orders in ${REGION} (dry run: nothing was changed)`);
    expect(text.stdout).toContain('nothing to do');
    expect(JSON.parse(json.stdout) as PlanReport).toMatchObject({ cluster: 'orders', actions: [], paused: null, orphanedHooks: [] });
    const mutating = endpoint.calls.filter((call) => !/^(Describe|Get|List)/.test(call.operation));
    expect(mutating).toEqual([]);
  });

  it("sends only what the runbook's operator policy grants", async () => {
    const { endpoint } = await account();

    await warren(endpoint, 'status', '--cluster', 'orders', '--region', REGION);
    await warren(endpoint, 'plan', '--cluster', 'orders', '--region', REGION);
    await warren(endpoint, 'roll', '--cluster', 'orders', '--region', REGION, '--dry-run');
    await warren(endpoint, 'roll', '--cluster', 'orders', '--region', REGION, '--cancel');

    const runbook = readFileSync(join(__dirname, '../../../docs/operations.md'), 'utf8');
    const policy = runbook.slice(runbook.indexOf('## 9. Status and plan against AWS'));
    const sent = [...new Set(endpoint.calls.map((call) => `${call.service}:${call.operation}`))].sort();
    expect(sent).toEqual(expect.arrayContaining(['autoscaling:DescribeAutoScalingGroups', 'lambda:GetFunctionConfiguration', 'sqs:GetQueueAttributes']));
    expect(sent.filter((action) => !policy.includes(`"${action}"`))).toEqual([]);
  });

  it('roll refuses a group with nothing to roll, and a cancel without a refresh says so, sending nothing that changes anything', async () => {
    const { endpoint } = await account();

    const dryRun = await warren(endpoint, 'roll', '--cluster', 'orders', '--region', REGION, '--image-id', 'ami-0abcdef1234567890', '--dry-run');
    const started = await warren(endpoint, 'roll', '--cluster', 'orders', '--region', REGION, '--launch-template-version', '1');
    const cancel = await warren(endpoint, 'roll', '--cluster', 'orders', '--region', REGION, '--cancel');
    const status = await warren(endpoint, 'status', '--cluster', 'orders', '--region', REGION);

    expect(dryRun.exitCode).toBe(1);
    expect(dryRun.stderr).toContain(`${GROUP_NAME} has a desired capacity of 0: there is nothing to roll`);
    expect(started.exitCode).toBe(1);
    expect(started.stderr).toContain('nothing to roll');
    expect(cancel.exitCode).toBe(1);
    expect(cancel.stderr).toContain(`no instance refresh of ${GROUP_NAME} is in progress: nothing to cancel`);
    expect(status.stdout).toContain('instance refresh: none');
    const mutating = endpoint.calls.filter((call) => !/^(Describe|Get|List)/.test(call.operation));
    expect(mutating.map((call) => [call.operation, call.error])).toEqual([['CancelInstanceRefresh', 'ActiveInstanceRefreshNotFound']]);
  });

  it.each([
    [['status', '--cluster', 'orders'], 'no region: give --region (or set AWS_REGION)'],
    [['plan', '--region', REGION], "required option '--cluster <name>' not specified"],
    [['status', '--cluster', 'no_such/name', '--region', REGION], 'letters, digits and dashes'],
  ])('refuses bad input with a reason and a non-zero exit: %j', async (args, reason) => {
    const result = await warren(undefined, ...args);

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(reason);
  });

  it('names a cluster that is not deployed, and a deployed one whose group is gone', async () => {
    const { endpoint } = await account();

    const unknown = await warren(endpoint, 'status', '--cluster', 'nope', '--region', REGION);
    const gone = await warren(endpoint, 'plan', '--cluster', 'gone', '--region', REGION);

    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain(`warren: warren is not deployed for cluster nope in ${REGION}: Lambda has no function warren-nope-heal`);
    expect(gone.exitCode).toBe(1);
    expect(gone.stderr).toContain(`warren: cluster gone: its Auto Scaling group gone does not exist in ${REGION}`);
  });
});
