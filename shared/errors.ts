/**
 * warren's error hierarchy. Two kinds of failure matter to the handlers (see docs/design.md):
 * - EventSkipped: log why, acknowledge, do nothing (malformed, foreign, test notification).
 * - everything else: leave the event for retry; in the end it lands in the DLQ.
 * Each error keeps the SDK error it wraps as `cause`.
 */
export class WarrenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Thrown at cold start when an environment variable is missing or invalid; names the variable. */
export class ConfigError extends WarrenError {}

/** Thrown by converters and workflows for an event that must be acknowledged without any action. */
export class EventSkipped extends WarrenError {
  constructor(
    readonly reason: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(`event skipped: ${reason}`);
  }
}

/** A node command ended Failed, TimedOut, Cancelled or Undeliverable; carries the command's stderr. */
export class NodeCommandFailed extends WarrenError {
  constructor(
    readonly instanceId: string,
    readonly operation: string,
    readonly status: string,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation} on ${instanceId} ended ${status}: ${stderr.trim().slice(0, 500)}`, options);
  }
}

/** A node command printed something that is not the JSON document its operation promises. */
export class NodeOutputInvalid extends WarrenError {
  constructor(
    readonly instanceId: string,
    readonly operation: string,
    readonly stdout: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation} on ${instanceId} printed output that does not parse: ${stdout.slice(0, 300)}`, options);
  }
}

/** A safety rule refused an action; `reason` is the rule, for logs and metrics. */
export class UnsafeActionRefused extends WarrenError {
  constructor(
    readonly action: string,
    readonly reason: string,
  ) {
    super(`refused ${action}: ${reason}`);
  }
}

/** A bounded wait ran out (agent online, target healthy, deregistration, leave). */
export class WaitTimedOut extends WarrenError {}

/** The invocation's time budget ran out before the work did; the event is retried and resumes. */
export class BudgetExhausted extends WarrenError {}

/** The lifecycle action was completed by someone else (an earlier delivery, a human): the work stops. */
export class LifecycleActionGone extends WarrenError {
  constructor(readonly during: string) {
    super(`lifecycle action no longer active during ${during}`);
  }
}

/** A launch that no retry can rescue: abandoned at once instead of retried until the bound. */
export class LaunchCannotSucceed extends WarrenError {}
