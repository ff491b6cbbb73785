import type { Clock } from '../../shared/ports';

/**
 * Virtual time. sleep() only registers a timer; once every runnable task is blocked (checked on a
 * macrotask, after all microtasks ran), time jumps to the earliest timer and wakes it. Tests never
 * sleep for real and concurrent loops (heartbeats beside a step) interleave deterministically.
 */
export class FakeClock implements Clock {
  private timers: Array<{ at: number; seq: number; wake: () => void }> = [];
  private seq = 0;
  private pumpScheduled = false;

  constructor(private current = Date.UTC(2024, 0, 1)) {}

  now(): number {
    return this.current;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((wake) => {
      this.timers.push({ at: this.current + Math.max(0, ms), seq: this.seq++, wake });
      this.schedulePump();
    });
  }

  /** Moves time forward without waking anyone: an event that arrives late. */
  advance(ms: number): void {
    this.current += ms;
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift();
      if (!next) return;
      this.current = Math.max(this.current, next.at);
      next.wake();
      if (this.timers.length > 0) this.schedulePump();
    });
  }
}
