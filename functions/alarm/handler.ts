import { lambdaHandler } from '../../shared/aws/lambda';

/** CloudWatch Alarm State Change events from EventBridge; runbook actions need no serialisation. */
export const handler = lambdaHandler(['alarm']);
