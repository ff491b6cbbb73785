import { policyParamsFor } from '../cluster/policy';
import type { PolicyParams } from '../rabbitmq/operations';
import type { Deps } from './deps';

// The same configuration is ignored on every event of a warm Lambda: say so once per process, not per event.
let ignoredNoteLogged = false;

/** The policy params for the version the cluster reports, logging why anything configured is not sent. */
export function choosePolicy(deps: Pick<Deps, 'config' | 'log'>, version: string | undefined, context: Record<string, unknown> = {}): PolicyParams {
  const choice = policyParamsFor(deps.config, version);
  if (choice.ignored && !ignoredNoteLogged) {
    ignoredNoteLogged = true;
    deps.log.warn('configured mirroring keys ignored', { version, note: choice.ignored });
  }
  if (choice.omitted) deps.log.info('no policy sent', { ...context, version, reason: choice.omitted });
  return choice.params;
}

/** Tests start each case as a fresh process would. */
export function resetPolicyNotes(): void {
  ignoredNoteLogged = false;
}
