import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { InstanceMetadata, type InstanceMetadataOptions } from './instance-metadata';
import { ApiError, decode, encodeError, encodeResult, INTERNAL_FAILURE, signedService, THROTTLING, type ServiceApi, type ServiceName } from './protocol';

/** One request the endpoint answered (or left unanswered). */
export interface ApiCall {
  at: number;
  service: ServiceName;
  operation: string;
  input: Record<string, any>;
  /** the error code answered, when it was an error; 'silent' when nothing was answered */
  error?: string;
}

/**
 * How an armed fault answers: each service's own throttling or internal-failure response, nothing at
 * all, or the error AWS answers while a new instance is not visible to the service yet.
 */
export type ApiFaultKind = 'throttling' | '5xx' | 'silent' | 'not-yet-visible';

/*
 * What AWS answers right after a launch, before the instance is visible to the service (eventual
 * consistency): the operations warren's clients retry on it (shared/aws/clients.ts).
 */
const NOT_YET_VISIBLE: Record<string, (input: Record<string, any>) => ApiError> = {
  CreateTags: (input) => new ApiError('InvalidInstanceID.NotFound', `The instance ID '${input.ResourceId?.[0] ?? ''}' does not exist`),
  SendCommand: () => new ApiError('InvalidInstanceId', 'Instances not in a valid state for account'),
  RegisterTargets: (input) =>
    new ApiError('InvalidTarget', `The following targets are not in a running state and cannot be registered: '${input.Targets?.[0]?.Id ?? ''}'`),
};

export interface ApiFault {
  kind: ApiFaultKind;
  /** the operation's name as the API reference gives it, e.g. DescribeInstances */
  operation: string;
  service?: ServiceName;
  /** how many requests it answers; the SDK's retries are requests too */
  times: number;
  /** told each time it answers a request */
  onTaken?: (call: ApiCall) => void;
}

/** Looks at a request before it is answered (the chaos soak checks invariants here); a throw answers InternalFailure. */
export type CallObserver = (call: ApiCall) => void | Promise<void>;

/** The dummy credentials the endpoint is signed with; it checks the scope, not the signature. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'AKIDWARRENSANDBOX', secretAccessKey: 'warren-sandbox-secret' } as const;

/**
 * The local cloud as an AWS endpoint on a loopback port: every request is decoded as its service's
 * protocol, may be answered by an armed fault (beneath the SDK: its retry strategy sees it), is shown
 * to the observers, and is then answered by the service's operation over the local model. It can
 * answer on the address where a run's nodes reach the host too, with their instance metadata service.
 */
export class LocalAwsEndpoint {
  readonly calls: ApiCall[] = [];
  private readonly faults: ApiFault[] = [];
  private readonly observers = new Set<CallObserver>();
  private readonly silent = new Set<Socket>();
  private readonly servers: Server[];
  private closed = false;

  private constructor(
    server: Server,
    private readonly apis: Map<string, ServiceApi>,
    readonly url: string,
    readonly region: string,
  ) {
    this.servers = [server];
  }

  static async start(apis: ServiceApi[], options: { region: string; port?: number; host?: string }): Promise<LocalAwsEndpoint> {
    const byName = new Map(apis.map((api) => [api.service as string, api]));
    let endpoint: LocalAwsEndpoint | undefined;
    const host = options.host ?? '127.0.0.1';
    const server = await serve(host, options.port ?? 0, (request, response) => endpoint!.answer(request, response));
    endpoint = new LocalAwsEndpoint(server, byName, urlOf(server, host), options.region);
    return endpoint;
  }

  /**
   * Answers on one more address: where a run's nodes reach this host (its bridge, 10.213.<subnet>.1;
   * loopback for loopback nodes), with the instance metadata service (instance-metadata.ts) at
   * /latest/ besides the APIs, as a node finds 169.254.169.254 and the regional endpoints. Closed with
   * the endpoint; returns its URL, for the nodes' AWS_EC2_METADATA_SERVICE_ENDPOINT and AWS_ENDPOINT_URL_*.
   */
  async listenOn(host: string, metadata: Omit<InstanceMetadataOptions, 'region' | 'credentials'> = {}): Promise<string> {
    if (this.closed) throw new Error('the endpoint is closed');
    const imds = new InstanceMetadata({ region: this.region, credentials: LOCAL_CREDENTIALS, ...metadata });
    const server = await serve(host, 0, (request, response) => this.answer(request, response, imds));
    this.servers.push(server);
    return urlOf(server, host);
  }

  /** SDK client settings that point at this endpoint. */
  clientOptions() {
    return { endpoint: this.url, region: this.region, credentials: { ...LOCAL_CREDENTIALS } };
  }

  armFault(fault: ApiFault): void {
    if (fault.kind === 'not-yet-visible' && !NOT_YET_VISIBLE[fault.operation]) {
      throw new Error(`no not-yet-visible error is known for ${fault.operation}: only ${Object.keys(NOT_YET_VISIBLE).join(', ')}`);
    }
    this.faults.push({ ...fault });
  }

  /** Disarms every fault; returns those that answered fewer requests than they were armed for. */
  clearFaults(): ApiFault[] {
    return this.faults.splice(0);
  }

  observe(observer: CallObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Requests answered so far, per operation or in all. */
  count(operation?: string): number {
    return operation ? this.calls.filter((call) => call.operation === operation).length : this.calls.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const socket of this.silent) socket.destroy();
    await Promise.all(
      this.servers.map((server) => {
        server.closeAllConnections();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      }),
    );
  }

  private async answer(request: IncomingMessage, response: ServerResponse, metadata?: InstanceMetadata): Promise<void> {
    // the metadata service is unsigned: it is told apart by its path, before any signature is looked at
    if (metadata && InstanceMetadata.serves(request.url)) {
      metadata.answer(request, response);
      return;
    }
    const body = await readBody(request);
    const api = this.apis.get(signedService(request.headers.authorization) ?? '');
    if (!api) {
      response
        .writeHead(400, { 'content-type': 'text/plain' })
        .end(`no service answers here for "${signedService(request.headers.authorization) ?? 'an unsigned request'}"`);
      return;
    }
    let call: ApiCall | undefined;
    try {
      const { operation, input } = decode(api, request.headers, body, { method: request.method ?? 'GET', url: request.url ?? '/' });
      call = { at: Date.now(), service: api.service, operation, input };
      this.calls.push(call);
      const handler = api.operations[operation];
      if (!handler) {
        // the JSON protocols answer an operation they do not know as UnknownOperationException, the query ones as InvalidAction
        const json = api.protocol === 'awsJson1_0' || api.protocol === 'awsJson1_1';
        throw new ApiError(json ? 'UnknownOperationException' : 'InvalidAction', `The action ${operation} is not valid for this web service.`);
      }
      const fault = this.takeFault(call);
      if (fault === 'silent') {
        // the SDK's socket timeout ends the attempt; the socket is dropped when the endpoint closes
        call.error = 'silent';
        this.silent.add(request.socket);
        request.socket.once('close', () => this.silent.delete(request.socket));
        return;
      }
      if (fault) throw fault;
      for (const observer of [...this.observers]) await observer(call);
      send(response, encodeResult(api, operation, await handler(input)));
    } catch (error) {
      const answer =
        error instanceof ApiError
          ? error
          : new ApiError(INTERNAL_FAILURE[api.service].code, `${INTERNAL_FAILURE[api.service].message} (${(error as Error)?.message ?? error})`, 500);
      if (call) call.error = answer.code;
      send(response, encodeError(api, answer));
    }
  }

  private takeFault(call: ApiCall): ApiError | 'silent' | undefined {
    const index = this.faults.findIndex((fault) => fault.operation === call.operation && (!fault.service || fault.service === call.service));
    if (index < 0) return undefined;
    const fault = this.faults[index]!;
    if (--fault.times <= 0) this.faults.splice(index, 1);
    fault.onTaken?.(call);
    if (fault.kind === 'silent') return 'silent';
    if (fault.kind === 'not-yet-visible') {
      const error = NOT_YET_VISIBLE[call.operation]!(call.input);
      return new ApiError(error.code, `${error.message} [${FAULT_MARK}]`, error.status);
    }
    const template = (fault.kind === 'throttling' ? THROTTLING : INTERNAL_FAILURE)[call.service];
    return new ApiError(template.code, `${template.message} [${FAULT_MARK}]`, template.status);
  }
}

/** Marks the message of every error response a fault answers, so a dead letter can be traced to it. */
export const FAULT_MARK = 'injected';

/** An HTTP server on host:port that answers with `answer`. */
async function serve(host: string, port: number, answer: (request: IncomingMessage, response: ServerResponse) => Promise<void>): Promise<Server> {
  // a client that hangs up before its body is complete has nobody left to answer
  const server = createServer((request, response) => void answer(request, response).catch(() => response.destroy()));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

const urlOf = (server: Server, host: string) => `http://${host}:${(server.address() as AddressInfo).port}`;

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function send(response: ServerResponse, answer: { status: number; headers: Record<string, string>; body: string }): void {
  if (response.destroyed) return;
  response.writeHead(answer.status, { ...answer.headers, 'content-length': String(Buffer.byteLength(answer.body)) }).end(answer.body);
}
