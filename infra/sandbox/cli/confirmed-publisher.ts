import * as amqp from 'amqplib';

/**
 * A client that publishes numbered messages with publisher confirms through the load balancer and
 * reconnects through it when its node goes. Only a confirmed message is a promise the cluster made,
 * so only confirmed messages count when `drain` looks for losses.
 */
export class ConfirmedPublisher {
  readonly confirmed = new Set<number>();
  published = 0;
  unconfirmed = 0;
  reconnects = 0;
  lastError?: string;
  private running = false;
  private loop?: Promise<void>;
  private next = 1;

  constructor(
    private readonly url: string,
    readonly queue: string,
    private readonly onReconnect: (reason: string) => void = () => undefined,
    /** classic on 3.x is mirrored by the HA policy warren applies; on 4.x it has no replicas */
    readonly queueType: 'quorum' | 'classic' = 'quorum',
  ) {}

  /** Resolves once the queue is declared and publishing has begun. */
  async start(): Promise<void> {
    this.running = true;
    let ready!: () => void;
    const started = new Promise<void>((resolve) => (ready = resolve));
    this.loop = this.publishUntilStopped(ready);
    await started;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Reads every message in the queue; returns the confirmed ones that are missing and the duplicates. */
  async drain(): Promise<{ received: number; lost: number[]; duplicates: number }> {
    const connection = await amqp.connect(this.url);
    try {
      const channel = await connection.createChannel();
      const seen = new Set<number>();
      let duplicates = 0;
      for (;;) {
        const message = await channel.get(this.queue, { noAck: true });
        if (message === false) break;
        const id = Number(message.content.toString());
        if (seen.has(id)) duplicates += 1;
        seen.add(id);
      }
      return { received: seen.size, lost: [...this.confirmed].filter((id) => !seen.has(id)), duplicates };
    } finally {
      await connection.close().catch(() => undefined);
    }
  }

  private async publishUntilStopped(ready: () => void): Promise<void> {
    while (this.running) {
      let connection: amqp.ChannelModel | undefined;
      try {
        // heartbeats notice a node that vanished without closing its sockets
        connection = await amqp.connect(`${this.url}?heartbeat=5`);
        let closed = false;
        const gone = new Promise<void>((resolve) =>
          connection!.on('close', () => {
            closed = true;
            resolve();
          }),
        );
        connection.on('error', (error: Error) => (this.lastError = error.message));
        const channel = await connection.createConfirmChannel();
        await channel.assertQueue(this.queue, queueOptions(this.queueType));
        ready();
        while (this.running && !closed) {
          const id = this.next++;
          this.published += 1;
          const confirm = new Promise<boolean>((resolve) =>
            channel.publish('', this.queue, Buffer.from(String(id)), { persistent: true, messageId: String(id) }, (error) => resolve(!error)),
          );
          // a publish whose connection dies before the confirm arrives is unconfirmed, not lost
          let timer: NodeJS.Timeout | undefined;
          const outcome = await Promise.race([
            confirm,
            gone.then(() => false),
            new Promise<boolean>((resolve) => (timer = setTimeout(resolve, 15_000, false))),
          ]);
          clearTimeout(timer);
          if (outcome) this.confirmed.add(id);
          else this.unconfirmed += 1;
          await sleep(20);
        }
        if (this.running) {
          this.reconnects += 1;
          this.onReconnect(this.lastError ?? 'connection closed');
        }
      } catch (error) {
        this.lastError = (error as Error).message;
        if (this.running) {
          this.reconnects += 1;
          this.onReconnect(this.lastError);
        }
        await sleep(500);
      } finally {
        await connection?.close().catch(() => undefined);
      }
    }
  }
}

/** The declaration every client of the queue uses: a durable queue of the given type. */
export function queueOptions(queueType: 'quorum' | 'classic'): amqp.Options.AssertQueue {
  return { durable: true, arguments: { 'x-queue-type': queueType } };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
