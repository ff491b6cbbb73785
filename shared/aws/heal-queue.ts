import { randomUUID } from 'node:crypto';
import { reconcileRequest } from '../events/reconcile';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config';
import { ConfigError } from '../errors';
import type { HealQueue } from '../ports';
import { createSqsClient } from './clients';
import { request } from './errors';

const DEDUPLICATION_WINDOW_MS = 60_000;

export interface SqsHealQueueOptions {
  /** epoch ms; injected so tests can place enqueues inside or across a deduplication minute */
  now?: () => number;
}

/**
 * The heal function's FIFO queue. A reconcile request is an EventBridge-shaped event of warren's
 * own source (see shared/events/reconcile.ts), so it is never mistaken for the scheduled tick.
 */
export class SqsHealQueue implements HealQueue {
  private readonly sqs: SQSClient;
  private readonly queueUrl: string;
  private readonly now: () => number;

  constructor(
    private readonly config: Pick<Config, 'clusterName' | 'healQueueUrl'>,
    clients: { sqs?: SQSClient } = {},
    options: SqsHealQueueOptions = {},
  ) {
    if (!config.healQueueUrl) throw new ConfigError('invalid configuration: HEAL_QUEUE_URL is required to enqueue a reconcile');
    this.queueUrl = config.healQueueUrl;
    this.sqs = clients.sqs ?? createSqsClient();
    this.now = options.now ?? Date.now;
  }

  /*
   * Every membership change of a cluster shares one message group, so reconciles queue behind
   * them. The deduplication id is the minute: a burst of alarms asking for a reconcile
   * collapses into one, whatever reason each one gives.
   */
  async enqueueReconcile(reason: string): Promise<void> {
    const now = this.now();
    const event = reconcileRequest(reason, { now: () => now, newId: () => randomUUID() });
    const minute = Math.floor(now / DEDUPLICATION_WINDOW_MS);
    await request('SendMessage', () =>
      this.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.queueUrl,
          MessageBody: JSON.stringify(event),
          MessageGroupId: this.config.clusterName,
          MessageDeduplicationId: `${this.config.clusterName}-reconcile-${minute}`,
        }),
      ),
    );
  }
}
