import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The instance metadata service a node script reaches at http://169.254.169.254, IMDSv2 only (the
 * launch template's HttpTokens: required): PUT /latest/api/token for a session token, then, with it,
 * the instance role's credentials (iam/security-credentials/), the region, the zone, the instance id
 * and its private address. The role's credentials are the local endpoint's own with a session token:
 * the endpoint checks a signature's scope, not the signature. Unsigned, as the real one is.
 */

export interface InstanceMetadataOptions {
  region: string;
  /** what the role's credentials sign with */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** the instance profile's role: what iam/security-credentials/ lists */
  role?: string;
  /** the instance a request comes from, by its source address; instance-id and the zone answer 404 without one */
  instanceAt?: (ip: string) => { instanceId: string; availabilityZone?: string } | undefined;
  now?: () => number;
}

const PREFIX = '/latest/';
const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
/** A session token lives 1 s to 6 h (IMDS user guide). */
const TOKEN_TTL_SECONDS: [number, number] = [1, 21_600];
/** Instance role credentials live 6 h and are refreshed well before they expire. */
const CREDENTIALS_TTL_MS = 6 * 3_600_000;
const REFRESH_BEFORE_MS = 3_600_000;
export const DEFAULT_NODE_ROLE = 'warren-node';

interface Answer {
  status: number;
  body: string;
  type?: string;
  headers?: Record<string, string>;
}

const NOT_FOUND: Answer = {
  status: 404,
  type: 'text/html',
  body: '<?xml version="1.0" encoding="iso-8859-1"?>\n<html><head><title>404 - Not Found</title></head><body><h1>404 - Not Found</h1></body></html>\n',
};
const UNAUTHORIZED: Answer = { status: 401, body: '' };

export class InstanceMetadata {
  readonly role: string;
  private readonly tokens = new Map<string, number>();
  private credentials: ReturnType<InstanceMetadata['issue']>;

  constructor(private readonly options: InstanceMetadataOptions) {
    this.role = options.role ?? DEFAULT_NODE_ROLE;
    this.credentials = this.issue();
  }

  /** Whether a request's path is this service's rather than an AWS API's. */
  static serves(url: string | undefined): boolean {
    return (url ?? '').startsWith(PREFIX);
  }

  answer(request: IncomingMessage, response: ServerResponse): void {
    const answer = this.answerOf(request);
    response
      .writeHead(answer.status, {
        'content-type': answer.type ?? 'text/plain',
        'content-length': String(Buffer.byteLength(answer.body)),
        server: 'EC2ws',
        ...answer.headers,
      })
      .end(answer.body);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private answerOf(request: IncomingMessage): Answer {
    const path = new URL(request.url ?? '/', 'http://imds').pathname.replace(/\/+$/, '');
    if (path === '/latest/api/token') {
      if (request.method !== 'PUT') return { status: 405, body: '' };
      // the service refuses what came through a proxy
      if (request.headers['x-forwarded-for'] !== undefined) return { status: 403, body: '' };
      const ttl = Number(request.headers[TOKEN_TTL_HEADER]);
      if (!Number.isInteger(ttl) || ttl < TOKEN_TTL_SECONDS[0] || ttl > TOKEN_TTL_SECONDS[1]) return { status: 400, body: '' };
      const token = randomBytes(42).toString('base64url');
      this.tokens.set(token, this.now() + ttl * 1000);
      return { status: 200, body: token, headers: { [TOKEN_TTL_HEADER]: String(ttl) } };
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') return { status: 405, body: '' };
    if (!this.tokenValid(request.headers[TOKEN_HEADER])) return UNAUTHORIZED;
    const instance = this.options.instanceAt?.(sourceOf(request));
    switch (path) {
      case '/latest/meta-data/iam/security-credentials':
        return { status: 200, body: this.role };
      case `/latest/meta-data/iam/security-credentials/${this.role}`:
        return { status: 200, body: JSON.stringify(this.currentCredentials(), null, 2) };
      case '/latest/meta-data/placement/region':
        return { status: 200, body: this.options.region };
      case '/latest/meta-data/placement/availability-zone':
        return instance?.availabilityZone ? { status: 200, body: instance.availabilityZone } : NOT_FOUND;
      case '/latest/meta-data/instance-id':
        return instance ? { status: 200, body: instance.instanceId } : NOT_FOUND;
      case '/latest/meta-data/local-ipv4':
        return { status: 200, body: sourceOf(request) };
      default:
        return NOT_FOUND;
    }
  }

  private tokenValid(token: string | string[] | undefined): boolean {
    const expires = typeof token === 'string' ? this.tokens.get(token) : undefined;
    if (expires === undefined) return false;
    if (expires > this.now()) return true;
    this.tokens.delete(token as string);
    return false;
  }

  private currentCredentials() {
    if (Date.parse(this.credentials.Expiration) - this.now() < REFRESH_BEFORE_MS) this.credentials = this.issue();
    return this.credentials;
  }

  private issue() {
    const now = this.now();
    const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return {
      Code: 'Success',
      LastUpdated: iso(now),
      Type: 'AWS-HMAC',
      AccessKeyId: this.options.credentials.accessKeyId,
      SecretAccessKey: this.options.credentials.secretAccessKey,
      Token: randomBytes(64).toString('base64'),
      Expiration: iso(now + CREDENTIALS_TTL_MS),
    };
  }
}

/** The asking node's address (IPv4, as the nodes' bridge carries it). */
function sourceOf(request: IncomingMessage): string {
  return (request.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}
