import { LambdaFunctionSettings } from '../../shared/aws/function-settings';
import type { ClientOptions } from '../../shared/aws/clients';
import { loadConfig, type Config } from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import { stackNames } from '../deploy/plan';

/**
 * Where `warren status` and `warren plan` get the settings of a deployed cluster: the heal function's
 * own environment (Lambda GetFunctionConfiguration on warren-<cluster>-heal). It holds the group's name,
 * the target groups, the SSM document prefix and the heal and dead-letter queue URLs (the cluster stack's
 * outputs and the functions stack's queues), and also every setting a plan depends on (policies,
 * MIN_HEALTHY_MEMBERS, MAJORITY_LOSS_RECOVERY, hook names), which no stack output carries: a dry-run
 * loaded from it plans exactly what the function would do.
 */

/** `--cluster`: the cluster stack's ClusterName; warren-<name>-heal must stay within Lambda's 64 characters. */
export const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,51}$/;

/** The deployed function's environment as the function loads it, checked to belong to this cluster. */
export function configOfDeployed(clusterName: string, functionName: string, environment: Record<string, string>): Config {
  let config: Config;
  try {
    config = loadConfig(environment);
  } catch (error) {
    throw new ConfigError(`${functionName}'s environment is not a configuration warren can load: ${(error as Error).message}`);
  }
  if (config.clusterName !== clusterName) {
    throw new ConfigError(`${functionName} heals cluster ${config.clusterName}, not ${clusterName}`);
  }
  return config;
}

/** Reads the heal function's environment; throws FunctionNotFound when warren is not deployed for the cluster in this region. */
export async function deployedConfig(clusterName: string, clients: ClientOptions): Promise<Config> {
  const functionName = stackNames(clusterName).healFunction;
  const environment = await new LambdaFunctionSettings({}, clients).environmentOf(functionName);
  return configOfDeployed(clusterName, functionName, environment);
}
