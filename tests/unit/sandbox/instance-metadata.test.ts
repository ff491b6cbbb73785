import { rmSync } from 'node:fs';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { LocalAwsEndpoint, LOCAL_CREDENTIALS } from '../../../infra/sandbox/aws/endpoint';
import { startNodeAws, type NodeAws } from '../../../infra/sandbox/aws/node-aws';
import { LocalSecrets, secretsManagerApi } from '../../../infra/sandbox/aws/secretsmanager-api';
import { NodeCluster } from '../../../infra/sandbox/nodes';
import { runProcess } from '../../../infra/sandbox/nodes/process';

/*
 * The instance metadata service a node script reads (IMDSv2), on a second listener of the local
 * endpoint, over plain HTTP as curl asks it; and Secrets Manager's GetSecretValue signed by curl with
 * the role's credentials, exactly as a node script does it, the endpoints found through the variables
 * the sandbox's image sets. 127.0.0.1 stands in for the run's bridge address.
 */

const ROLE = 'orders-NodeRole-ABCDEF123456';
const INSTANCE = 'i-0123456789abcdef0';
const ADMIN = JSON.stringify({ username: 'admin', password: 'p4ssw0rdp4ssw0rdp4ssw0rdp4ssw0rd' });

/** What a node script does: a session token, the role, its credentials, the region, then a signed GetSecretValue. */
const NODE_SCRIPT = `set -euo pipefail
imds="\${AWS_EC2_METADATA_SERVICE_ENDPOINT%/}"
token=$(curl -sf -X PUT "$imds/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
role=$(curl -sf -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/iam/security-credentials/")
creds=$(curl -sf -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/iam/security-credentials/$role")
region=$(curl -sf -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/placement/region")
printf 'user = "%s:%s"\\n' "$(jq -r .AccessKeyId <<<"$creds")" "$(jq -r .SecretAccessKey <<<"$creds")" |
  curl -sf -K - --aws-sigv4 "aws:amz:$region:secretsmanager" -H "x-amz-security-token: $(jq -r .Token <<<"$creds")" \\
    -H 'X-Amz-Target: secretsmanager.GetSecretValue' -H 'Content-Type: application/x-amz-json-1.1' \\
    -d "{\\"SecretId\\":\\"$SECRET_ID\\"}" "$AWS_ENDPOINT_URL_SECRETS_MANAGER"
`;

const runNodeScript = (env: Record<string, string>) =>
  runProcess('bash', ['-c', NODE_SCRIPT], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeoutMs: 30_000 });

/** One plain HTTP request, as curl would send it; the body is text. */
async function request(
  url: string,
  init: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(url, { method: init.method ?? 'GET', headers: init.headers });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

describe('the instance metadata service on a listener of the local endpoint', () => {
  let endpoint: LocalAwsEndpoint;
  let imds: string;
  let now: number;

  beforeEach(async () => {
    now = Date.parse('2026-03-01T12:00:00Z');
    endpoint = await LocalAwsEndpoint.start([secretsManagerApi(new LocalSecrets({ region: 'eu-west-1', account: '123456789012' }))], { region: 'eu-west-1' });
    imds = await endpoint.listenOn('127.0.0.1', {
      role: ROLE,
      instanceAt: (ip) => (ip === '127.0.0.1' ? { instanceId: INSTANCE, availabilityZone: 'eu-west-1b' } : undefined),
      now: () => now,
    });
  });

  afterEach(async () => {
    await endpoint.close();
  });

  const token = async (ttl = '300') =>
    (await request(`${imds}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': ttl } })).body;
  const meta = async (path: string, sessionToken?: string) =>
    request(`${imds}/latest/meta-data/${path}`, { headers: sessionToken === undefined ? {} : { 'X-aws-ec2-metadata-token': sessionToken } });

  it('hands out a session token for a PUT with its lifetime, and nothing without one (IMDSv2 only)', async () => {
    const answer = await request(`${imds}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '21600' } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(answer.headers.get('x-aws-ec2-metadata-token-ttl-seconds')).toBe('21600');

    expect((await request(`${imds}/latest/api/token`, { method: 'PUT' })).status).toBe(400);
    expect((await request(`${imds}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '21601' } })).status).toBe(400);
    expect((await request(`${imds}/latest/api/token`)).status).toBe(405);
    expect((await meta('placement/region')).status).toBe(401);
    expect((await meta('placement/region', 'not-a-token')).status).toBe(401);
  });

  it("answers with a token: the role, its credentials (which the endpoint accepts), the region, the asking instance's id and zone", async () => {
    const session = await token();

    expect(await meta('iam/security-credentials/', session)).toMatchObject({ status: 200, body: ROLE });
    const credentials = await meta(`iam/security-credentials/${ROLE}`, session);
    expect(credentials.status).toBe(200);
    expect(JSON.parse(credentials.body)).toEqual({
      Code: 'Success',
      LastUpdated: '2026-03-01T12:00:00Z',
      Type: 'AWS-HMAC',
      AccessKeyId: LOCAL_CREDENTIALS.accessKeyId,
      SecretAccessKey: LOCAL_CREDENTIALS.secretAccessKey,
      Token: expect.stringMatching(/^[A-Za-z0-9+/=]{60,}$/),
      Expiration: '2026-03-01T18:00:00Z',
    });
    expect(await meta('placement/region', session)).toMatchObject({ status: 200, body: 'eu-west-1' });
    expect(await meta('placement/availability-zone', session)).toMatchObject({ status: 200, body: 'eu-west-1b' });
    expect(await meta('instance-id', session)).toMatchObject({ status: 200, body: INSTANCE });
    expect(await meta('local-ipv4', session)).toMatchObject({ status: 200, body: '127.0.0.1' });
    expect((await meta('iam/security-credentials/another-role', session)).status).toBe(404);
    expect((await meta('ami-id', session)).status).toBe(404);
  });

  it('refuses a token past its lifetime, and renews the credentials before they expire', async () => {
    const session = await token('60');
    const first = JSON.parse((await meta(`iam/security-credentials/${ROLE}`, session)).body);
    now += 61_000;
    expect((await meta('placement/region', session)).status).toBe(401);

    now += 5.5 * 3_600_000;
    const renewed = JSON.parse((await meta(`iam/security-credentials/${ROLE}`, await token())).body);
    expect(renewed.Token).not.toBe(first.Token);
    expect(Date.parse(renewed.Expiration)).toBeGreaterThan(Date.parse(first.Expiration));
  });

  it('is only on that listener: the loopback endpoint answers an unsigned request with no service', async () => {
    const answer = await request(`${endpoint.url}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '300' } });
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('no service answers here');
  });

  it('answers the AWS APIs on that listener too', async () => {
    const client = new SecretsManagerClient({ ...endpoint.clientOptions(), endpoint: imds, maxAttempts: 1 });
    try {
      await expect(client.send(new GetSecretValueCommand({ SecretId: 'nope' }))).rejects.toThrow("Secrets Manager can't find the specified secret.");
    } finally {
      client.destroy();
    }
  });
});

describe('startNodeAws: the AWS a node script reads its secret from', () => {
  let aws: NodeAws | undefined;

  afterEach(async () => {
    await aws?.close();
    aws = undefined;
  });

  it('gives a curl-signed GetSecretValue of the node script the secret, with the instance role found through the variables it sets', async () => {
    aws = await startNodeAws('127.0.0.1', { region: 'eu-west-1', secrets: { 'warren/orders/admin': ADMIN } });
    const arn = aws.secretArns['warren/orders/admin']!;
    expect(arn).toMatch(/^arn:aws:secretsmanager:eu-west-1:123456789012:secret:warren\/orders\/admin-[A-Za-z0-9]{6}$/);
    expect(aws.env).toEqual({ AWS_EC2_METADATA_SERVICE_ENDPOINT: aws.url, AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url });

    for (const id of ['warren/orders/admin', arn]) {
      const result = await runNodeScript({ ...aws.env, SECRET_ID: id });

      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
      const answer = JSON.parse(result.stdout);
      expect(answer).toMatchObject({ ARN: arn, Name: 'warren/orders/admin', SecretString: ADMIN, VersionStages: ['AWSCURRENT'] });
      expect(typeof answer.CreatedDate).toBe('number');
    }
    expect(aws.endpoint.calls.map((call) => `${call.service}:${call.operation}`)).toEqual(['secretsmanager:GetSecretValue', 'secretsmanager:GetSecretValue']);
  });

  it('answers the rotated value after put-secret-value, and a secret it does not have with the error a script reads', async () => {
    aws = await startNodeAws('127.0.0.1', { secrets: { 'warren/orders/admin': ADMIN } });
    const secret = aws.secrets.find('warren/orders/admin');
    aws.secrets.put(secret, { SecretString: 'rotated' });

    expect(JSON.parse((await runNodeScript({ ...aws.env, SECRET_ID: 'warren/orders/admin' })).stdout).SecretString).toBe('rotated');
    const missing = await runNodeScript({ ...aws.env, SECRET_ID: 'warren/orders/other' });
    expect(missing.exitCode).toBe(22); // curl -f: an HTTP error
  });

  it('gives its variables to the nodes of a cluster at its start, its network up first', async () => {
    const cluster = NodeCluster.create({
      prefix: 'smgr',
      mode: 'loopback',
      env: async (started) => {
        aws = await startNodeAws(started, { secrets: { 'warren/orders/admin': ADMIN } });
        return aws.env;
      },
    });
    try {
      const node = await cluster.addNode();

      expect(cluster.hostAddress).toBe('127.0.0.1');
      expect(aws!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(node.env).toMatchObject({ AWS_EC2_METADATA_SERVICE_ENDPOINT: aws!.url, AWS_ENDPOINT_URL_SECRETS_MANAGER: aws!.url, RABBITMQ_NODENAME: node.name });
      cluster.addEnv({ EXTRA: 'yes' });
      expect(node.env.EXTRA).toBe('yes');
      // the one node at 127.0.0.1 is an instance of its own
      const imds = aws!.env.AWS_EC2_METADATA_SERVICE_ENDPOINT!;
      const token = (await request(`${imds}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })).body;
      expect((await request(`${imds}/latest/meta-data/instance-id`, { headers: { 'X-aws-ec2-metadata-token': token } })).body).toBe('i-00000000000000001');
    } finally {
      // no node was started: the run's folder is all there is to remove
      rmSync(cluster.dir, { recursive: true, force: true });
    }
  });
});
