import { createHash } from 'node:crypto';
import { ApiError, invalid, type ServiceApi } from './protocol';

/**
 * Lambda (restJson1), as far as an operator reads a deployed function: GetFunctionConfiguration, which
 * `warren status` and `warren plan` use to load the heal function's environment. A function is named
 * by its name, its ARN or a partial ARN (account:function:name), with an optional qualifier; only
 * $LATEST exists here, as after `serverless deploy` without versions.
 */

export interface DeployedFunction {
  name: string;
  handler: string;
  description: string;
  timeoutSeconds: number;
  memorySize: number;
  runtime: string;
  architecture: string;
  /** what the function's configuration lists: the variables set on it, never Lambda's reserved AWS_* ones */
  environment: Record<string, string>;
}

/** FunctionName in the API reference: a name, a partial ARN or an ARN, optionally with a version or alias. */
const FUNCTION_NAME = /^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$/;

export function lambdaApi(functions: DeployedFunction[], place: { region: string; account: string }): ServiceApi {
  const arnOf = (name: string) => `arn:aws:lambda:${place.region}:${place.account}:function:${name}`;
  const deployedAt = new Date().toISOString().replace('Z', '+0000');
  return {
    service: 'lambda',
    protocol: 'restJson1',
    routes: [
      {
        method: 'GET',
        path: /^\/2015-03-31\/functions\/([^/]+)\/configuration\/?$/,
        operation: 'GetFunctionConfiguration',
        input: (path, query) => ({ FunctionName: decodeURIComponent(path[1]!), ...(query.has('Qualifier') ? { Qualifier: query.get('Qualifier') } : {}) }),
      },
    ],
    operations: {
      GetFunctionConfiguration: (input: { FunctionName?: string; Qualifier?: string }) => {
        const given = input.FunctionName ?? '';
        const named = given.length <= 170 ? FUNCTION_NAME.exec(given) : null;
        if (!named)
          throw invalid(
            `Value '${given}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?`,
            'ValidationException',
          );
        const [, , , region, , account, , name, , inlineQualifier] = named;
        const qualifier = input.Qualifier ?? inlineQualifier;
        const fn = functions.find((candidate) => candidate.name === name);
        const inThisPlace = (region === undefined || region === `${place.region}:`) && (account === undefined || account === `${place.account}:`);
        if (!fn || !inThisPlace || (qualifier !== undefined && qualifier !== '$LATEST')) {
          throw new ApiError('ResourceNotFoundException', `Function not found: ${arnOf(name!)}${qualifier === undefined ? '' : `:${qualifier}`}`, 404);
        }
        return {
          FunctionName: fn.name,
          FunctionArn: arnOf(fn.name),
          Runtime: fn.runtime,
          Role: `arn:aws:iam::${place.account}:role/${fn.name}-role`,
          Handler: fn.handler,
          CodeSize: 0,
          Description: fn.description,
          Timeout: fn.timeoutSeconds,
          MemorySize: fn.memorySize,
          LastModified: deployedAt,
          CodeSha256: createHash('sha256').update(fn.name).digest('base64'),
          Version: '$LATEST',
          Environment: { Variables: { ...fn.environment } },
          TracingConfig: { Mode: 'PassThrough' },
          State: 'Active',
          LastUpdateStatus: 'Successful',
          PackageType: 'Zip',
          Architectures: [fn.architecture],
          EphemeralStorage: { Size: 512 },
          LoggingConfig: { LogFormat: 'Text', LogGroup: `/aws/lambda/${fn.name}` },
        };
      },
    },
  };
}
