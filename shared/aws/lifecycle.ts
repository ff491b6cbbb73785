import { type AutoScalingClient, CompleteLifecycleActionCommand, RecordLifecycleActionHeartbeatCommand } from '@aws-sdk/client-auto-scaling';
import type { Lifecycle, LifecycleActionRef } from '../ports';
import { createAutoScalingClient } from './clients';
import { AwsRequestFailed, errorMessage, errorName } from './errors';

/**
 * Lifecycle hooks over Auto Scaling. AWS answers a heartbeat or completion for an action that has
 * already ended with ValidationError "No active Lifecycle Action found with instance ID i-…" (or
 * "… with token <token>"); on a repeated event that means done, so it is a result, not a failure.
 */
export class AutoScalingLifecycle implements Lifecycle {
  private readonly autoScaling: AutoScalingClient;

  constructor(clients: { autoScaling?: AutoScalingClient } = {}) {
    this.autoScaling = clients.autoScaling ?? createAutoScalingClient();
  }

  heartbeat(action: LifecycleActionRef): Promise<'recorded' | 'no-active-action'> {
    return lifecycleRequest('RecordLifecycleActionHeartbeat', 'recorded', () =>
      this.autoScaling.send(new RecordLifecycleActionHeartbeatCommand(target(action))),
    );
  }

  complete(action: LifecycleActionRef, result: 'CONTINUE' | 'ABANDON'): Promise<'completed' | 'no-active-action'> {
    return lifecycleRequest('CompleteLifecycleAction', 'completed', () =>
      this.autoScaling.send(new CompleteLifecycleActionCommand({ ...target(action), LifecycleActionResult: result })),
    );
  }
}

/** One lifecycle call: AWS's "No active Lifecycle Action found" means already done, not failure. */
export async function lifecycleRequest<T extends string>(operation: string, done: T, work: () => Promise<unknown>): Promise<T | 'no-active-action'> {
  try {
    await work();
    return done;
  } catch (error) {
    if (isNoActiveLifecycleAction(error)) return 'no-active-action';
    throw new AwsRequestFailed(operation, error);
  }
}

export function isNoActiveLifecycleAction(error: unknown): boolean {
  return errorName(error) === 'ValidationError' && /no active lifecycle action found/i.test(errorMessage(error));
}

/** The token names the action exactly; the instance id is the fallback AWS also accepts. */
function target(action: LifecycleActionRef) {
  return {
    AutoScalingGroupName: action.autoScalingGroupName,
    LifecycleHookName: action.lifecycleHookName,
    ...(action.lifecycleActionToken ? { LifecycleActionToken: action.lifecycleActionToken } : { InstanceId: action.instanceId }),
  };
}
