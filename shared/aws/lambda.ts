import type { Context } from 'aws-lambda';
import { loadConfig } from '../config';
import type { EventKind } from '../events/types';
import { observability } from '../observability';
import { handleInvocation, systemClock } from '../workflows/invocation';
import { createAwsPorts } from './index';

/**
 * A Lambda handler over the AWS adapters. Configuration is read once, at cold start: a bad value
 * fails the cold start with a message naming the variable, before any event is touched.
 */
export function lambdaHandler(accepts: readonly EventKind[]) {
  const config = loadConfig();
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
  return (event: unknown, context: Context) => handleInvocation(event, wiring, () => context.getRemainingTimeInMillis());
}
