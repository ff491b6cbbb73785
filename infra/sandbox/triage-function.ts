import { deployed } from '../deploy/settings';
import { answerTriage, type TriageWiring } from '../../shared/workflows/triage';
import { LocalBatchQueue, type BatchFunction, type BatchQueueOptions } from './batch-queue';
import type { Scheduler } from './cloud/scheduler';

/** The triage queue and its event source mapping as serverless.yml deploys them. */
export function triageQueueOptions(): BatchQueueOptions {
  const { batchSize, batchingWindowSeconds, visibilityTimeoutSeconds, maxReceiveCount } = deployed.triage;
  return { batchSize, batchingWindowMs: batchingWindowSeconds * 1000, visibilityTimeoutMs: visibilityTimeoutSeconds * 1000, maxReceiveCount };
}

/**
 * The triage function behind its standard queue: batches of EC2 events through the function's own
 * entry (answerTriage), the group's events on into the heal FIFO queue. `invoke` stands for Lambda
 * between the queue and the function (the benchmark charges its latency there).
 */
export function triageFunction(scheduler: Scheduler, wiring: TriageWiring, invoke = (run: BatchFunction): BatchFunction => run): LocalBatchQueue {
  return new LocalBatchQueue(scheduler, invoke((event) => answerTriage(event, wiring)), triageQueueOptions());
}
