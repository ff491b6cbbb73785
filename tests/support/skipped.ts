import { EventSkipped } from '../../shared/errors';

/** Why an event was skipped (EventSkipped's reason); the test fails if it was accepted. */
export function skipReason(act: () => unknown): string {
  try {
    act();
  } catch (error) {
    if (error instanceof EventSkipped) return error.reason;
    throw error;
  }
  throw new Error('expected EventSkipped, but the event was accepted');
}
