import { DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { WarrenError } from '../errors';
import type { AdminCredential } from '../ports';
import type { AwsClients } from './clients';

/**
 * The administrator's secret through DescribeSecret, which answers its versions and their labels but
 * never its value: warren compares the AWSCURRENT version with the one the cluster records, and a node
 * reads the value itself (NodeApplyPolicy with AdminSecretId).
 */
export class SecretsManagerAdminCredential implements AdminCredential {
  constructor(
    private readonly secretId: string,
    private readonly clients: Pick<AwsClients, 'secretsManager'>,
  ) {}

  async currentVersion(): Promise<string> {
    const secret = await this.clients.secretsManager.send(new DescribeSecretCommand({ SecretId: this.secretId }));
    const current = Object.entries(secret.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes('AWSCURRENT'));
    if (!current) throw new WarrenError(`the secret ${this.secretId} has no version labelled AWSCURRENT`);
    return current[0];
  }
}
