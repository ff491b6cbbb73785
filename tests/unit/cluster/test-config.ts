import { loadConfig, type Config } from '../../../shared/config';

export const GROUP = 'rabbit-asg';

/** A real configuration, parsed the way the Lambda parses it, with test overrides. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    CLUSTER_NAME: 'test',
    ASG_NAME: GROUP,
    AMQP_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/amqp/0123456789abcdef',
    MANAGEMENT_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mgmt/fedcba9876543210',
    ...env,
  });
}
