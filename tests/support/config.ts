import { type Config, loadConfig } from '../../shared/config';

/*
 * The functions' configuration for tests, read through the real loader (shared/config.ts), so a test
 * sees what a deployment sees. The deployed settings themselves (serverless.yml, infra/cluster.yml) are
 * tests/support/deployed.ts.
 */

export const GROUP = 'rabbit-asg';

/** A real configuration for the workflows and the sandbox, parsed the way the Lambda parses it, with test overrides. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    CLUSTER_NAME: 'test',
    ASG_NAME: GROUP,
    AMQP_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/amqp/0123456789abcdef',
    MANAGEMENT_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mgmt/fedcba9876543210',
    ...env,
  });
}

/** A valid environment of the functions as a deployment sets it, with account-shaped names: the AWS adapters' tests. */
export const TEST_ENVIRONMENT: Record<string, string> = {
  CLUSTER_NAME: 'orders',
  ASG_NAME: 'orders-rabbitmq',
  AMQP_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-amqp/0123456789abcdef',
  MANAGEMENT_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-mgmt/fedcba9876543210',
  HEAL_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/orders-heal.fifo',
  SSM_DOCUMENT_PREFIX: 'warren-',
};

/** The configuration of TEST_ENVIRONMENT. */
export const adapterConfig = loadConfig({ ...TEST_ENVIRONMENT, SSM_COMMAND_TIMEOUT_SECONDS: '60' });
