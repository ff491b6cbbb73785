import { loadConfig } from '../../../shared/config';
import { ConfigError } from '../../../shared/errors';
import { awsRequests, coldStart, ENV, invoke, resetAws, withoutPowertoolsDevMode } from '../../support/handler-harness';

/*
 * Bad configuration (issue 5): the cold start fails loudly, with a JSON log line and a ConfigError
 * that both name the variable, before any client sends anything. Lambda then reports an init error
 * for every delivery, so SQS keeps the events and, after five receives, moves them to the
 * dead-letter queue, where they wait for the fix (and the function-errors alarm fires).
 */

const configuration: Record<string, { env: Record<string, string | undefined>; names: RegExp }> = {
  'CLUSTER_NAME missing': { env: { CLUSTER_NAME: undefined }, names: /CLUSTER_NAME/ },
  'ASG_NAME with a shell command in it': { env: { ASG_NAME: 'orders-rabbitmq; reboot' }, names: /ASG_NAME: not an Auto Scaling group name/ },
  'AMQP_TARGET_GROUP_ARN naming a load balancer, not a target group': {
    env: { AMQP_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/orders/0123456789abcdef' },
    names: /AMQP_TARGET_GROUP_ARN: not a target group ARN/,
  },
  'the same ARN for both target groups': {
    env: { MANAGEMENT_TARGET_GROUP_ARN: ENV.AMQP_TARGET_GROUP_ARN },
    names: /AMQP_TARGET_GROUP_ARN and MANAGEMENT_TARGET_GROUP_ARN must differ/,
  },
  'HEARTBEAT_INTERVAL_SECONDS equal to LAUNCH_TIMEOUT_SECONDS': {
    env: { HEARTBEAT_INTERVAL_SECONDS: '600', LAUNCH_TIMEOUT_SECONDS: '600' },
    names: /HEARTBEAT_INTERVAL_SECONDS must be below LAUNCH_TIMEOUT_SECONDS/,
  },
  'ALARM_RUNBOOK that is not JSON': { env: { ALARM_RUNBOOK: '[{"alarm": "warren-orders-", ' }, names: /ALARM_RUNBOOK: not valid JSON/ },
  'ALARM_RUNBOOK with an action warren does not have': {
    env: { ALARM_RUNBOOK: '[{"alarm": "warren-orders-", "action": "reboot"}]' },
    names: /ALARM_RUNBOOK\.0\.action/,
  },
  // sent to the nodes as AdminSecretId, whose allowedPattern it must pass
  'ADMIN_SECRET_ID with a character no secret name has': {
    env: { ADMIN_SECRET_ID: 'warren/orders/admin; reboot' },
    names: /ADMIN_SECRET_ID: not a Secrets Manager secret name or ARN/,
  },
  // SSM reserves these document name prefixes: every SendCommand would name a document that cannot exist
  'SSM_DOCUMENT_PREFIX starting with aws': { env: { SSM_DOCUMENT_PREFIX: 'aws-mq-' }, names: /SSM_DOCUMENT_PREFIX: must not start with aws, amazon or amzn/ },
  'SSM_DOCUMENT_PREFIX starting with Amazon, in another case': {
    env: { SSM_DOCUMENT_PREFIX: 'AmazonMQ-' },
    names: /SSM_DOCUMENT_PREFIX: must not start with aws, amazon or amzn/,
  },
  'SSM_DOCUMENT_PREFIX starting with amzn': {
    env: { SSM_DOCUMENT_PREFIX: 'amznorders-' },
    names: /SSM_DOCUMENT_PREFIX: must not start with aws, amazon or amzn/,
  },
  'LAUNCH_TIMEOUT_SECONDS that is not a number': { env: { LAUNCH_TIMEOUT_SECONDS: 'ten minutes' }, names: /LAUNCH_TIMEOUT_SECONDS/ },
};

describe('a bad configuration fails the cold start, names the variable and acts on nothing', () => {
  withoutPowertoolsDevMode();
  beforeEach(() => resetAws());

  it.each(Object.entries(configuration))('%s', async (_, bad) => {
    const { error, lines } = await coldStart('heal', { ...ENV, ...bad.env });

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(bad.names);
    const logged = lines.filter((line) => line.level === 'ERROR');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({
      message: 'invalid configuration; the function cannot start',
      service: 'warren',
      errorName: 'ConfigError',
      reason: expect.stringMatching(bad.names),
    });
    expect(awsRequests()).toEqual([]);
  });

  it('refuses only the reserved document name prefixes, not those letters later in the prefix', () => {
    for (const prefix of ['orders-aws-', 'a-warren-', 'Amaz-', 'warren-']) {
      expect(loadConfig({ ...ENV, SSM_DOCUMENT_PREFIX: prefix }).ssmDocumentPrefix).toBe(prefix);
    }
  });

  it('never reaches the event: the invocation fails with its cold start', async () => {
    const { error, result } = await invoke('alarm', { dryRun: true }, { ...ENV, CLUSTER_NAME: undefined });

    expect(error).toBeInstanceOf(ConfigError);
    expect(result).toBeUndefined();
    expect(awsRequests()).toEqual([]);
  });
});
