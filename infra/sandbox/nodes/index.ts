export { NodeCluster, startCluster, assertRabbitMqInstalled, NODE_CONFIG_DIR } from './cluster';
export type { SandboxNode, ClusterOptions, NodeMode } from './cluster';
export { loadDocument, parameterEnvironment, truncateLikeSsm, InvalidDocumentParameters, SSM_DOCUMENT_DIR } from './documents';
export { removeLeftovers, RUNS_DIR } from './network';
export type { ProcessResult } from './process';
