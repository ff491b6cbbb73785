import type { GroupFacts, Log } from '../ports';
import type { Deps, Outcome } from './deps';

/*
 * The pause switch: the warren:paused tag on the Auto Scaling group (shared/aws/inventory.ts), set and
 * removed with the AWS CLI, so it needs no deploy. While it is there warren changes nothing: no node
 * command that changes a node, no target, no lifecycle action. Lifecycle events are acknowledged
 * unacted (their hooks wait in Pending:Wait or Terminating:Wait); reconcile still observes and reports
 * (findings, gauges, gauge Paused 1) but repairs nothing and takes over no hook. Once the tag is gone,
 * the next reconcile tick takes over every hook still waiting (shared/workflows/orphaned-hooks.ts) and
 * repairs what changed meanwhile. A hook that timed out while paused got its default result.
 */

/** Every line a paused workflow logs says so, with the operator's note. */
export function pausedLog(log: Log, note: string): Log {
  const tagged = (write: Log['info']) => (message: string, extra?: Record<string, unknown>) => write(message, { ...extra, paused: true, pauseNote: note });
  return { debug: tagged(log.debug), info: tagged(log.info), warn: tagged(log.warn), error: tagged(log.error) };
}

/**
 * An event that arrives while paused: acknowledged, nothing touched; undefined when warren is not paused.
 * The switch is an operator's convenience, not a safety interlock (the workflows' own refusals stay):
 * when the group cannot be read, the event goes on as it would have, so a hook still ends by its bound.
 */
export async function whilePaused(kind: string, deps: Deps, known?: GroupFacts): Promise<Outcome | undefined> {
  let group: GroupFacts;
  try {
    group = known ?? (await deps.inventory.describeGroup());
  } catch (error) {
    deps.log.warn('the pause switch could not be read; going on as not paused', { kind, error: String(error) });
    return undefined;
  }
  if (group.paused === undefined) return undefined;
  deps.metrics.count('EventsPaused');
  pausedLog(deps.log, group.paused).warn('warren is paused (warren:paused tag on the group): event acknowledged, nothing done', { kind });
  return { result: 'done', reason: pauseReason(group.paused) };
}

/** The outcome's reason: the operator's note, or the tag's name when the note is empty. */
export function pauseReason(note: string): string {
  return `paused: ${note || 'warren:paused tag on the group'}`;
}
