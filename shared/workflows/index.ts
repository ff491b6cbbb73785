import type { WarrenEvent } from '../events/types';
import { alarm } from './alarm';
import type { Deps, Outcome } from './deps';
import { gone } from './gone';
import { interruption } from './interruption';
import { launch } from './launch';
import { rebalanceLeaders } from './rebalance';
import { reconcile } from './reconcile';
import { terminate } from './terminate';

export type { Deps, Outcome } from './deps';

/**
 * One entry point for the handlers: the event's kind picks its workflow. Each workflow, once it knows
 * the event is its cluster's, acknowledges it unacted while the group carries the pause tag (./pause.ts).
 */
export function runWorkflow(event: WarrenEvent, deps: Deps): Promise<Outcome> {
  switch (event.kind) {
    case 'launch':
      return launch(event, deps);
    case 'terminate':
      return terminate(event, deps);
    case 'gone':
      return gone(event, deps);
    case 'interruption':
      return interruption(event, deps);
    case 'reconcile':
      return reconcile(event, deps);
    case 'alarm':
      return alarm(event, deps);
    case 'refresh-succeeded':
      return rebalanceLeaders(event, deps);
  }
}
