import type { Clock } from '../../../shared/ports';

/**
 * The local cloud's sense of time: one clock for "now" and cancellable timers. The model never reads
 * Date.now() or calls setTimeout itself, so tests drive it with virtual time and the sandbox with real time.
 */
export interface Scheduler {
  now(): number;
  /** Runs `task` after `ms`; the returned function cancels it (a no-op once it ran). */
  after(ms: number, task: () => void): () => void;
}

/*
 * Over the Clock port the workflows already use: with their fake clock, the model and the workflows
 * share one virtual timeline. sleep() cannot be cancelled, so a cancelled timer wakes and does nothing.
 */
export function schedulerOn(clock: Clock): Scheduler {
  return {
    now: () => clock.now(),
    after(ms, task) {
      let live = true;
      void clock.sleep(ms).then(() => {
        if (live) task();
      });
      return () => {
        live = false;
      };
    },
  };
}

/** Wall-clock timers; unref'd so a hook timeout an hour away never keeps the sandbox process alive. */
export const realTimeScheduler: Scheduler = {
  now: () => Date.now(),
  after(ms, task) {
    const timer = setTimeout(task, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};
