import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import type { AwsCredentialIdentity, DeserializeMiddleware, MiddlewareStack } from '@smithy/types';

/**
 * The one place AWS clients are built. Throttling, 5xx answers, timeouts and the eventual-consistency
 * errors below are retried here, by the SDK's own retry strategy, so no adapter carries a retry loop
 * of its own.
 */

/** Attempts per API call, first one included: enough to ride out a burst of throttling in a reconcile. */
export const MAX_ATTEMPTS = 5;

/*
 * Without these the SDK waits up to 15 minutes on a silent connection: the heal function's whole
 * budget, and the waiters of target health and SSM commands only look at their own bound between
 * two requests. Five attempts that each connect slowly and then hear nothing take 50 s, within the
 * alarm function's 60 s (tests/unit/aws-faults/client-config.test.ts).
 */
export const CONNECTION_TIMEOUT_MS = 2_000;
export const SOCKET_TIMEOUT_MS = 8_000;

/**
 * Errors that AWS documents as "not visible yet" right after an instance appears, per operation
 * where they mean that: retried like a transient error, by the same strategy and attempts. Elsewhere
 * they mean what they say (an unknown target on DeregisterTargets is already deregistered).
 */
export const EVENTUALLY_CONSISTENT_ERRORS: Readonly<Record<string, readonly string[]>> = {
  // EC2: tags on an instance launched moments ago
  CreateTagsCommand: ['InvalidInstanceID.NotFound'],
  // SSM: the agent has not registered the instance yet
  SendCommandCommand: ['InvalidInstanceId'],
  // ELBv2: the instance is not yet known as running to the load balancer
  RegisterTargetsCommand: ['InvalidTargetException'],
};

export interface ClientOptions {
  region?: string;
  /** a local cloud (moto, the sandbox) instead of AWS */
  endpoint?: string;
  credentials?: AwsCredentialIdentity;
  maxAttempts?: number;
  /**
   * A fixed delay between attempts instead of the adaptive backoff. Only for tests against local
   * endpoints, where waiting out AWS-sized backoffs would only slow the suite down.
   */
  retryDelayMs?: number;
  /** silence on an open connection after which one attempt fails with TimeoutError (retried); tests shorten it */
  socketTimeoutMs?: number;
}

export interface AwsClients {
  ec2: EC2Client;
  autoScaling: AutoScalingClient;
  ssm: SSMClient;
  elbv2: ElasticLoadBalancingV2Client;
  sqs: SQSClient;
  secretsManager: SecretsManagerClient;
}

/** The configuration every client shares. */
export function clientConfig(options: ClientOptions = {}) {
  const maxAttempts = options.maxAttempts ?? MAX_ATTEMPTS;
  return {
    region: options.region,
    endpoint: options.endpoint,
    credentials: options.credentials,
    maxAttempts,
    // a silent socket fails the attempt with TimeoutError, which the retry strategy treats as transient
    requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, socketTimeout: options.socketTimeoutMs ?? SOCKET_TIMEOUT_MS },
    // adaptive = standard backoff plus client-side rate limiting once AWS starts throttling
    ...(options.retryDelayMs === undefined
      ? { retryMode: 'adaptive' as const }
      : { retryStrategy: new ConfiguredRetryStrategy(maxAttempts, options.retryDelayMs) }),
  };
}

/** Marks the errors of EVENTUALLY_CONSISTENT_ERRORS retryable ($retryable), so the SDK retries them. */
const eventualConsistencyMiddleware: DeserializeMiddleware<object, object> = (next, context) => async (args) => {
  try {
    return await next(args);
  } catch (error) {
    const names = EVENTUALLY_CONSISTENT_ERRORS[context.commandName ?? ''];
    if (names && error instanceof Error && names.includes(error.name)) {
      Object.assign(error, { $retryable: { throttling: false } });
    }
    throw error;
  }
};

// biome-ignore lint/suspicious/noExplicitAny: every client's own input and output types; the middleware reads neither
function withEventualConsistencyRetries<C extends { middlewareStack: MiddlewareStack<any, any> }>(client: C): C {
  // inside the retry middleware (finalizeRequest), around the deserializer that throws the service error
  client.middlewareStack.add(eventualConsistencyMiddleware, { name: 'warrenEventualConsistency', step: 'deserialize', priority: 'high' });
  return client;
}

export const createEc2Client = (options?: ClientOptions) => withEventualConsistencyRetries(new EC2Client(clientConfig(options)));
export const createAutoScalingClient = (options?: ClientOptions) => withEventualConsistencyRetries(new AutoScalingClient(clientConfig(options)));
export const createSsmClient = (options?: ClientOptions) => withEventualConsistencyRetries(new SSMClient(clientConfig(options)));
export const createElbv2Client = (options?: ClientOptions) => withEventualConsistencyRetries(new ElasticLoadBalancingV2Client(clientConfig(options)));
export const createSqsClient = (options?: ClientOptions) => withEventualConsistencyRetries(new SQSClient(clientConfig(options)));
export const createSecretsManagerClient = (options?: ClientOptions) => new SecretsManagerClient(clientConfig(options));

export function createAwsClients(options?: ClientOptions): AwsClients {
  return {
    ec2: createEc2Client(options),
    autoScaling: createAutoScalingClient(options),
    ssm: createSsmClient(options),
    elbv2: createElbv2Client(options),
    sqs: createSqsClient(options),
    secretsManager: createSecretsManagerClient(options),
  };
}
