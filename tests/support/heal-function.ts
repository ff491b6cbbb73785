import { schedulerOn } from '../../infra/sandbox/cloud/scheduler';
import { healQueueOptions, LocalQueue } from '../../infra/sandbox/queue';
import { createObservability } from '../../shared/observability';
import { answerLambda, type Wiring } from '../../shared/workflows/invocation';
import type { FakeCloud } from './fake-cloud';
import { deployed } from './deployed';
import { healQueueOnModel } from './model-heal-queue';

const HEAL_KINDS = ['launch', 'terminate', 'gone', 'interruption', 'reconcile', 'alarm', 'refresh-succeeded'] as const;

/**
 * The heal function behind its SQS FIFO queue on virtual time, as deployed: the queue's visibility
 * timeout and redrive from serverless.yml, the function's timeout as its remaining time, records in
 * and batchItemFailures out of answerLambda, over the fake cloud's ports and clock.
 */
export function healFunctionOn(cloud: FakeCloud) {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  const telemetry = createObservability(cloud.config.clusterName);
  const timeoutMs = deployed.functionTimeoutSeconds.heal! * 1000;
  const handled: Array<{ at: number; body: string; outcome: string }> = [];
  let queue: LocalQueue | undefined;
  queue = new LocalQueue(schedulerOn(cloud.clock), healQueueOptions(cloud.config.clusterName), async (event) => {
    const started = cloud.clock.now();
    const { log: _log, deadline: _deadline, queue: _fake, ...ports } = cloud.deps();
    const wiring: Wiring = {
      ...ports,
      queue: healQueueOnModel(queue!),
      telemetry,
      accepts: HEAL_KINDS,
      onRecordAnswered: ({ outcome, error, deferred }) => {
        if (deferred) return;
        handled.push({ at: started, body: event.Records[0]!.body, outcome: outcome ? outcome.result : `failed: ${String(error)}` });
      },
    };
    return answerLambda(event, wiring, () => timeoutMs - (cloud.clock.now() - started));
  });
  return {
    queue,
    /** every record the function answered, in order */
    handled,
    /** EventBridge's SendMessage to the queue: the event as its JSON body */
    deliver: (event: unknown) => queue!.send(JSON.stringify(event)),
  };
}
