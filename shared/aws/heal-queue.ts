import { randomUUID } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config';
import { ConfigError } from '../errors';
import { DETAIL_TYPES, SOURCES } from '../events/kinds';
import type { HealQueue } from '../ports';
import { createSqsClient } from './clients';
import { request } from './errors';

const DEDUPLICATION_WINDOW_MS = 60_000;

export interface SqsHealQueueOptions {
  /** epoch ms; injected so tests can place enqueues inside or across a deduplication minute */
  now?: () => number;
}

/**
 * The heal function's FIFO queue. A reconcile request is an EventBridge-shaped scheduled event,
 * so the heal function reads it exactly like the scheduled tick.
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
    const event = {
      version: '0',
      id: randomUUID(),
      'detail-type': DETAIL_TYPES.scheduledEvent,
      source: SOURCES.schedule,
      time: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      resources: [],
      detail: { reason },
    };
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
