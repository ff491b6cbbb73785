import type { NodeCluster } from '../nodes';
import { LocalAwsEndpoint } from './endpoint';
import type { InstanceMetadataOptions } from './instance-metadata';
import { LocalSecrets, secretsManagerApi } from './secretsmanager-api';

/**
 * What a node's AWS tools reach: a real node finds the instance metadata service at
 * http://169.254.169.254 and Secrets Manager at its regional endpoint; a sandbox node finds both on
 * the address where its run reaches this host, through the variables the SDKs, the CLI and the node
 * scripts read (the image sets them: ClusterOptions.env, NodeCluster.addEnv).
 */
export function nodeAwsEnvironment(url: string): Record<string, string> {
  return { AWS_EC2_METADATA_SERVICE_ENDPOINT: url, AWS_ENDPOINT_URL_SECRETS_MANAGER: url };
}

export interface NodeAwsOptions extends Omit<InstanceMetadataOptions, 'region' | 'credentials' | 'now'> {
  /** default us-east-1 */
  region?: string;
  /** default 123456789012 */
  account?: string;
  /** secrets created at start: name -> SecretString */
  secrets?: Record<string, string>;
}

export interface NodeAws {
  /** the local endpoint: on loopback (endpoint.url, for the SDK and the CLI on this host) and on the nodes' address */
  endpoint: LocalAwsEndpoint;
  /** the endpoint on the address the nodes reach: their metadata service and Secrets Manager */
  url: string;
  /** the secrets model, to read or rotate a secret behind the nodes' backs */
  secrets: LocalSecrets;
  /** each secret's ARN, by name */
  secretArns: Record<string, string>;
  /** the nodes' variables (nodeAwsEnvironment): ClusterOptions.env, or cluster.addEnv(env) */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** A cluster's nodes as instances, by their own address: i- and the node's index in 17 hex digits (none where nodes share one, as on loopback). */
function nodeInstances(cluster: NodeCluster): InstanceMetadataOptions['instanceAt'] {
  return (ip) => {
    const [node, ...others] = cluster.nodes.filter((candidate) => candidate.ip === ip);
    return node && others.length === 0 ? { instanceId: `i-${node.index.toString(16).padStart(17, '0')}` } : undefined;
  };
}

/**
 * The AWS a node script needs, for tests of real nodes: Secrets Manager with `secrets` created, and
 * the instance metadata service with a role whose credentials the endpoint accepts, listening where the
 * nodes reach this host (a cluster's hostAddress, its network made first; or an address given); a
 * cluster's node is told an instance id of its own (nodeInstances) unless `instanceAt` says otherwise. Give
 * its env to the nodes at cluster start, as their image would:
 *
 *   cluster = await startCluster({ size: 3, env: async (starting) => {
 *     aws = await startNodeAws(starting, { secrets: { [SECRET]: JSON.stringify({ username: 'admin', password }) } });
 *     return aws.env;
 *   } });
 *
 * or to a running cluster with cluster.addEnv(aws.env). Close it after the cluster.
 */
export async function startNodeAws(target: NodeCluster | string, options: NodeAwsOptions = {}): Promise<NodeAws> {
  const { region = 'us-east-1', account = '123456789012', secrets: given = {}, ...metadata } = options;
  const secrets = new LocalSecrets({ region, account });
  const secretArns = Object.fromEntries(Object.entries(given).map(([name, value]) => [name, secrets.create({ name, SecretString: value }).secret.arn]));
  const address = typeof target === 'string' ? target : await target.ensureNetwork();
  const endpoint = await LocalAwsEndpoint.start([secretsManagerApi(secrets)], { region });
  try {
    const url = await endpoint.listenOn(address, { instanceAt: typeof target === 'string' ? undefined : nodeInstances(target), ...metadata });
    return { endpoint, url, secrets, secretArns, env: nodeAwsEnvironment(url), close: () => endpoint.close() };
  } catch (error) {
    await endpoint.close();
    throw error;
  }
}
