import { randomUUID } from 'node:crypto';
import { XMLBuilder } from 'fast-xml-parser';

/**
 * The AWS wire protocols the local endpoint answers, as the SDK v3 clients and the AWS CLI speak them:
 * the EC2 query protocol (EC2), awsQuery (Auto Scaling, Elastic Load Balancing v2), awsJson1_1 (SSM,
 * Secrets Manager), awsJson1_0 (SQS) and restJson1 (Lambda, whose operation is the request's method and path). A service
 * is told apart by the credential scope of the SigV4 signature, as AWS tells its endpoints apart by host name.
 */

export type ServiceName = 'ec2' | 'autoscaling' | 'elasticloadbalancing' | 'ssm' | 'sqs' | 'lambda' | 'secretsmanager';
export type Protocol = 'ec2' | 'awsQuery' | 'awsJson1_1' | 'awsJson1_0' | 'restJson1';

/** An AWS error response: its code, message and HTTP status as the API reference gives them. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    /** Sender (the caller's fault) or Receiver (the service's) */
    readonly fault: 'Sender' | 'Receiver' = status >= 500 ? 'Receiver' : 'Sender',
  ) {
    super(message);
    this.name = code;
  }
}

/** AWS's validation error, under the service's code (ValidationError for the query services, ValidationException for SSM). */
export function invalid(message: string, code = 'ValidationError'): ApiError {
  return new ApiError(code, `1 validation error detected: ${message}`);
}

/** A member that must be given: not absent, not null, not empty. */
export function required<T = string>(value: unknown, member: string, code?: string): T {
  if (value === undefined || value === null || value === '')
    throw invalid(`Value null at '${member}' failed to satisfy constraint: Member must not be null`, code);
  return value as T;
}

/** An integer member between `min` and `max`; `fallback` when it is absent. */
export function bounded(value: unknown, member: string, [min, max]: [number, number], code?: string, fallback = max): number {
  const number = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(number) || number < min || number > max) {
    throw invalid(`Value '${value}' at '${member}' failed to satisfy constraint: Member must have value between ${min} and ${max}`, code);
  }
  return number;
}

/** A query-protocol list: absent, empty (the SDK sends `Name=` for an empty list), or the decoded array. */
export function listOf<T = string>(value: unknown): T[] {
  if (value === undefined || value === '') return [];
  return (Array.isArray(value) ? value : [value]).filter((item) => item !== undefined) as T[];
}

/** The page of `all` that begins at `start`; `tokenOf` writes the NextToken of the rest, an offset unless told otherwise. */
export function page<T>(
  all: T[],
  start: number,
  max: number,
  tokenOf: (last: T, end: number) => string = (_, end) => String(end),
): { items: T[]; NextToken?: string } {
  const items = all.slice(start, start + max);
  const end = start + items.length;
  return { items, NextToken: end < all.length ? tokenOf(items[items.length - 1]!, end) : undefined };
}

/** Where an offset NextToken (see page) says the next page begins. */
export function offsetOf(nextToken: unknown, length: number): number {
  const start = nextToken === undefined ? 0 : Number(nextToken);
  if (!Number.isInteger(start) || start < 0 || start > length) throw new ApiError('InvalidNextToken', `The NextToken ${String(nextToken)} is not valid.`);
  return start;
}

/** One operation: the decoded input in, the output shape (the API reference's member names) out. */
export type Operation = (input: any) => unknown | Promise<unknown>;

export interface ServiceApi {
  service: ServiceName;
  protocol: Protocol;
  /** the XML namespace of query responses */
  xmlns?: string;
  /** X-Amz-Target prefix of JSON protocols, e.g. AmazonSSM */
  targetPrefix?: string;
  /** restJson1: the operation a method and path name, and the input members its path and query carry */
  routes?: RestRoute[];
  operations: Record<string, Operation>;
}

export interface RestRoute {
  method: string;
  path: RegExp;
  operation: string;
  input: (path: RegExpExecArray, query: URLSearchParams) => Record<string, unknown>;
}

export interface DecodedRequest {
  operation: string;
  input: Record<string, any>;
}

export interface EncodedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The service a request is signed for: `Credential=AKID/date/region/<service>/aws4_request`. */
export function signedService(authorization: string | undefined): string | undefined {
  return /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization ?? '')?.[1];
}

export function decode(
  api: ServiceApi,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  target = { method: 'POST', url: '/' },
): DecodedRequest {
  if (api.protocol === 'restJson1') return decodeRest(api, target, body);
  if (api.protocol === 'awsJson1_0' || api.protocol === 'awsJson1_1') {
    const target = String(headers['x-amz-target'] ?? '');
    const operation = target.startsWith(`${api.targetPrefix}.`) ? target.slice(api.targetPrefix!.length + 1) : '';
    if (!operation) throw new ApiError('UnknownOperationException', `no operation in X-Amz-Target "${target}"`);
    try {
      return { operation, input: body ? JSON.parse(body) : {} };
    } catch {
      throw new ApiError('SerializationException', 'the request body is not JSON');
    }
  }
  const form = new URLSearchParams(body);
  const operation = form.get('Action') ?? '';
  if (!operation) throw new ApiError('MissingAction', 'the request has no Action');
  form.delete('Action');
  form.delete('Version');
  return { operation, input: queryInput(form) };
}

function decodeRest(api: ServiceApi, target: { method: string; url: string }, body: string): DecodedRequest {
  const url = new URL(target.url, 'http://endpoint');
  let members: Record<string, unknown>;
  try {
    members = body ? JSON.parse(body) : {};
  } catch {
    throw new ApiError('SerializationException', 'the request body is not JSON');
  }
  for (const route of api.routes ?? []) {
    const path = route.method === target.method ? route.path.exec(url.pathname) : null;
    if (path) return { operation: route.operation, input: { ...members, ...route.input(path, url.searchParams) } };
  }
  throw new ApiError('UnknownOperationException', `no operation answers ${target.method} ${url.pathname}`, 404);
}

/**
 * The query protocols flatten a structure into dotted keys: `Filter.1.Value.2` (EC2) or
 * `Targets.member.1.Id` (awsQuery). Numbered segments become arrays; awsQuery's `member` and a
 * map's `entry` wrappers are dropped, so an operation reads `input.Targets[0].Id` either way.
 */
export function queryInput(form: URLSearchParams): Record<string, any> {
  const root: Record<string, any> = {};
  for (const [key, value] of form) {
    const path = key.split('.').filter((segment) => segment !== 'member' && segment !== 'entry');
    let node: any = root;
    path.forEach((segment, n) => {
      const last = n === path.length - 1;
      const next = path[n + 1];
      const slot = /^\d+$/.test(segment) ? Number(segment) - 1 : segment;
      if (last) node[slot] = value;
      else node = node[slot] ??= next !== undefined && /^\d+$/.test(next) ? [] : {};
    });
  }
  return root;
}

const xml = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: false });

/** Arrays become repeated `item` (EC2) or `member` (awsQuery) elements; dates ISO 8601; undefined left out. */
function xmlShape(value: unknown, listItem: 'item' | 'member'): unknown {
  if (value === undefined || value === null) return undefined;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.length === 0 ? '' : { [listItem]: value.map((item) => xmlShape(item, listItem)) };
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .map(([key, member]) => [key, xmlShape(member, listItem)])
        .filter(([, member]) => member !== undefined),
    );
  }
  return String(value);
}

const jsonType = (api: ServiceApi) => `application/x-amz-json-${api.protocol === 'awsJson1_0' ? '1.0' : '1.1'}`;

export function encodeResult(api: ServiceApi, operation: string, output: unknown, requestId = randomUUID()): EncodedResponse {
  if (api.protocol === 'restJson1') {
    return { status: 200, headers: { 'content-type': 'application/json', 'x-amzn-requestid': requestId }, body: JSON.stringify(jsonShape(output ?? {})) };
  }
  if (api.protocol === 'awsJson1_0' || api.protocol === 'awsJson1_1') {
    return { status: 200, headers: { 'content-type': jsonType(api), 'x-amzn-requestid': requestId }, body: JSON.stringify(jsonShape(output ?? {})) };
  }
  const shaped = (xmlShape(output ?? {}, api.protocol === 'ec2' ? 'item' : 'member') || {}) as Record<string, unknown>;
  const content = api.protocol === 'ec2' ? { requestId, ...shaped } : { [`${operation}Result`]: shaped, ResponseMetadata: { RequestId: requestId } };
  const body = xml.build({ [`${operation}Response`]: { '@_xmlns': api.xmlns, ...content } });
  return { status: 200, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }, body: `<?xml version="1.0" encoding="UTF-8"?>\n${body}` };
}

export function encodeError(api: ServiceApi, error: ApiError, requestId = randomUUID()): EncodedResponse {
  switch (api.protocol) {
    case 'awsJson1_0':
    case 'awsJson1_1': {
      const type = api.service === 'sqs' ? `com.amazonaws.sqs#${error.code}` : error.code;
      return {
        status: error.status,
        headers: {
          'content-type': jsonType(api),
          'x-amzn-requestid': requestId,
          // SQS's JSON protocol still names the query-era code, which the SDK (and the CLI) read first
          ...(api.service === 'sqs' ? { 'x-amzn-query-error': `${SQS_QUERY_CODES[error.code] ?? error.code};${error.fault}` } : {}),
        },
        body: JSON.stringify({ __type: type, message: error.message }),
      };
    }
    case 'restJson1':
      // Lambda names the error in a header; its body says whose fault it is, as Lambda's own answers do
      return {
        status: error.status,
        headers: { 'content-type': 'application/json', 'x-amzn-requestid': requestId, 'x-amzn-errortype': error.code },
        body: JSON.stringify({ Type: error.fault === 'Sender' ? 'User' : 'Service', Message: error.message }),
      };
    case 'ec2':
      return {
        status: error.status,
        headers: { 'content-type': 'text/xml' },
        body: `<?xml version="1.0" encoding="UTF-8"?>\n${xml.build({ Response: { Errors: { Error: { Code: error.code, Message: error.message } }, RequestID: requestId } })}`,
      };
    case 'awsQuery':
      return {
        status: error.status,
        headers: { 'content-type': 'text/xml' },
        body: xml.build({
          ErrorResponse: { '@_xmlns': api.xmlns, Error: { Type: error.fault, Code: error.code, Message: error.message }, RequestId: requestId },
        }),
      };
  }
}

/**
 * SQS errors whose query-era code (x-amzn-query-error) is not their shape's name: the SDK's
 * awsQueryError traits (@aws-sdk/client-sqs), which it maps back to QueueDoesNotExist and the others.
 */
const SQS_QUERY_CODES: Record<string, string> = {
  QueueDoesNotExist: 'AWS.SimpleQueueService.NonExistentQueue',
  QueueNameExists: 'QueueAlreadyExists',
  BatchEntryIdsNotDistinct: 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
  BatchRequestTooLong: 'AWS.SimpleQueueService.BatchRequestTooLong',
  EmptyBatchRequest: 'AWS.SimpleQueueService.EmptyBatchRequest',
  InvalidBatchEntryId: 'AWS.SimpleQueueService.InvalidBatchEntryId',
  TooManyEntriesInBatchRequest: 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
  MessageNotInflight: 'AWS.SimpleQueueService.MessageNotInflight',
  PurgeQueueInProgress: 'AWS.SimpleQueueService.PurgeQueueInProgress',
  QueueDeletedRecently: 'AWS.SimpleQueueService.QueueDeletedRecently',
  UnsupportedOperation: 'AWS.SimpleQueueService.UnsupportedOperation',
};

/** JSON protocols send timestamps as epoch seconds. */
function jsonShape(value: unknown): unknown {
  if (value instanceof Date) return value.getTime() / 1000;
  if (Array.isArray(value)) return value.map(jsonShape);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, member]) => member !== undefined)
        .map(([key, member]) => [key, jsonShape(member)]),
    );
  }
  return value;
}

/** What each service answers when it throttles, and when it fails on its side (API references, "Common errors"). */
const QUERY_THROTTLING = new ApiError('Throttling', 'Rate exceeded', 400);
const INTERNAL = new ApiError('InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.', 500);

export const THROTTLING: Record<ServiceName, ApiError> = {
  ec2: new ApiError('RequestLimitExceeded', 'Request limit exceeded.', 503),
  autoscaling: QUERY_THROTTLING,
  elasticloadbalancing: QUERY_THROTTLING,
  ssm: new ApiError('ThrottlingException', 'Rate exceeded', 400),
  sqs: new ApiError('RequestThrottled', 'Request is throttled.', 403),
  lambda: new ApiError('TooManyRequestsException', 'Rate exceeded.', 429),
  secretsmanager: new ApiError('ThrottlingException', 'Rate exceeded', 400),
};

export const INTERNAL_FAILURE: Record<ServiceName, ApiError> = {
  ec2: new ApiError('InternalError', 'An internal error has occurred', 500),
  autoscaling: INTERNAL,
  elasticloadbalancing: INTERNAL,
  ssm: new ApiError('InternalServerError', 'An error occurred on the server side.', 500),
  sqs: INTERNAL,
  lambda: new ApiError('ServiceException', 'The AWS Lambda service encountered an internal error.', 500),
  secretsmanager: new ApiError('InternalServiceError', 'An error occurred on the server side.', 500),
};
