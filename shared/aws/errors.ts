import { WarrenError } from '../errors';

/**
 * Failures of AWS calls, after the SDK's own retries. The SDK error is kept as `cause`, so a
 * caller that needs its name (AccessDenied, ValidationError) can still read it.
 */

/** An AWS API call failed for a reason the adapter does not translate; the event is retried. */
export class AwsRequestFailed extends WarrenError {
  constructor(
    readonly operation: string,
    cause: unknown,
  ) {
    super(`${operation} failed: ${errorName(cause)}: ${errorMessage(cause)}`, { cause });
  }
}

/** The configured Auto Scaling group does not exist (ASG_NAME is wrong, or the stack is gone). */
export class AutoScalingGroupNotFound extends WarrenError {}

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs one AWS request; anything it throws becomes AwsRequestFailed naming the operation. */
export async function request<T>(operation: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw new AwsRequestFailed(operation, error);
  }
}
