import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSsmClient } from '../../../shared/aws/clients';
import { AwsRequestFailed } from '../../../shared/aws/errors';
import { SsmNodeShell } from '../../../shared/aws/node-shell';
import { adapterConfig } from '../../support/config';

/*
 * aws-sdk-client-mock replaces `send`, which also bypasses the retry middleware; to prove the
 * clients retry we answer real HTTP requests from a local endpoint instead.
 */

type Reply = { status: number; body: unknown };
let server: Server;
let endpoint: string;
let replies: Reply[];
let requests: string[];

beforeAll(async () => {
  server = createServer((request: IncomingMessage, response: ServerResponse) => {
    requests.push(String(request.headers['x-amz-target']));
    request.resume();
    const reply = replies.shift() ?? { status: 500, body: { __type: 'InternalServerError', message: 'no reply left' } };
    response.writeHead(reply.status, { 'content-type': 'application/x-amz-json-1.1' });
    response.end(JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
  replies = [];
  requests = [];
});

const online = { status: 200, body: { InstanceInformationList: [{ InstanceId: 'i-0aaa', PingStatus: 'Online' }] } };
const shellWith = (maxAttempts: number) =>
  new SsmNodeShell(adapterConfig, {
    ssm: createSsmClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts,
      retryDelayMs: 5,
    }),
  });

it('retries a throttled call once and then succeeds', async () => {
  replies = [{ status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } }, online];

  const agentOnline = await shellWith(3).isAgentOnline('i-0aaa');

  expect(agentOnline).toBe(true);
  expect(requests).toEqual(['AmazonSSM.DescribeInstanceInformation', 'AmazonSSM.DescribeInstanceInformation']);
});

it('retries a 5xx answer', async () => {
  replies = [{ status: 503, body: { __type: 'ServiceUnavailable', message: 'try later' } }, online];

  expect(await shellWith(3).isAgentOnline('i-0aaa')).toBe(true);
  expect(requests).toHaveLength(2);
});

it('gives up after the configured attempts with the SDK error as cause', async () => {
  replies = Array.from({ length: 5 }, () => ({ status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } }));

  const failure = await shellWith(2)
    .isAgentOnline('i-0aaa')
    .catch((error: unknown) => error);

  expect(failure).toBeInstanceOf(AwsRequestFailed);
  expect((failure as Error).cause).toMatchObject({ name: 'ThrottlingException' });
  expect(requests).toHaveLength(2);
});

it('does not retry a client error that retrying cannot fix', async () => {
  replies = [{ status: 400, body: { __type: 'AccessDeniedException', message: 'not authorized to perform ssm:DescribeInstanceInformation' } }, online];

  await expect(shellWith(3).isAgentOnline('i-0aaa')).rejects.toThrow(AwsRequestFailed);
  expect(requests).toHaveLength(1);
});
