import * as z from 'zod';
import { ConfigError } from './errors';
import { QUEUE_TYPES, type QueueType } from './rabbitmq/operations';

/**
 * warren's configuration, read once from the environment at cold start. Every bad value is
 * reported with the name of its variable; nothing runs on a half-valid configuration.
 */

const seconds = (fallback: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/** PutLifecycleHook's LifecycleHookName: 1-255 of letters, digits, - _ / */
const hookName = z.string().regex(/^[A-Za-z0-9\-_/]{1,255}$/, 'not a lifecycle hook name');

const targetGroupArn = z
  .string()
  .regex(/^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/, 'not a target group ARN');

const alarmRule = z.object({
  /** exact alarm name, or a prefix when match is "prefix" */
  alarm: z.string().min(1),
  match: z.enum(['name', 'prefix']).default('name'),
  action: z.enum(['replace-instance', 'reconcile']),
});
export type AlarmRule = z.infer<typeof alarmRule>;

/** An Instance Refresh's AlarmSpecification takes at most this many alarms. */
export const MAX_REFRESH_ALARMS = 10;

/**
 * CloudWatch alarm names, comma-separated: each 1-255 characters without control characters (PutMetricAlarm's
 * and AlarmSpecification's constraint), so none may contain a comma; empty means none.
 */
const alarmNames = z
  .string()
  .default('')
  .transform((text, ctx) => {
    if (text === '') return [];
    const names = text.split(',');
    names.forEach((name, index) => {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
      if (!/^[^\u0000-\u001f\u007f]{1,255}$/.test(name)) {
        ctx.addIssue({
          code: 'custom',
          message: `name ${index + 1} (${JSON.stringify(name)}) is not a CloudWatch alarm name: 1-255 characters, no control characters or commas`,
        });
      }
    });
    if (names.length > MAX_REFRESH_ALARMS) {
      ctx.addIssue({ code: 'custom', message: `${names.length} alarms: an Instance Refresh's AlarmSpecification takes at most ${MAX_REFRESH_ALARMS}` });
    }
    if (new Set(names).size !== names.length) ctx.addIssue({ code: 'custom', message: 'an alarm is named twice' });
    return names;
  });

const jsonOf = <T extends z.ZodTypeAny>(schema: T) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);

/** Classic mirroring keys (ha-mode, ha-params, ha-sync-mode, ...): RabbitMQ 4.0 refuses any policy carrying one. */
export function mirroringKeys(definition: Record<string, unknown>): string[] {
  return Object.keys(definition).filter((key) => key.startsWith('ha-'));
}

// The allowedPatterns of the policy parameters in infra/ssm/NodeJoin.yml and NodeApplyPolicy.yml: a value
// they refuse would make SSM refuse the whole command (tests/unit/cluster/policy-documents.test.ts).
export const POLICY_PARAMETER_PATTERNS = {
  PolicyName: /^[A-Za-z0-9_.-]{0,64}$/,
  // biome-ignore lint/complexity/noUselessEscapeInRegex: byte for byte the documents' allowedPattern (policy-documents.test.ts)
  PolicyPattern: /^[A-Za-z0-9_.*+?^$|()\[\]{}\\,:@/-]{0,255}$/,
  // biome-ignore lint/complexity/noUselessEscapeInRegex: byte for byte the documents' allowedPattern (policy-documents.test.ts)
  PolicyDefinition: /^\{[A-Za-z0-9_":,.{}\[\] @-]{0,2000}\}$/,
} as const;

const policyName = (min: number) => z.string().regex(POLICY_PARAMETER_PATTERNS.PolicyName, 'letters, digits, _ . - only, at most 64').min(min);
const policyPattern = z
  .string()
  .regex(POLICY_PARAMETER_PATTERNS.PolicyPattern, 'a character outside letters, digits and _.*+?^$|()[]{}\\,:@/-, or longer than 255');
/** A policy definition: a flat JSON object; without mirroring keys when the policy is for 4.x. */
const policyDefinition = (fallback: string, { mirroring }: { mirroring: 'allowed' | 'refused' }) =>
  jsonOf(z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])))
    .superRefine((definition, ctx) => {
      if (!POLICY_PARAMETER_PATTERNS.PolicyDefinition.test(JSON.stringify(definition))) {
        ctx.addIssue({
          code: 'custom',
          message: 'as sent (compact JSON) it has a character outside letters, digits and _":,.{}[] @-, or is over 2000 characters',
        });
      }
      const keys = mirroring === 'refused' ? mirroringKeys(definition) : [];
      if (keys.length > 0)
        ctx.addIssue({ code: 'custom', message: `mirroring keys ${keys.join(', ')} are not allowed: RabbitMQ 4.0 removed classic mirroring` });
    })
    .prefault(fallback);

const policyApplyTo = z.enum(['queues', 'exchanges', 'all']).default('queues');
const policyPriority = z.coerce.number().int().min(0).max(999).default(0);

/** CreateDocument refuses a name starting with one of these (AWSEC2, AWSSupport, ... are aws too); infra/cluster.yml's ClusterName refuses them too. */
export const SSM_RESERVED_PREFIX = /^(aws|amazon|amzn)/i;

/** NodeApplyPolicy's allowedPattern for AdminSecretId: a secret's name or ARN, or empty */
export const ADMIN_SECRET_ID_PATTERN = /^(|[A-Za-z0-9/_+=.@:-]{1,2048})$/;

const environment = z.object({
  CLUSTER_NAME: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/, 'letters, digits and dashes, at most 63'),
  ASG_NAME: z.string().regex(/^[\w.:/-]{1,255}$/, 'not an Auto Scaling group name'),
  AMQP_TARGET_GROUP_ARN: targetGroupArn,
  MANAGEMENT_TARGET_GROUP_ARN: targetGroupArn,
  SSM_DOCUMENT_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{3,100}$/, 'not an SSM document name prefix')
    .refine((prefix) => !SSM_RESERVED_PREFIX.test(prefix), 'must not start with aws, amazon or amzn (any case): SSM reserves those document name prefixes')
    .default('warren-'),
  /**
   * the administrator credential's secret (Secrets Manager, name or ARN): warren keeps a user of that
   * name and password on the cluster; empty or absent keeps none
   */
  ADMIN_SECRET_ID: z
    .string()
    .regex(ADMIN_SECRET_ID_PATTERN, 'not a Secrets Manager secret name or ARN')
    .default('')
    .transform((id) => id || undefined),
  HEAL_QUEUE_URL: z.string().url().optional(),
  /** where an event goes after its last failed attempt (the heal queue's dead-letter queue) */
  HEAL_DEAD_LETTER_QUEUE_URL: z.string().url().optional(),
  /** attempts of one event, the first included, before it is dead-lettered */
  HEAL_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  /** a failed event comes back after this long, doubling with each further failure */
  HEAL_RETRY_DELAY_SECONDS: seconds(10, 1, 900),
  /** the classic mirrored policy: applied on 3.x only */
  HA_POLICY_NAME: policyName(1).default('ha-all'),
  HA_POLICY_PATTERN: policyPattern.default(''),
  HA_POLICY_DEFINITION: policyDefinition('{"ha-mode":"all","ha-sync-mode":"automatic"}', { mirroring: 'allowed' }),
  HA_POLICY_APPLY_TO: policyApplyTo,
  HA_POLICY_PRIORITY: policyPriority,
  /** the policy applied on 4.x and later instead; an empty name applies none */
  QUORUM_POLICY_NAME: policyName(0).default('warren-quorum'),
  QUORUM_POLICY_PATTERN: policyPattern.default('.*'),
  QUORUM_POLICY_DEFINITION: policyDefinition('{"queue-leader-locator":"balanced"}', { mirroring: 'refused' }),
  QUORUM_POLICY_APPLY_TO: policyApplyTo,
  QUORUM_POLICY_PRIORITY: policyPriority,
  /** default queue type of vhost "/", set on 4.x and later only; empty leaves it as it is */
  DEFAULT_QUEUE_TYPE: z.enum(['', ...QUEUE_TYPES]).default('quorum'),
  ALARM_RUNBOOK: jsonOf(z.array(alarmRule)).prefault('[]'),
  /** replacements never take the healthy running members below this; 0 means a majority of desired capacity */
  MIN_HEALTHY_MEMBERS: z.coerce.number().int().min(0).max(1000).default(0),
  /** the alarms `warren roll` names in an Instance Refresh's AlarmSpecification (serverless.yml sets them on the heal function) */
  REFRESH_ALARM_NAMES: alarmNames,
  /** the group's lifecycle hooks (infra/cluster.yml): reconcile names them when it takes over a hook whose event never came */
  LAUNCH_HOOK_NAME: hookName.default('warren-launch'),
  TERMINATE_HOOK_NAME: hookName.default('warren-terminate'),
  /** launch: from the event to a verified member, else ABANDON */
  LAUNCH_TIMEOUT_SECONDS: seconds(600, 30, 7200),
  /** terminate: how long a quorum- or mirror-sync-critical node may hold its hook */
  LEAVE_WAIT_TIMEOUT_SECONDS: seconds(1800, 0, 86400),
  DEREGISTRATION_TIMEOUT_SECONDS: seconds(300, 0, 3600),
  TARGET_HEALTHY_TIMEOUT_SECONDS: seconds(300, 10, 3600),
  AGENT_ONLINE_TIMEOUT_SECONDS: seconds(300, 10, 3600),
  HEARTBEAT_INTERVAL_SECONDS: seconds(60, 5, 3600),
  SSM_COMMAND_TIMEOUT_SECONDS: seconds(180, 30, 3600),
  CRITICAL_RECHECK_SECONDS: seconds(15, 1, 600),
  /**
   * Khepri (4.x) with a majority of its members lost for good: "manual" (the default) only reports the
   * recovery (finding majority-lost, alarm) for an operator to run; "auto" lets reconcile run it
   */
  MAJORITY_LOSS_RECOVERY: z.enum(['manual', 'auto']).default('manual'),
});

export type Environment = z.infer<typeof environment>;

export interface PolicySettings {
  name: string;
  pattern: string;
  definition: Record<string, string | number | boolean>;
  applyTo: string;
  priority: number;
}

export interface Config {
  clusterName: string;
  autoScalingGroupName: string;
  targetGroups: { amqp: string; management: string };
  ssmDocumentPrefix: string;
  /** the administrator credential's secret: its name or ARN, when warren keeps the user (NodeApplyPolicy's AdminSecretId) */
  adminSecretId?: string;
  healQueueUrl?: string;
  healDeadLetterQueueUrl?: string;
  /** how a failed event is tried again: see shared/workflows/redelivery.ts */
  retry: { maxAttempts: number; firstDelaySeconds: number };
  /** the classic mirrored policy, sent to 3.x only */
  haPolicy: PolicySettings;
  /** the policy sent to 4.x and later; an empty name means none */
  quorumPolicy: PolicySettings;
  /** default queue type of vhost "/" on 4.x and later; '' leaves it as it is */
  defaultQueueType: QueueType | '';
  alarmRunbook: AlarmRule[];
  minHealthyMembers: number;
  /** the alarms that stop and roll back a rolling replacement (Instance Refresh AlarmSpecification), at most 10 */
  refreshAlarmNames: string[];
  /** who runs the recovery from a lost Khepri majority: an operator (manual) or reconcile (auto) */
  majorityLossRecovery: 'manual' | 'auto';
  lifecycleHooks: { launch: string; terminate: string };
  bounds: {
    launchSeconds: number;
    leaveWaitSeconds: number;
    deregistrationSeconds: number;
    targetHealthySeconds: number;
    agentOnlineSeconds: number;
    heartbeatIntervalSeconds: number;
    ssmCommandSeconds: number;
    criticalRecheckSeconds: number;
  };
}

/** Reads and checks the configuration; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = environment.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  if (e.AMQP_TARGET_GROUP_ARN === e.MANAGEMENT_TARGET_GROUP_ARN) {
    throw new ConfigError('invalid configuration: AMQP_TARGET_GROUP_ARN and MANAGEMENT_TARGET_GROUP_ARN must differ');
  }
  if (e.QUORUM_POLICY_NAME === e.HA_POLICY_NAME) {
    // After an upgrade the 3.x mirroring policy of that name would pass for the 4.x policy.
    throw new ConfigError('invalid configuration: QUORUM_POLICY_NAME must differ from HA_POLICY_NAME');
  }
  if (e.HEARTBEAT_INTERVAL_SECONDS >= e.LAUNCH_TIMEOUT_SECONDS) {
    throw new ConfigError('invalid configuration: HEARTBEAT_INTERVAL_SECONDS must be below LAUNCH_TIMEOUT_SECONDS');
  }
  return {
    clusterName: e.CLUSTER_NAME,
    autoScalingGroupName: e.ASG_NAME,
    targetGroups: { amqp: e.AMQP_TARGET_GROUP_ARN, management: e.MANAGEMENT_TARGET_GROUP_ARN },
    ssmDocumentPrefix: e.SSM_DOCUMENT_PREFIX,
    ...(e.ADMIN_SECRET_ID ? { adminSecretId: e.ADMIN_SECRET_ID } : {}),
    healQueueUrl: e.HEAL_QUEUE_URL,
    healDeadLetterQueueUrl: e.HEAL_DEAD_LETTER_QUEUE_URL,
    retry: { maxAttempts: e.HEAL_MAX_ATTEMPTS, firstDelaySeconds: e.HEAL_RETRY_DELAY_SECONDS },
    haPolicy: {
      name: e.HA_POLICY_NAME,
      pattern: e.HA_POLICY_PATTERN,
      definition: e.HA_POLICY_DEFINITION,
      applyTo: e.HA_POLICY_APPLY_TO,
      priority: e.HA_POLICY_PRIORITY,
    },
    quorumPolicy: {
      name: e.QUORUM_POLICY_NAME,
      pattern: e.QUORUM_POLICY_PATTERN,
      definition: e.QUORUM_POLICY_DEFINITION,
      applyTo: e.QUORUM_POLICY_APPLY_TO,
      priority: e.QUORUM_POLICY_PRIORITY,
    },
    defaultQueueType: e.DEFAULT_QUEUE_TYPE,
    alarmRunbook: e.ALARM_RUNBOOK,
    minHealthyMembers: e.MIN_HEALTHY_MEMBERS,
    refreshAlarmNames: e.REFRESH_ALARM_NAMES,
    majorityLossRecovery: e.MAJORITY_LOSS_RECOVERY,
    lifecycleHooks: { launch: e.LAUNCH_HOOK_NAME, terminate: e.TERMINATE_HOOK_NAME },
    bounds: {
      launchSeconds: e.LAUNCH_TIMEOUT_SECONDS,
      leaveWaitSeconds: e.LEAVE_WAIT_TIMEOUT_SECONDS,
      deregistrationSeconds: e.DEREGISTRATION_TIMEOUT_SECONDS,
      targetHealthySeconds: e.TARGET_HEALTHY_TIMEOUT_SECONDS,
      agentOnlineSeconds: e.AGENT_ONLINE_TIMEOUT_SECONDS,
      heartbeatIntervalSeconds: e.HEARTBEAT_INTERVAL_SECONDS,
      ssmCommandSeconds: e.SSM_COMMAND_TIMEOUT_SECONDS,
      criticalRecheckSeconds: e.CRITICAL_RECHECK_SECONDS,
    },
  };
}
