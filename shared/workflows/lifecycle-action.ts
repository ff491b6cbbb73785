import { EventSkipped, LifecycleActionGone } from '../errors';
import type { LifecycleActionRef } from '../ports';
import type { Deps } from './deps';

/** Read by waits inside a heartbeated step, so they stop between probes once the hook is gone. */
export interface HookWatch {
  gone: boolean;
}

/** A heartbeat doubles as the cheapest check that the action is still open: a repeated event learns it is done. */
export async function actionStillOpen(deps: Pick<Deps, 'lifecycle'>, action: LifecycleActionRef): Promise<boolean> {
  return (await deps.lifecycle.heartbeat(action)) === 'recorded';
}

/**
 * Runs a slow step while heartbeating the lifecycle action every heartbeatIntervalSeconds, so the
 * hook does not time out into its default result. Heartbeats stop when the step ends; a
 * 'no-active-action' heartbeat ends the step with LifecycleActionGone.
 */
export async function withHeartbeat<T>(
  deps: Pick<Deps, 'lifecycle' | 'clock' | 'config' | 'log'>,
  action: LifecycleActionRef,
  step: (hook: HookWatch) => Promise<T>,
): Promise<T> {
  const hook: HookWatch = { gone: false };
  let stepEnded = false;
  let signalGone: (error: LifecycleActionGone) => void = () => undefined;
  const gone = new Promise<never>((_, reject) => {
    signalGone = reject;
  });
  gone.catch(() => undefined);
  let wakeOnEnd: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => {
    wakeOnEnd = resolve;
  });

  const beat = async () => {
    const intervalMs = deps.config.bounds.heartbeatIntervalSeconds * 1000;
    while (!stepEnded) {
      await Promise.race([deps.clock.sleep(intervalMs), ended]);
      if (stepEnded) return;
      try {
        if ((await deps.lifecycle.heartbeat(action)) === 'no-active-action') {
          hook.gone = true;
          signalGone(new LifecycleActionGone('heartbeat'));
          return;
        }
      } catch (error) {
        // A failed heartbeat (throttling) is not a failed step: the next one may succeed before the hook times out.
        deps.log.warn('lifecycle heartbeat failed', { instanceId: action.instanceId, error: String(error) });
      }
    }
  };
  const beating = beat();
  const running = step(hook);
  // The step may still settle after the hook is gone; its outcome no longer matters then.
  running.catch(() => undefined);
  try {
    return await Promise.race([running, gone]);
  } finally {
    stepEnded = true;
    wakeOnEnd();
    await beating;
  }
}

/** Lifecycle events of another group are foreign: acknowledged, nothing done. */
export function assertOurGroup(deps: Pick<Deps, 'config'>, action: LifecycleActionRef): void {
  if (action.autoScalingGroupName !== deps.config.autoScalingGroupName) {
    throw new EventSkipped('lifecycle action of another Auto Scaling group', {
      autoScalingGroupName: action.autoScalingGroupName,
      managed: deps.config.autoScalingGroupName,
    });
  }
}

/** The outcome's reason when an earlier delivery (or an operator) already completed the action: success too. */
export const ALREADY_COMPLETED = 'lifecycle action already completed';

/** Completes the action; 'no-active-action' means an earlier delivery already did, which is success too. */
export async function completeAction(
  deps: Pick<Deps, 'lifecycle' | 'log'>,
  action: LifecycleActionRef,
  result: 'CONTINUE' | 'ABANDON',
): Promise<'completed' | 'already-completed'> {
  const answer = await deps.lifecycle.complete(action, result);
  if (answer === 'no-active-action') {
    deps.log.info('lifecycle action was already completed', { instanceId: action.instanceId, result });
    return 'already-completed';
  }
  return 'completed';
}
