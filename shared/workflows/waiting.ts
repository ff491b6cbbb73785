import { BudgetExhausted, LifecycleActionGone, WaitTimedOut } from '../errors';
import type { Deps } from './deps';
import type { HookWatch } from './lifecycle-action';

/** Throws BudgetExhausted when `needMs` more work would not end before the invocation's deadline. */
export function ensureBudget(deps: Pick<Deps, 'clock' | 'deadline'>, needMs: number, what: string): void {
  if (deps.clock.now() + needMs > deps.deadline) {
    throw new BudgetExhausted(`${what}: ${needMs} ms needed, ${Math.max(0, deps.deadline - deps.clock.now())} ms left in this invocation`);
  }
}

export interface PollOptions {
  what: string;
  /** epoch ms: the wait's own bound, measured from the event's time so a retry does not restart it */
  until: number;
  everyMs: number;
  /** when given, the wait stops as soon as the lifecycle action was completed elsewhere */
  hook?: HookWatch;
}

/**
 * The one polling wait of the workflows. `probe` returns a value when done, undefined to wait more.
 * Past `until`: WaitTimedOut. Bound still ahead but the invocation's deadline is not: BudgetExhausted,
 * so the event is retried and the retry resumes the same wait.
 */
export async function pollUntil<T>(deps: Pick<Deps, 'clock' | 'deadline'>, options: PollOptions, probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    if (options.hook?.gone) throw new LifecycleActionGone(options.what);
    const value = await probe();
    if (value !== undefined) return value;
    if (options.hook?.gone) throw new LifecycleActionGone(options.what);
    const now = deps.clock.now();
    if (now >= options.until) throw new WaitTimedOut(`${options.what}: still waiting at the bound`);
    const pause = Math.min(options.everyMs, options.until - now);
    ensureBudget(deps, pause, options.what);
    await deps.clock.sleep(pause);
  }
}

/** Tries each candidate in order until one answers; undefined with every error when none does. */
export async function firstThatAnswers<C, T>(
  candidates: C[],
  attempt: (candidate: C) => Promise<T | undefined>,
): Promise<{ candidate: C; value: T; errors: unknown[] } | { candidate?: undefined; errors: unknown[] }> {
  const errors: unknown[] = [];
  for (const candidate of candidates) {
    try {
      const value = await attempt(candidate);
      if (value !== undefined) return { candidate, value, errors };
    } catch (error) {
      errors.push(error);
    }
  }
  return { errors };
}
