import { triageHandler } from '../wire';

/** SQS batches of EC2 events (standard queue): the managed group's go on to the heal queue, the others are dropped. */
export const handler = triageHandler();
