/** Tests read the deployed settings where the sandbox reads them: serverless.yml and infra/cluster.yml. */
export { deployed, deployedConfig, deployedEnvironment } from '../../infra/deploy/settings';
