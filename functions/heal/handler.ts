import { lambdaHandler } from '../../shared/aws/lambda';

/** SQS FIFO batches of EventBridge events (one group per cluster), or a direct call such as {"dryRun": true}. */
export const handler = lambdaHandler(['launch', 'terminate', 'gone', 'interruption', 'reconcile']);
