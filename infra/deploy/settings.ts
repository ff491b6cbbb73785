import { resolve } from 'node:path';
import { readCloudFormation } from './cfn-yaml';
import { loadConfig, type Config } from '../../shared/config';

/**
 * The settings warren is deployed with, read from serverless.yml and infra/cluster.yml. The sandbox
 * runs on them, and tests that depend on a timing (the queue's visibility timeout, a function's
 * timeout, a hook's heartbeat timeout, the health checks) take it from here, never from a constant.
 */

const ROOT = resolve(__dirname, '..', '..');
const serverless = readCloudFormation(resolve(ROOT, 'serverless.yml'));
const cluster = readCloudFormation(resolve(ROOT, 'infra', 'cluster.yml'));

const params: Record<string, string> = Object.fromEntries(
  Object.entries(serverless.params.default as Record<string, unknown>).map(([key, value]) => [key, String(value)]),
);

/** `${param:x}` resolved against serverless.yml's default params; anything else as written. */
function resolveParams(value: unknown): string {
  return String(value).replace(/\$\{param:([A-Za-z0-9]+)\}/g, (_, name: string) => {
    if (!(name in params)) throw new Error(`serverless.yml has no default param ${name}`);
    return params[name]!;
  });
}

const resources = serverless.resources.Resources as Record<string, { Properties: any }>;
const clusterResources = cluster.Resources as Record<string, { Properties: any }>;

function number(value: unknown, what: string): number {
  const n = Number(resolveParams(value));
  if (!Number.isFinite(n)) throw new Error(`${what} is not a number: ${String(value)}`);
  return n;
}

const healQueue = resources.HealQueue!.Properties;
const hooks = clusterResources.AutoScalingGroup!.Properties.LifecycleHookSpecificationList as Array<Record<string, any>>;
const hook = (name: string) => {
  const found = hooks.find((h) => h.LifecycleHookName === name);
  if (!found) throw new Error(`infra/cluster.yml has no lifecycle hook ${name}`);
  return { heartbeatTimeoutSeconds: number(found.HeartbeatTimeout, `${name} HeartbeatTimeout`), defaultResult: String(found.DefaultResult) };
};
const targetGroup = (name: string) => {
  const p = clusterResources[name]!.Properties;
  const attributes = Object.fromEntries((p.TargetGroupAttributes ?? []).map((a: { Key: string; Value: string }) => [a.Key, a.Value]));
  return {
    intervalSeconds: number(p.HealthCheckIntervalSeconds, `${name} HealthCheckIntervalSeconds`),
    /** NLB's default for a TCP health check when the template sets none */
    timeoutSeconds: p.HealthCheckTimeoutSeconds === undefined ? 10 : number(p.HealthCheckTimeoutSeconds, `${name} HealthCheckTimeoutSeconds`),
    healthyThreshold: number(p.HealthyThresholdCount, `${name} HealthyThresholdCount`),
    unhealthyThreshold: number(p.UnhealthyThresholdCount, `${name} UnhealthyThresholdCount`),
    deregistrationDelaySeconds: number(attributes['deregistration_delay.timeout_seconds'] ?? 300, `${name} deregistration delay`),
  };
};

/** The functions' environment as deployed with the default params (HEAL_QUEUE_URL and other refs left out). */
export function deployedEnvironment(): Record<string, string> {
  const env = serverless.provider.environment as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(env)
      .filter(([, value]) => typeof value === 'string' || typeof value === 'number')
      .map(([key, value]) => [key, resolveParams(value)]),
  );
}

/** The configuration the deployed functions load at cold start, with test overrides. */
export function deployedConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...deployedEnvironment(), ...overrides });
}

const functions = serverless.functions as Record<string, { timeout?: number; reservedConcurrency?: number; events?: any[] }>;

/** The triage queue and the event source mapping that hands its batches to the triage function. */
function triageSettings() {
  const queue = resources.TriageQueue!.Properties;
  const source = functions.triage?.events?.find((event) => event.sqs)?.sqs;
  if (!source) throw new Error('serverless.yml: the triage function has no sqs event');
  return {
    batchSize: number(source.batchSize, 'triage batchSize'),
    /** Lambda's maximumBatchingWindow; 0 when the mapping sets none */
    batchingWindowSeconds: source.maximumBatchingWindow === undefined ? 0 : number(source.maximumBatchingWindow, 'triage maximumBatchingWindow'),
    reportsBatchItemFailures: source.functionResponseType === 'ReportBatchItemFailures',
    visibilityTimeoutSeconds: number(queue.VisibilityTimeout, 'TriageQueue VisibilityTimeout'),
    maxReceiveCount: number(queue.RedrivePolicy.maxReceiveCount, 'TriageQueue maxReceiveCount'),
    fifo: queue.FifoQueue === true,
  };
}

export const deployed = {
  queue: {
    visibilityTimeoutSeconds: number(healQueue.VisibilityTimeout, 'HealQueue VisibilityTimeout'),
    maxReceiveCount: number(healQueue.RedrivePolicy.maxReceiveCount, 'HealQueue maxReceiveCount'),
    /** SQS FIFO's deduplication interval: fixed by SQS, not a setting */
    deduplicationWindowSeconds: 300,
  },
  /** each function's timeout in seconds (serverless's default is 6) */
  functionTimeoutSeconds: Object.fromEntries(Object.entries(functions).map(([name, f]) => [name, f.timeout ?? 6])) as Record<string, number>,
  functions,
  triage: triageSettings(),
  hooks: { launch: hook('warren-launch'), terminate: hook('warren-terminate') },
  targetGroups: { amqp: targetGroup('AmqpTargetGroup'), management: targetGroup('ManagementTargetGroup') },
  /** the scheduled reconcile's expression, e.g. rate(5 minutes) */
  reconcileSchedule: params.reconcileSchedule!,
  serverless,
  cluster,
};
