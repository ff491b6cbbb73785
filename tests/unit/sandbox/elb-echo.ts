import net from 'node:net';
import type { TargetState } from '../../../shared/ports';
import type { LocalTargetGroup } from '../../../infra/sandbox/cloud/elb';

/** A stand-in for a node's port: answers every chunk with `<name>:<chunk>` so a reply says who served it. */
export class EchoServer {
  private readonly sockets = new Set<net.Socket>();
  private server?: net.Server;

  private constructor(
    readonly name: string,
    public port: number,
  ) {}

  static async start(name: string, port = 0): Promise<EchoServer> {
    const echo = new EchoServer(name, port);
    await echo.listen();
    return echo;
  }

  async listen(): Promise<void> {
    const server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('data', (chunk) => socket.write(`${this.name}:${chunk.toString()}`));
      socket.on('error', () => socket.destroy());
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  /** Stops accepting; `keepConnections` leaves established connections open, like a node whose listener died. */
  async stop(keepConnections = false): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!keepConnections) for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async destroy(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await this.stop();
  }
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One client connection; `ask` sends a line and resolves with the reply, or 'closed' when the peer closed first. */
export class Client {
  readonly closed: Promise<void>;
  private readonly socket: net.Socket;
  private isClosed = false;

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  ask(text: string, timeoutMs = 2_000): Promise<string> {
    if (this.isClosed) return Promise.resolve('closed');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${text} within ${timeoutMs} ms`)), timeoutMs);
      const onData = (chunk: Buffer) => finish(chunk.toString());
      const finish = (reply: string) => {
        clearTimeout(timer);
        this.socket.off('data', onData);
        resolve(reply);
      };
      this.socket.once('data', onData);
      void this.closed.then(() => finish('closed'));
      this.socket.write(text);
    });
  }

  /** Resolves once the peer closed the connection; rejects after `timeoutMs` so a test cannot hang. */
  waitClosed(timeoutMs = 3_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
      void this.closed.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  end(): void {
    this.socket.destroy();
  }
}

/** Connects, asks once, hangs up: the reply names the target that served the connection. */
export async function askOnce(port: number, text = 'ping'): Promise<string> {
  const client = new Client(port);
  try {
    return await client.ask(text);
  } finally {
    client.end();
  }
}

/** Resolves when the target reaches `state` in the group; rejects after `timeoutMs` so a test cannot hang. */
export function reachState(group: LocalTargetGroup, instanceId: string, state: TargetState, timeoutMs = 3_000): Promise<void> {
  if (group.stateOf(instanceId) === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`${instanceId} still ${group.stateOf(instanceId)} in ${group.key}, not ${state}, after ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = group.onChange((change) => {
      if (change.instanceId !== instanceId || change.to !== state) return;
      clearTimeout(timer);
      unsubscribe();
      resolve();
    });
  });
}

/** Addresses for the resolver: each instance uses one port for both groups, which is all these tests need. */
export function addressBook(ports: Record<string, number>) {
  return (instanceId: string) =>
    ports[instanceId] === undefined ? undefined : { ip: '127.0.0.1', amqpPort: ports[instanceId]!, managementPort: ports[instanceId]! };
}

export const FAST_HEALTH_CHECKS = { intervalMs: 50, timeoutMs: 40, healthyThreshold: 2, unhealthyThreshold: 2 };
