import type { Config } from '../config';
import { budgetedShell } from './budgeted-shell';
import type { AdminCredential, Clock, HealQueue, Inventory, Lifecycle, Log, Metrics, NodeShell, TargetGroups } from '../ports';

/** Everything a workflow touches, injected: AWS adapters in Lambda, the local cloud in the sandbox, a fake in tests. */
export interface Deps {
  config: Config;
  inventory: Inventory;
  lifecycle: Lifecycle;
  nodes: NodeShell;
  targets: TargetGroups;
  queue?: HealQueue;
  /** the administrator credential's secret, when warren keeps the administrator (ADMIN_SECRET_ID) */
  admin?: AdminCredential;
  metrics: Metrics;
  log: Log;
  clock: Clock;
  /** epoch ms by which this invocation must have returned (Lambda remaining time minus a margin) */
  deadline: number;
}

/** What a workflow did, for the handler's log line and for tests. Skips are thrown as EventSkipped instead. */
export interface Outcome {
  result: 'continued' | 'abandoned' | 'done' | 'refused' | 'planned' | 'acted';
  reason?: string;
  details?: Record<string, unknown>;
}

/** What a workflow is given for one invocation: the ports, its log and its deadline, the node shell kept within that deadline. */
export function invocationDeps(ports: Omit<Deps, 'log' | 'deadline'>, log: Log, deadline: number): Deps {
  const deps = { ...ports, log, deadline };
  return { ...deps, nodes: budgetedShell(ports.nodes, deps) };
}
