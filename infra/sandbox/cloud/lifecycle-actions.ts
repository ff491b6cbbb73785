import { randomUUID } from 'node:crypto';
import { ApiError } from '../aws/protocol';

export type LifecycleResult = 'CONTINUE' | 'ABANDON';
export type Transition = 'launching' | 'terminating';

export interface LifecycleHookSpec {
  name: string;
  /** PutLifecycleHook accepts 30 to 7200; AWS's default is 3600 */
  heartbeatTimeoutSeconds: number;
  defaultResult: LifecycleResult;
  notificationMetadata?: string;
}

export interface LifecycleActionView {
  token: string;
  hookName: string;
  instanceId: string;
  transition: Transition;
  startedAt: number;
  /** when the default result applies unless a heartbeat comes first */
  timeoutAt: number;
}

/** CompleteLifecycleAction / RecordLifecycleActionHeartbeat name the action by token or by instance id. */
export interface LifecycleActionRequest {
  groupName: string;
  hookName: string;
  token?: string;
  instanceId?: string;
}

export interface LifecycleAction extends LifecycleActionView {
  hook: LifecycleHookSpec;
  globalTimeoutAt: number;
}

/** Auto Scaling's ValidationError, in AWS's own wording. */
export class AutoScalingValidationError extends ApiError {
  constructor(message: string) {
    super('ValidationError', message);
  }
}

/** A wait state lasts at most 48 hours or 100 heartbeat timeouts, whichever is smaller. */
const MAX_GLOBAL_TIMEOUT_SECONDS = 172_800;

type Timer = (ms: number, task: () => void) => () => void;

/**
 * The open lifecycle actions of one group, at most one per instance: their tokens, their heartbeat
 * timeouts under the global timeout, and AWS's answer when a call names an action that is not open.
 */
export class LifecycleActions {
  private readonly open = new Map<string, { action: LifecycleAction; cancelTimer: () => void }>();

  constructor(
    private readonly now: () => number,
    private readonly timer: Timer,
    /** the hook's default result is due: the timeout passed with no heartbeat or completion */
    private readonly onTimeout: (action: LifecycleAction) => void,
  ) {}

  start(instanceId: string, transition: Transition, hook: LifecycleHookSpec): LifecycleAction {
    const now = this.now();
    const action: LifecycleAction = {
      token: randomUUID(),
      hookName: hook.name,
      hook,
      instanceId,
      transition,
      startedAt: now,
      timeoutAt: now,
      globalTimeoutAt: now + Math.min(MAX_GLOBAL_TIMEOUT_SECONDS, 100 * hook.heartbeatTimeoutSeconds) * 1000,
    };
    this.open.set(instanceId, { action, cancelTimer: () => undefined });
    this.heartbeat(action);
    return action;
  }

  /** The timeout starts over, but never past the global timeout. */
  heartbeat(action: LifecycleAction): void {
    const entry = this.open.get(action.instanceId);
    if (entry?.action !== action) return;
    entry.cancelTimer();
    const now = this.now();
    action.timeoutAt = Math.min(now + action.hook.heartbeatTimeoutSeconds * 1000, action.globalTimeoutAt);
    entry.cancelTimer = this.timer(action.timeoutAt - now, () => {
      if (this.close(action.instanceId) === action) this.onTimeout(action);
    });
  }

  close(instanceId: string): LifecycleAction | undefined {
    const entry = this.open.get(instanceId);
    if (!entry) return undefined;
    entry.cancelTimer();
    this.open.delete(instanceId);
    return entry.action;
  }

  /** The open action a request names, or AWS's ValidationError for one that is not open. */
  find(request: LifecycleActionRequest, groupName: string): LifecycleAction {
    const candidate = request.token
      ? [...this.open.values()].find(({ action }) => action.token === request.token)?.action
      : request.instanceId
        ? this.open.get(request.instanceId)?.action
        : undefined;
    if (candidate && request.groupName === groupName && candidate.hookName === request.hookName) return candidate;
    throw new AutoScalingValidationError(
      request.token ? `No active Lifecycle Action found with token ${request.token}` : `No active Lifecycle Action found with instance ID ${request.instanceId}`,
    );
  }

  list(): LifecycleActionView[] {
    return [...this.open.values()].map(({ action: { token, hookName, instanceId, transition, startedAt, timeoutAt } }) => ({
      token, hookName, instanceId, transition, startedAt, timeoutAt,
    }));
  }
}

/** PutLifecycleHook's checks on top of the given defaults; null means the group has no such hook. */
export function hookSpec(given: Partial<LifecycleHookSpec> | null | undefined, defaults: LifecycleHookSpec): LifecycleHookSpec | undefined {
  if (given === null) return undefined;
  const spec = { ...defaults, ...given };
  if (!Number.isInteger(spec.heartbeatTimeoutSeconds) || spec.heartbeatTimeoutSeconds < 30 || spec.heartbeatTimeoutSeconds > 7200) {
    throw new AutoScalingValidationError(`HeartbeatTimeout must be between 30 and 7200 seconds, not ${spec.heartbeatTimeoutSeconds}`);
  }
  return spec;
}
