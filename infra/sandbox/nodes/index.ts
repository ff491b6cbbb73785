export { NodeCluster, startCluster, NODE_CONFIG_DIR } from './cluster';
export { assertRabbitMqInstalled, chooseRabbitMq, prepareRabbitMq, parseRabbitMqLine, RABBITMQ_LINES, NEWEST_RABBITMQ } from './versions';
export type { RabbitMqLine, RabbitMqRuntime } from './versions';
export type { SandboxNode, ClusterOptions, NodeEnvironment, NodeMode } from './cluster';
export { loadDocument, parameterEnvironment, truncateLikeSsm, InvalidDocumentParameters, SSM_DOCUMENT_DIR } from './documents';
export { removeLeftovers, RUNS_DIR } from './network';
export type { ProcessResult } from './process';
