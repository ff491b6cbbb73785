import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import type { AwsCredentialIdentity } from '@smithy/types';

/**
 * The one place AWS clients are built. Throttling and 5xx answers are retried here, by the SDK's
 * own retry strategy, so no adapter carries a retry loop of its own.
 */

/** Attempts per API call, first one included: enough to ride out a burst of throttling in a reconcile. */
export const MAX_ATTEMPTS = 5;

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
}

export interface AwsClients {
  ec2: EC2Client;
  autoScaling: AutoScalingClient;
  ssm: SSMClient;
  elbv2: ElasticLoadBalancingV2Client;
  sqs: SQSClient;
}

/** The configuration every client shares. */
export function clientConfig(options: ClientOptions = {}) {
  const maxAttempts = options.maxAttempts ?? MAX_ATTEMPTS;
  return {
    region: options.region,
    endpoint: options.endpoint,
    credentials: options.credentials,
    maxAttempts,
    // adaptive = standard backoff plus client-side rate limiting once AWS starts throttling
    ...(options.retryDelayMs === undefined
      ? { retryMode: 'adaptive' as const }
      : { retryStrategy: new ConfiguredRetryStrategy(maxAttempts, options.retryDelayMs) }),
  };
}

export const createEc2Client = (options?: ClientOptions) => new EC2Client(clientConfig(options));
export const createAutoScalingClient = (options?: ClientOptions) => new AutoScalingClient(clientConfig(options));
export const createSsmClient = (options?: ClientOptions) => new SSMClient(clientConfig(options));
export const createElbv2Client = (options?: ClientOptions) => new ElasticLoadBalancingV2Client(clientConfig(options));
export const createSqsClient = (options?: ClientOptions) => new SQSClient(clientConfig(options));

export function createAwsClients(options?: ClientOptions): AwsClients {
  return {
    ec2: createEc2Client(options),
    autoScaling: createAutoScalingClient(options),
    ssm: createSsmClient(options),
    elbv2: createElbv2Client(options),
    sqs: createSqsClient(options),
  };
}
