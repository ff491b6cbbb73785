import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { LocalAwsEndpoint } from '../../infra/sandbox/aws/endpoint';
import { lambdaApi } from '../../infra/sandbox/aws/lambda-api';
import type { ClientOptions } from '../../shared/aws/clients';
import { FunctionNotFound, LambdaFunctionSettings } from '../../shared/aws/function-settings';
import { startMoto } from './moto';

/*
 * The one Lambda call warren makes, for the operator's `warren status` and `warren plan`:
 * GetFunctionConfiguration of the heal function, answered alike by moto and by the sandbox's local AWS.
 */

const FUNCTION = 'warren-orders-heal';
const ENVIRONMENT = { CLUSTER_NAME: 'orders', ASG_NAME: 'orders', SSM_DOCUMENT_PREFIX: 'orders-' };
/** an empty zip archive: moto stores the code, it never runs it here */
const EMPTY_ZIP = Buffer.from('UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==', 'base64');

interface Backend {
  clientOptions: ClientOptions;
  stop(): Promise<void>;
}

const BACKENDS: Record<string, () => Promise<Backend>> = {
  async moto() {
    const moto = await startMoto();
    const { endpoint, region, credentials } = moto.clientOptions;
    // moto, like Lambda, wants the function's role to exist
    const role = await new IAMClient({ endpoint, region, credentials }).send(
      new CreateRoleCommand({ RoleName: `${FUNCTION}-role`, AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [] }) }),
    );
    await new LambdaClient({ endpoint, region, credentials }).send(
      new CreateFunctionCommand({
        FunctionName: FUNCTION,
        Role: role.Role!.Arn!,
        Runtime: 'nodejs22.x',
        Handler: 'functions/heal/handler.handler',
        Code: { ZipFile: EMPTY_ZIP },
        Environment: { Variables: ENVIRONMENT },
      }),
    );
    return moto;
  },
  async 'local AWS'() {
    const fn = {
      name: FUNCTION,
      handler: 'functions/heal/handler.handler',
      description: '',
      timeoutSeconds: 900,
      memorySize: 256,
      runtime: 'nodejs22.x',
      architecture: 'arm64',
      environment: ENVIRONMENT,
    };
    const endpoint = await LocalAwsEndpoint.start([lambdaApi([fn], { region: 'us-east-1', account: '123456789012' })], { region: 'us-east-1' });
    return { clientOptions: { ...endpoint.clientOptions(), maxAttempts: 2, retryDelayMs: 10 }, stop: () => endpoint.close() };
  },
};

describe.each(Object.keys(BACKENDS))('%s', (name) => {
  let backend: Backend;

  beforeAll(async () => {
    backend = await BACKENDS[name]!();
  }, 60_000);

  afterAll(async () => backend?.stop());

  it("reads the function's environment, by name and by ARN", async () => {
    const settings = new LambdaFunctionSettings({}, backend.clientOptions);

    await expect(settings.environmentOf(FUNCTION)).resolves.toEqual(ENVIRONMENT);
    await expect(settings.environmentOf(`arn:aws:lambda:us-east-1:123456789012:function:${FUNCTION}`)).resolves.toEqual(ENVIRONMENT);
  });

  it('names a function Lambda does not have as FunctionNotFound, with the ARN Lambda answers', async () => {
    const settings = new LambdaFunctionSettings({}, backend.clientOptions);

    const error = await settings.environmentOf('warren-nope-heal').catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(FunctionNotFound);
    expect((error as FunctionNotFound).cause).toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'Function not found: arn:aws:lambda:us-east-1:123456789012:function:warren-nope-heal',
    });
  });
});
