import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { WarrenError } from '../errors';
import { clientConfig, type ClientOptions } from './clients';
import { AwsRequestFailed, errorName } from './errors';

/** The deployed function does not exist in this account and region (a wrong cluster name or region, or warren is not deployed). */
export class FunctionNotFound extends WarrenError {}

/**
 * The environment a deployed warren function runs with (Lambda GetFunctionConfiguration). The operator's
 * `warren status` and `warren plan` load the heal function's own configuration from it, so a dry-run
 * plans with exactly the settings the function acts on. The functions never call it: this module is
 * kept out of shared/aws/index.ts so their bundles do not carry the Lambda client.
 */
export class LambdaFunctionSettings {
  private readonly lambda: LambdaClient;

  constructor(clients: { lambda?: LambdaClient } = {}, options: ClientOptions = {}) {
    this.lambda = clients.lambda ?? new LambdaClient(clientConfig(options));
  }

  /** The function's environment variables; throws FunctionNotFound when Lambda has no such function. */
  async environmentOf(functionName: string): Promise<Record<string, string>> {
    try {
      const answer = await this.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
      return { ...(answer.Environment?.Variables ?? {}) };
    } catch (error) {
      if (errorName(error) === 'ResourceNotFoundException') throw new FunctionNotFound(`Lambda has no function ${functionName} here`, { cause: error });
      throw new AwsRequestFailed('GetFunctionConfiguration', error);
    }
  }
}
