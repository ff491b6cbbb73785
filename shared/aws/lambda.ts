import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { loadConfig, type Config } from '../config';
import type { EventKind } from '../events/types';
import { observability } from '../observability';
import { answerLambda, systemClock } from '../workflows/invocation';
import { answerTriage } from '../workflows/triage';
import { createAwsPorts } from './index';
import { createEc2Client, createSqsClient } from './clients';
import { SqsHealQueue } from './heal-queue';
import { Ec2AutoScalingInventory } from './inventory';

/**
 * A Lambda handler over the AWS adapters. Configuration is read once, at cold start: a bad value
 * fails the cold start with a message naming the variable, before any event is touched.
 */
export function lambdaHandler(accepts: readonly EventKind[]) {
  const config = configOrLoudFailure();
  const aws = createAwsPorts(config);
  const telemetry = observability(config.clusterName);
  const wiring = {
    config,
    inventory: aws.inventory,
    lifecycle: aws.lifecycle,
    nodes: aws.nodeShell,
    targets: aws.targetGroups,
    queue: aws.healQueue,
    metrics: telemetry.recorder,
    clock: systemClock,
    telemetry,
    accepts,
  };
  return (event: unknown, context: Context) => answerLambda(event, wiring, () => context.getRemainingTimeInMillis());
}

/**
 * The triage function's handler: SQS batches of EC2 events, the managed group's handed on to the heal
 * queue (shared/workflows/triage.ts).
 */
export function triageHandler() {
  const config = configOrLoudFailure();
  const telemetry = observability(config.clusterName);
  const wiring = {
    config,
    inventory: new Ec2AutoScalingInventory(config, { ec2: createEc2Client() }),
    queue: new SqsHealQueue(config, { sqs: createSqsClient() }),
    metrics: telemetry.recorder,
    telemetry,
  };
  return (event: unknown) => answerTriage(event, wiring);
}

/*
 * The init error Lambda reports is plain text; a JSON line with the reason is what the log
 * queries and the function-errors alarm's readers look for. Nothing is built before it passes.
 */
function configOrLoudFailure(): Config {
  try {
    return loadConfig();
  } catch (error) {
    const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME || 'warren' });
    logger.error('invalid configuration; the function cannot start', { reason: (error as Error).message, errorName: (error as Error).name });
    throw error;
  }
}
