import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAwsClients, type AwsClients } from '../../shared/aws/clients';

/*
 * aws-sdk-client-mock replaces the clients' `send`, and with it the retry middleware this suite is
 * about; so the real clients (shared/aws/clients.ts) talk HTTP to this endpoint instead, which
 * answers each API's own wire format: EC2 query, AWS query (Auto Scaling, ELBv2), JSON (SSM, SQS).
 */

export type Protocol = 'ec2' | 'query' | 'json';

/** What the endpoint does with one request. */
export type Reply =
  | { kind: 'ok'; body: string | Record<string, unknown> }
  | { kind: 'error'; status: number; code: string; message: string }
  /** accepts the request and never answers: the client's socket timeout must end the attempt */
  | { kind: 'hang' };

export const ok = (body: string | Record<string, unknown> = ''): Reply => ({ kind: 'ok', body });
export const fault = (status: number, code: string, message = `${code} (injected)`): Reply => ({ kind: 'error', status, code, message });
export const hang: Reply = { kind: 'hang' };

/** Socket silence after which an attempt fails in these tests (production: SOCKET_TIMEOUT_MS). */
export const TEST_SOCKET_TIMEOUT_MS = 40;

export class FakeAwsEndpoint {
  /** operation names in the order they arrived, one per HTTP request (so one per attempt) */
  readonly requests: string[] = [];
  private readonly once = new Map<string, Reply[]>();
  private readonly always = new Map<string, Reply>();
  private readonly hanging: ServerResponse[] = [];
  private server?: Server;
  private url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => void this.answer(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.reset();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  reset(): void {
    this.requests.length = 0;
    this.once.clear();
    this.always.clear();
    for (const response of this.hanging.splice(0)) response.destroy();
  }

  /** Every request for `operation` gets this reply, after any queued with `next`. */
  on(operation: string, reply: Reply): this {
    this.always.set(operation, reply);
    return this;
  }

  /** The next requests for `operation` get these replies, in order. */
  next(operation: string, ...replies: Reply[]): this {
    this.once.set(operation, [...(this.once.get(operation) ?? []), ...replies]);
    return this;
  }

  count(operation: string): number {
    return this.requests.filter((name) => name === operation).length;
  }

  /** The production client configuration, pointed here, with a tiny retry delay and socket timeout. */
  clients(): AwsClients {
    return createAwsClients({
      endpoint: this.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      retryDelayMs: 1,
      socketTimeoutMs: TEST_SOCKET_TIMEOUT_MS,
    });
  }

  private async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const { operation, protocol } = identify(request, Buffer.concat(chunks).toString('utf8'));
    this.requests.push(operation);
    const reply = this.once.get(operation)?.shift() ?? this.always.get(operation) ?? fault(500, 'InternalFailure', `no reply scripted for ${operation}`);
    if (reply.kind === 'hang') {
      this.hanging.push(response);
      return;
    }
    const { status, contentType, body } = reply.kind === 'ok' ? success(protocol, operation, reply.body) : failure(protocol, reply);
    response.writeHead(status, { 'content-type': contentType, 'x-amzn-requestid': 'req-fake' });
    response.end(body);
  }
}

function identify(request: IncomingMessage, body: string): { operation: string; protocol: Protocol } {
  const target = request.headers['x-amz-target'];
  if (typeof target === 'string') return { operation: target.split('.').pop()!, protocol: 'json' };
  const form = new URLSearchParams(body);
  return { operation: form.get('Action') ?? 'Unknown', protocol: form.get('Version') === '2016-11-15' ? 'ec2' : 'query' };
}

function success(protocol: Protocol, operation: string, body: string | Record<string, unknown>) {
  if (protocol === 'json') {
    return { status: 200, contentType: 'application/x-amz-json-1.1', body: typeof body === 'string' ? body || '{}' : JSON.stringify(body) };
  }
  const inner = typeof body === 'string' ? body : '';
  const xml =
    protocol === 'ec2'
      ? `<${operation}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-fake</requestId>${inner}</${operation}Response>`
      : `<${operation}Response><${operation}Result>${inner}</${operation}Result><ResponseMetadata><RequestId>req-fake</RequestId></ResponseMetadata></${operation}Response>`;
  return { status: 200, contentType: 'text/xml', body: xml };
}

function failure(protocol: Protocol, reply: Extract<Reply, { kind: 'error' }>) {
  const { status, code, message } = reply;
  if (protocol === 'json') {
    return { status, contentType: 'application/x-amz-json-1.1', body: JSON.stringify({ __type: code, message }) };
  }
  const xml =
    protocol === 'ec2'
      ? `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>req-fake</RequestID></Response>`
      : `<ErrorResponse><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>req-fake</RequestId></ErrorResponse>`;
  return { status, contentType: 'text/xml', body: xml };
}

/** Waits (on the event loop, a few ms at most here) until `count` requests arrived: parallel calls finish after the first rejection. */
export async function requestsSettle(endpoint: FakeAwsEndpoint, count: number, withinMs = 2_000): Promise<void> {
  const until = Date.now() + withinMs;
  while (endpoint.requests.length < count && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5));
}
