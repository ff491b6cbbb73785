import { BudgetExhausted, EventSkipped, LaunchCannotSucceed, LifecycleActionGone, WaitTimedOut } from '../errors';

/*
 * The one failure policy of a launch, for the event's own instance and its batch companions alike
 * (shared/workflows/launch.ts, launch-batch.ts): pure, decided on the error's type and the member's bound.
 */

/** How a member's failure ends: no longer ours, thrown back, abandoned at once (bound passed, or no retry can help), or retried. */
export function failureKind(error: unknown, member: { bound: number }, now: number): 'gone' | 'rethrow' | 'abandon' | 'retry' {
  if (error instanceof LifecycleActionGone) return 'gone';
  if (error instanceof BudgetExhausted || error instanceof EventSkipped) return 'rethrow';
  if (error instanceof LaunchCannotSucceed || error instanceof WaitTimedOut || now >= member.bound) return 'abandon';
  return 'retry';
}
