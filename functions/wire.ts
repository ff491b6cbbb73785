import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { createAwsClients, createAwsPorts, type ClientOptions, type Elbv2TargetGroupsOptions, type SsmNodeShellOptions } from '../shared/aws';
import { SqsHealQueue } from '../shared/aws/heal-queue';
import { Ec2AutoScalingInventory } from '../shared/aws/inventory';
import { loadConfig, type Config } from '../shared/config';
import type { EventKind } from '../shared/events/types';
import { createObservability, observability, type Observability } from '../shared/observability';
import type { Clock } from '../shared/ports';
import { answerLambda, systemClock, type Wiring } from '../shared/workflows/invocation';
import { answerTriage } from '../shared/workflows/triage';

/**
 * warren's one composition: the AWS adapters over real SDK v3 clients, wired to the workflows. The
 * Lambda handlers (functions/<name>/handler.ts) build it from the function's environment; the sandbox
 * builds the very same thing pointed at its local AWS endpoint.
 */
export interface Deployment {
  /** the function's environment; process.env in Lambda */
  env?: Record<string, string | undefined>;
  /** where the SDK clients send (the sandbox's endpoint); in Lambda the region and role of the function */
  clients?: ClientOptions;
  /** where Powertools writes; the function's stdout by default */
  telemetry?: Observability;
  clock?: Clock;
  /** polling of SSM and of target health: the sandbox's documented speed-up, defaults in AWS */
  nodeShell?: SsmNodeShellOptions;
  targetGroups?: Elbv2TargetGroupsOptions;
  /** the sandbox's timeline of heals; nothing in Lambda */
  onRecordAnswered?: Wiring['onRecordAnswered'];
}

/** The workflows' wiring for one configuration: every port over the AWS adapters. */
export function wire(config: Config, deployment: Deployment = {}): Omit<Wiring, 'accepts'> {
  const clients = createAwsClients(deployment.clients);
  const aws = createAwsPorts(config, clients, { nodeShell: deployment.nodeShell, targetGroups: deployment.targetGroups });
  const telemetry = deployment.telemetry ?? (deployment.env ? createObservability(config.clusterName, deployment.env) : observability(config.clusterName));
  return {
    config,
    inventory: aws.inventory,
    lifecycle: aws.lifecycle,
    nodes: aws.nodeShell,
    targets: aws.targetGroups,
    queue: aws.healQueue,
    admin: aws.adminCredential,
    metrics: telemetry.recorder,
    clock: deployment.clock ?? systemClock,
    telemetry,
    onRecordAnswered: deployment.onRecordAnswered,
  };
}

/**
 * The heal function's handler. Configuration is read once, at cold start: a bad value fails the cold
 * start with a message naming the variable, before any event is touched.
 */
export function lambdaHandler(accepts: readonly EventKind[], deployment: Deployment = {}) {
  const wiring = { ...wire(configOrLoudFailure(deployment.env), deployment), accepts };
  return (event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'>) => answerLambda(event, wiring, () => context.getRemainingTimeInMillis());
}

/**
 * The triage function's handler: SQS batches of EC2 events, the managed group's handed on to the heal
 * queue (shared/workflows/triage.ts).
 */
export function triageHandler(deployment: Deployment = {}) {
  const config = configOrLoudFailure(deployment.env);
  const clients = createAwsClients(deployment.clients);
  const telemetry = deployment.telemetry ?? (deployment.env ? createObservability(config.clusterName, deployment.env) : observability(config.clusterName));
  const wiring = {
    config,
    inventory: new Ec2AutoScalingInventory(config, clients),
    queue: new SqsHealQueue(config, clients),
    metrics: telemetry.recorder,
    telemetry,
  };
  return (event: unknown) => answerTriage(event, wiring);
}

/*
 * The init error Lambda reports is plain text; a JSON line with the reason is what the log
 * queries and the function-errors alarm's readers look for. Nothing is built before it passes.
 */
function configOrLoudFailure(env: Record<string, string | undefined> = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    const logger = new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME || 'warren' });
    logger.error('invalid configuration; the function cannot start', { reason: (error as Error).message, errorName: (error as Error).name });
    throw error;
  }
}
