import { loadConfig } from '../../../shared/config';

/** A valid environment of the functions, as a deployment sets it. */
export const TEST_ENVIRONMENT: Record<string, string> = {
  CLUSTER_NAME: 'orders',
  ASG_NAME: 'orders-rabbitmq',
  AMQP_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-amqp/0123456789abcdef',
  MANAGEMENT_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-mgmt/fedcba9876543210',
  HEAL_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/orders-heal.fifo',
  SSM_DOCUMENT_PREFIX: 'warren-',
};

/** A valid configuration, read through the real loader so tests see what a deployment sees. */
export const testConfig = loadConfig({ ...TEST_ENVIRONMENT, SSM_COMMAND_TIMEOUT_SECONDS: '60' });
