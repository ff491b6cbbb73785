import { z } from 'zod';
import { ConfigError } from './errors';

/**
 * warren's configuration, read once from the environment at cold start. Every bad value is
 * reported with the name of its variable; nothing runs on a half-valid configuration.
 */

const seconds = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

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

const jsonOf = <T extends z.ZodTypeAny>(schema: T) =>
  z.string().transform((text, ctx) => {
    try {
      return JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not valid JSON' });
      return z.NEVER;
    }
  }).pipe(schema);

const haPolicyDefinition = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

const environment = z.object({
  CLUSTER_NAME: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/, 'letters, digits and dashes, at most 63'),
  ASG_NAME: z.string().regex(/^[\w.:/-]{1,255}$/, 'not an Auto Scaling group name'),
  AMQP_TARGET_GROUP_ARN: targetGroupArn,
  MANAGEMENT_TARGET_GROUP_ARN: targetGroupArn,
  SSM_DOCUMENT_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]{3,100}$/, 'not an SSM document name prefix').default('warren-'),
  HEAL_QUEUE_URL: z.string().url().optional(),
  HA_POLICY_NAME: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('ha-all'),
  HA_POLICY_PATTERN: z.string().max(255).default(''),
  HA_POLICY_DEFINITION: jsonOf(haPolicyDefinition).prefault('{"ha-mode":"all","ha-sync-mode":"automatic"}'),
  HA_POLICY_APPLY_TO: z.enum(['queues', 'exchanges', 'all']).default('queues'),
  HA_POLICY_PRIORITY: z.coerce.number().int().min(0).max(999).default(0),
  ALARM_RUNBOOK: jsonOf(z.array(alarmRule)).prefault('[]'),
  /** replacements never take the healthy running members below this; 0 means a majority of desired capacity */
  MIN_HEALTHY_MEMBERS: z.coerce.number().int().min(0).max(1000).default(0),
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
});

export type Environment = z.infer<typeof environment>;

export interface Config {
  clusterName: string;
  autoScalingGroupName: string;
  targetGroups: { amqp: string; management: string };
  ssmDocumentPrefix: string;
  healQueueUrl?: string;
  haPolicy: { name: string; pattern: string; definition: Record<string, string | number | boolean>; applyTo: string; priority: number };
  alarmRunbook: AlarmRule[];
  minHealthyMembers: number;
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
  if (e.HEARTBEAT_INTERVAL_SECONDS >= e.LAUNCH_TIMEOUT_SECONDS) {
    throw new ConfigError('invalid configuration: HEARTBEAT_INTERVAL_SECONDS must be below LAUNCH_TIMEOUT_SECONDS');
  }
  return {
    clusterName: e.CLUSTER_NAME,
    autoScalingGroupName: e.ASG_NAME,
    targetGroups: { amqp: e.AMQP_TARGET_GROUP_ARN, management: e.MANAGEMENT_TARGET_GROUP_ARN },
    ssmDocumentPrefix: e.SSM_DOCUMENT_PREFIX,
    healQueueUrl: e.HEAL_QUEUE_URL,
    haPolicy: {
      name: e.HA_POLICY_NAME,
      pattern: e.HA_POLICY_PATTERN,
      definition: e.HA_POLICY_DEFINITION,
      applyTo: e.HA_POLICY_APPLY_TO,
      priority: e.HA_POLICY_PRIORITY,
    },
    alarmRunbook: e.ALARM_RUNBOOK,
    minHealthyMembers: e.MIN_HEALTHY_MEMBERS,
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
