import { lambdaHandler } from '../wire';

/** SQS FIFO batches of EventBridge events, alarm runbooks and refreshes that succeeded included (one group per cluster), or a direct call such as {"dryRun": true}. */
export const handler = lambdaHandler(['launch', 'terminate', 'gone', 'interruption', 'reconcile', 'alarm', 'refresh-succeeded']);
