import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { lambdaHandler } from '../../functions/wire';
import type { EventKind } from '../../shared/events/types';

/**
 * The deployed handlers (functions/wire.ts) with the real adapters over the real SDK v3 clients,
 * whose `send` aws-sdk-client-mock answers and records: a test sees every AWS request the function
 * made, SSM's SendCommand (a node command) included, and every log line it printed.
 */

export const GROUP = 'orders-rabbitmq';
export const OUR_ALARM_PREFIX = 'warren-orders-';

export const ENV: Record<string, string> = {
  AWS_REGION: 'us-east-1',
  POWERTOOLS_SERVICE_NAME: 'warren',
  CLUSTER_NAME: 'orders',
  ASG_NAME: GROUP,
  AMQP_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-amqp/0123456789abcdef',
  MANAGEMENT_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-mgmt/fedcba9876543210',
  HEAL_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/orders-heal.fifo',
  ALARM_RUNBOOK: JSON.stringify([
    { alarm: `${OUR_ALARM_PREFIX}node-`, match: 'prefix', action: 'replace-instance' },
    { alarm: `${OUR_ALARM_PREFIX}partitions`, action: 'reconcile' },
  ]),
};

export const aws = {
  ec2: mockClient(EC2Client),
  autoScaling: mockClient(AutoScalingClient),
  ssm: mockClient(SSMClient),
  elbv2: mockClient(ElasticLoadBalancingV2Client),
  sqs: mockClient(SQSClient),
};

export function resetAws(): void {
  for (const client of Object.values(aws)) client.reset();
}

/** Every AWS request the function sent, as command class names, in the order of each client. */
export function awsRequests(): string[] {
  return Object.values(aws).flatMap((client) => client.calls().map((call) => (call.args[0] as object).constructor.name));
}

export const FUNCTIONS: Record<'heal' | 'alarm', EventKind[]> = {
  heal: ['launch', 'terminate', 'gone', 'interruption', 'reconcile'],
  alarm: ['alarm'],
};

const context = { getRemainingTimeInMillis: () => 900_000 } as unknown as Context;

export interface Invocation {
  result?: unknown;
  error?: unknown;
  /** every JSON line on stdout and stderr: Powertools log lines and EMF metric documents */
  lines: Array<Record<string, any>>;
}

/** A cold start of the function with `env`, then one invocation with `payload` (none when the cold start fails). */
export async function invoke(fn: 'heal' | 'alarm', payload: unknown, env: Record<string, string | undefined> = ENV): Promise<Invocation> {
  return captured(async () => {
    const handler = withEnv(env, () => lambdaHandler(FUNCTIONS[fn]));
    return handler(payload, context);
  });
}

/** The cold start alone. */
export function coldStart(fn: 'heal' | 'alarm', env: Record<string, string | undefined>): Promise<Invocation> {
  return captured(async () => withEnv(env, () => lambdaHandler(FUNCTIONS[fn])));
}

/** One SQS record per body, as the event source mapping delivers them. */
export function sqsBatch(...bodies: string[]) {
  return {
    Records: bodies.map((body, n) => ({
      messageId: `059f36b4-87a3-44ab-83d2-66197574853${n}`,
      receiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a',
      body,
      attributes: { ApproximateReceiveCount: '1', MessageGroupId: 'orders', SequenceNumber: `1869000000000000000${n}` },
      messageAttributes: {},
      md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:orders-heal.fifo',
      awsRegion: 'us-east-1',
    })),
  };
}

function withEnv<T>(env: Record<string, string | undefined>, act: () => T): T {
  const keys = new Set([...Object.keys(ENV), ...Object.keys(env), 'HEARTBEAT_INTERVAL_SECONDS', 'LAUNCH_TIMEOUT_SECONDS']);
  const saved = new Map([...keys].map((key) => [key, process.env[key]]));
  for (const key of keys) {
    if (env[key] === undefined) delete process.env[key];
    else process.env[key] = env[key];
  }
  try {
    return act();
  } finally {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** Powertools' dev mode logs through the global console, which jest captures before stdout; a describe turns it off. */
export function withoutPowertoolsDevMode(): void {
  const saved = process.env.POWERTOOLS_DEV;
  beforeAll(() => delete process.env.POWERTOOLS_DEV);
  afterAll(() => {
    if (saved !== undefined) process.env.POWERTOOLS_DEV = saved;
  });
}

/** Runs `act` with stdout and stderr captured (Powertools writes INFO to stdout, WARN and ERROR to stderr). */
export async function captured(act: () => Promise<unknown>): Promise<Invocation> {
  const chunks: string[] = [];
  const keep = (chunk: string | Uint8Array) => {
    chunks.push(chunk.toString());
    return true;
  };
  const spies = [jest.spyOn(process.stdout, 'write').mockImplementation(keep), jest.spyOn(process.stderr, 'write').mockImplementation(keep)];
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
  try {
    return { result: await act(), lines: lines() };
  } catch (error) {
    return { error, lines: lines() };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}
