import { lambdaHandler } from '../wire';

/** SQS FIFO batches of EventBridge events, alarm runbooks included (one group per cluster), or a direct call such as {"dryRun": true}. */
export const handler = lambdaHandler(['launch', 'terminate', 'gone', 'interruption', 'reconcile', 'alarm']);
