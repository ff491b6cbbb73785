import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { LocalAwsEndpoint, LOCAL_CREDENTIALS } from '../../../infra/sandbox/aws/endpoint';
import { LocalSecrets, randomPassword, secretsManagerApi } from '../../../infra/sandbox/aws/secretsmanager-api';
import { runProcess } from '../../../infra/sandbox/nodes/process';

/*
 * Secrets Manager of the local endpoint, through the SDK's own SecretsManagerClient (what the heal
 * function's adapter sends) and the AWS CLI (what an operator types), on real time: the awsJson1_1
 * wire, epoch-second dates, staging labels, and the errors as the SDK maps them to its classes.
 */

const ADMIN = JSON.stringify({ username: 'admin', password: 'x'.repeat(32) });
const ARN = /^arn:aws:secretsmanager:us-east-1:123456789012:secret:warren\/orders\/admin-[A-Za-z0-9]{6}$/;

describe('Secrets Manager through the local endpoint', () => {
  let endpoint: LocalAwsEndpoint;
  let client: SecretsManagerClient;

  beforeEach(async () => {
    endpoint = await LocalAwsEndpoint.start([secretsManagerApi(new LocalSecrets({ region: 'us-east-1', account: '123456789012' }))], { region: 'us-east-1' });
    client = new SecretsManagerClient({ ...endpoint.clientOptions(), maxAttempts: 1 });
  });

  afterEach(async () => {
    client.destroy();
    await endpoint.close();
  });

  const create = (name = 'warren/orders/admin', value = ADMIN) =>
    client.send(new CreateSecretCommand({ Name: name, SecretString: value, Description: 'orders admin' }));

  it('creates a secret whose value is read back by name, by ARN and by ARN without its random suffix', async () => {
    const created = await create();

    expect(created.ARN).toMatch(ARN);
    expect(created.Name).toBe('warren/orders/admin');
    for (const id of ['warren/orders/admin', created.ARN!, created.ARN!.slice(0, -7)]) {
      const value = await client.send(new GetSecretValueCommand({ SecretId: id }));
      expect(value).toMatchObject({
        ARN: created.ARN,
        Name: 'warren/orders/admin',
        VersionId: created.VersionId,
        SecretString: ADMIN,
        VersionStages: ['AWSCURRENT'],
      });
      expect(value.CreatedDate).toBeInstanceOf(Date);
      expect(Math.abs(value.CreatedDate!.getTime() - Date.now())).toBeLessThan(5_000);
    }
  });

  it('describes a secret: its versions by staging label, its dates', async () => {
    const created = await create();

    const described = await client.send(new DescribeSecretCommand({ SecretId: created.ARN }));

    expect(described).toMatchObject({
      ARN: created.ARN,
      Name: 'warren/orders/admin',
      Description: 'orders admin',
      VersionIdsToStages: { [created.VersionId!]: ['AWSCURRENT'] },
    });
    expect(described.LastChangedDate).toBeInstanceOf(Date);
    expect(described.CreatedDate).toBeInstanceOf(Date);
    expect(described.LastAccessedDate).toBeUndefined();
  });

  it('puts a new value: it becomes AWSCURRENT, the one before AWSPREVIOUS, and the one before that keeps no label', async () => {
    const first = await create();
    const second = await client.send(new PutSecretValueCommand({ SecretId: 'warren/orders/admin', SecretString: 'second' }));
    expect(second.VersionStages).toEqual(['AWSCURRENT']);
    expect((await client.send(new DescribeSecretCommand({ SecretId: 'warren/orders/admin' }))).VersionIdsToStages).toEqual({
      [first.VersionId!]: ['AWSPREVIOUS'],
      [second.VersionId!]: ['AWSCURRENT'],
    });
    expect((await client.send(new GetSecretValueCommand({ SecretId: first.ARN }))).SecretString).toBe('second');
    expect((await client.send(new GetSecretValueCommand({ SecretId: first.ARN, VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe(ADMIN);

    const third = await client.send(new PutSecretValueCommand({ SecretId: first.ARN, SecretString: 'third' }));

    expect((await client.send(new DescribeSecretCommand({ SecretId: first.ARN }))).VersionIdsToStages).toEqual({
      [second.VersionId!]: ['AWSPREVIOUS'],
      [third.VersionId!]: ['AWSCURRENT'],
    });
    // a version without a label is still there by its id
    expect(await client.send(new GetSecretValueCommand({ SecretId: first.ARN, VersionId: first.VersionId }))).toMatchObject({
      SecretString: ADMIN,
      VersionStages: [],
    });
  });

  it('takes the client request token as the version id: the same token and value again is the same version, another value is refused', async () => {
    await create();
    const token = 'a'.repeat(32);
    const put = await client.send(new PutSecretValueCommand({ SecretId: 'warren/orders/admin', SecretString: 'rotated', ClientRequestToken: token }));
    expect(put.VersionId).toBe(token);

    const again = await client.send(new PutSecretValueCommand({ SecretId: 'warren/orders/admin', SecretString: 'rotated', ClientRequestToken: token }));
    expect(again).toMatchObject({ VersionId: token, VersionStages: ['AWSCURRENT'] });
    expect(Object.keys((await client.send(new DescribeSecretCommand({ SecretId: 'warren/orders/admin' }))).VersionIdsToStages!)).toHaveLength(2);

    const other = client.send(new PutSecretValueCommand({ SecretId: 'warren/orders/admin', SecretString: 'other', ClientRequestToken: token }));
    await expect(other).rejects.toBeInstanceOf(ResourceExistsException);
  });

  it('answers a secret it does not have as AWS does, and refuses a name that exists', async () => {
    const missing = client.send(new GetSecretValueCommand({ SecretId: 'warren/nope/admin' }));
    await expect(missing).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(missing).rejects.toThrow("Secrets Manager can't find the specified secret.");
    await expect(
      client.send(new DescribeSecretCommand({ SecretId: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-abcdef' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);

    await create();
    const twice = create();
    await expect(twice).rejects.toBeInstanceOf(ResourceExistsException);
    await expect(twice).rejects.toThrow('The operation failed because the secret warren/orders/admin already exists.');
    await expect(client.send(new GetSecretValueCommand({ SecretId: 'warren/orders/admin', VersionStage: 'AWSPENDING' }))).rejects.toThrow(
      "Secrets Manager can't find the specified secret value for staging label: AWSPENDING",
    );
  });

  it('generates passwords as GetRandomPassword does: 32 characters of letters, digits and punctuation unless told', async () => {
    const { RandomPassword } = await client.send(new GetRandomPasswordCommand({ PasswordLength: 40, ExcludePunctuation: true }));
    expect(RandomPassword).toMatch(/^[A-Za-z0-9]{40}$/);

    const passwords = Array.from({ length: 50 }, () => randomPassword());
    expect(passwords.every((password) => password.length === 32)).toBe(true);
    // each included type at least once
    expect(passwords.every((password) => /[A-Z]/.test(password) && /[a-z]/.test(password) && /\d/.test(password) && /[^A-Za-z0-9]/.test(password))).toBe(true);
    expect(
      randomPassword({ PasswordLength: 8, ExcludeUppercase: true, ExcludeLowercase: true, ExcludePunctuation: true, ExcludeCharacters: '012345678' }),
    ).toBe('99999999');
    expect(() => randomPassword({ ExcludeUppercase: true, ExcludeLowercase: true, ExcludeNumbers: true, ExcludePunctuation: true })).toThrow(
      'no characters left',
    );
  });

  it('answers the AWS CLI: get-secret-value, put-secret-value, describe-secret and get-random-password', async () => {
    const created = await create();
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_PAGER: '',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    };
    const aws = async (...args: string[]) => {
      const result = await runProcess('aws', ['--endpoint-url', endpoint.url, '--output', 'json', 'secretsmanager', ...args], { env, timeoutMs: 60_000 });
      if (result.exitCode !== 0) throw new Error(`aws ${args.join(' ')}: ${result.stderr}`);
      return JSON.parse(result.stdout || '{}');
    };

    expect(await aws('get-secret-value', '--secret-id', 'warren/orders/admin')).toMatchObject({
      ARN: created.ARN,
      SecretString: ADMIN,
      VersionStages: ['AWSCURRENT'],
    });
    const put = await aws('put-secret-value', '--secret-id', created.ARN!, '--secret-string', '{"username":"admin","password":"rotated"}');
    expect(put).toMatchObject({ ARN: created.ARN, VersionStages: ['AWSCURRENT'] });
    expect((await aws('describe-secret', '--secret-id', 'warren/orders/admin')).VersionIdsToStages).toEqual({
      [created.VersionId!]: ['AWSPREVIOUS'],
      [put.VersionId]: ['AWSCURRENT'],
    });
    expect((await aws('get-random-password', '--password-length', '32', '--exclude-punctuation')).RandomPassword).toMatch(/^[A-Za-z0-9]{32}$/);

    const missing = await runProcess('aws', ['--endpoint-url', endpoint.url, 'secretsmanager', 'get-secret-value', '--secret-id', 'nope'], {
      env,
      timeoutMs: 60_000,
    });
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toContain(
      "An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can't find the specified secret.",
    );
  });
});
