import * as amqp from 'amqplib';
import { queueOptions } from '../cli/confirmed-publisher';

/**
 * A consumer that works through the load balancer the whole time faults are injected: manual acks,
 * a prefetch window, and a reconnect through the load balancer whenever its node goes. A message
 * redelivered after a lost ack is counted as a duplicate; at-least-once allows it.
 */
export class TrackingConsumer {
  readonly seen = new Set<number>();
  duplicates = 0;
  reconnects = 0;
  lastError?: string;
  /** when the last message arrived, to tell a drained queue from a slow one */
  lastMessageAt = Date.now();
  private running = false;
  private loop?: Promise<void>;
  private closeCurrent?: () => Promise<void>;

  constructor(
    private readonly url: string,
    readonly queue: string,
    readonly queueType: 'quorum' | 'classic',
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.consumeUntilStopped();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.closeCurrent?.();
    await this.loop;
  }

  /**
   * Keeps consuming until every id in `wanted` arrived, or nothing arrived for `quietMs` (the queue
   * has nothing more to give), or `boundMs` passed. Returns the ids that never arrived.
   */
  async catchUp(wanted: ReadonlySet<number>, quietMs: number, boundMs: number): Promise<number[]> {
    const until = Date.now() + boundMs;
    const missing = () => [...wanted].filter((id) => !this.seen.has(id));
    for (;;) {
      const left = missing();
      if (left.length === 0 || Date.now() > until || Date.now() - this.lastMessageAt > quietMs) return left;
      await sleep(500);
    }
  }

  private async consumeUntilStopped(): Promise<void> {
    while (this.running) {
      let connection: amqp.ChannelModel | undefined;
      try {
        connection = await amqp.connect(`${this.url}?heartbeat=5`);
        let ended!: () => void;
        const gone = new Promise<void>((resolve) => (ended = resolve));
        connection.on('close', () => ended());
        connection.on('error', (error: Error) => (this.lastError = error.message));
        const opened = connection;
        this.closeCurrent = () => opened.close().catch(() => undefined);
        const channel = await connection.createChannel();
        channel.on('error', (error: Error) => (this.lastError = error.message));
        // a channel error (its queue's node went away) closes only the channel: start over
        channel.on('close', () => ended());
        await channel.prefetch(100);
        await channel.assertQueue(this.queue, queueOptions(this.queueType));
        await channel.consume(this.queue, (message) => {
          if (!message) return;
          const id = Number(message.content.toString());
          if (this.seen.has(id)) this.duplicates += 1;
          this.seen.add(id);
          this.lastMessageAt = Date.now();
          try {
            channel.ack(message);
          } catch {
            // the channel closed under us: the message comes back and is counted as a duplicate
          }
        });
        await gone;
      } catch (error) {
        this.lastError = (error as Error).message;
      } finally {
        await connection?.close().catch(() => undefined);
      }
      if (this.running) {
        this.reconnects += 1;
        await sleep(500);
      }
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
