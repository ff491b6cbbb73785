import type { NodeCommandOptions, NodeShell } from '../ports';
import type { NodeOperation, NodeOperationParams } from '../rabbitmq/operations';
import type { Deps } from './deps';
import { ensureBudget } from './waiting';

/**
 * The node shell every workflow is given: a command starts only when the invocation has the time it may
 * take left (BudgetExhausted otherwise, so the event is retried before anything is sent): the configured
 * bound of one SSM command. A caller that gives its own timeoutSeconds (a status read within what is
 * left, where an answer cut short is a finding) needs one second. A step of several commands that must
 * not stop halfway (a restart's stop then start) still asks for its whole time first.
 */
export function budgetedShell(nodes: NodeShell, deps: Pick<Deps, 'config' | 'clock' | 'deadline'>): NodeShell {
  const need = (options: NodeCommandOptions | undefined) => (options?.timeoutSeconds === undefined ? deps.config.bounds.ssmCommandSeconds * 1000 : 1_000);
  return {
    isAgentOnline: (instanceId) => nodes.isAgentOnline(instanceId),
    async run<O extends NodeOperation>(instanceId: string, operation: O, params: NodeOperationParams[O], options?: NodeCommandOptions) {
      ensureBudget(deps, need(options), `${operation} on ${instanceId}`);
      return nodes.run(instanceId, operation, params, options);
    },
    async runOnMany<O extends NodeOperation>(instanceIds: string[], operation: O, params: NodeOperationParams[O], options?: NodeCommandOptions) {
      ensureBudget(deps, need(options), `${operation} on ${instanceIds.join(', ')}`);
      return nodes.runOnMany(instanceIds, operation, params, options);
    },
  };
}
