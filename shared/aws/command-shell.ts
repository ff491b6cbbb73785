import { NodeCommandFailed, NodeOutputInvalid } from '../errors';
import type { Log, NodeCommandOptions, NodeShell } from '../ports';
import {
  emptyMembership,
  parseNodeOutput,
  parseNodeStatusSummary,
  withMembers,
  type Members,
  type NodeOperation,
  type NodeOperationParams,
  type NodeOperationResult,
  type NodeStatus,
  type NodeStatusSummary,
} from '../rabbitmq/operations';

/** SendCommand accepts at most 50 instance ids. */
export const IDS_PER_COMMAND = 50;
/** ListCommandInvocations returns at most 50 invocations a page. */
export const INVOCATIONS_PER_PAGE = 50;
/** ListCommandInvocations (Details) returns at most this much of each plugin's output. */
export const LISTED_OUTPUT_CHARS = 2500;
/** How SSM joins a plugin's stdout and stderr in the Output it lists. */
export const OUTPUT_ERROR_SEPARATOR = '\n----------ERROR-------\n';
/** Full outputs fetched for one membership view before its other reporters are given up. */
const FETCHES_PER_VIEW = 3;
/** SendCommand's TimeoutSeconds (how long SSM tries to deliver) is at least 30. */
export const MIN_DELIVERY_TIMEOUT_SECONDS = 30;
/**
 * A document's own deadline (its TimeoutSeconds parameter) ends this long before the wait does: the
 * SDK waiter's last poll can come its maxDelay (10 s) before its bound, and the agent reports an
 * ended script to SSM a few seconds after it ends.
 */
export const SCRIPT_DEADLINE_MARGIN_SECONDS = 15;

const TERMINAL_STATUSES = new Set(['Success', 'Cancelled', 'TimedOut', 'Failed']);

/** True once an invocation's status is one it never leaves. */
export function isTerminalStatus(status: string | undefined): boolean {
  return TERMINAL_STATUSES.has(status ?? '');
}

/** The fields of a command invocation the shell reads (GetCommandInvocation's names). */
export interface InvocationResult {
  Status?: string;
  StatusDetails?: string;
  StandardOutputContent?: string;
  StandardErrorContent?: string;
}

/** What a wait that reached its bound first reports instead of a terminal invocation. */
export interface Unanswered {
  unanswered: true;
  /** the status last seen, when any */
  lastStatus?: string;
  /** why the wait ended, e.g. the SDK waiter's TimeoutError */
  cause?: unknown;
}

/** One invocation as ListCommandInvocations (Details: true) lists it. */
export interface ListedInvocation {
  Status?: string;
  StatusDetails?: string;
  /** the plugin's output (stdout, then stderr after SSM's separator), cut at LISTED_OUTPUT_CHARS */
  Output?: string;
}

type StatusOrFailure = NodeStatus | NodeCommandFailed;

/**
 * NodeShell over Run Command, whoever runs it (SSM in AWS, the local emulator in the sandbox):
 * one SendCommand per call (runOnMany: see sendToMany); a non-Success invocation is NodeCommandFailed with
 * its status details and stderr; output that does not parse is NodeOutputInvalid.
 *
 * Every call waits at most the shell's bound, or the caller's when shorter (NodeCommandOptions). A
 * document's own TimeoutSeconds is cut to end SCRIPT_DEADLINE_MARGIN_SECONDS before that wait, and an
 * invocation still not terminal when the wait gives up is cancelled (best effort: a failed CancelCommand
 * is logged), so a retry never runs a second script beside one still at work.
 *
 * A status of many instances is read through ListCommandInvocations, so its API calls grow with
 * pages, not instances: line 1 of each NodeStatus (the node's facts and a digest of its membership)
 * fits the 2,500 characters a listing returns; the full output is fetched once per distinct view
 * and lent to every node reporting the same digest.
 */
export abstract class RunCommandShell implements NodeShell {
  /** @param log where a failed CancelCommand is reported */
  constructor(protected readonly log: Pick<Log, 'warn'>) {}

  /** The shell's own bound on one call's wait, in seconds. */
  protected abstract readonly maxWaitSeconds: number;
  abstract isAgentOnline(instanceId: string): Promise<boolean>;
  /** SendCommand with `deliverySeconds` as its TimeoutSeconds; resolves with the command id. */
  protected abstract send<O extends NodeOperation>(
    instanceIds: string[],
    operation: O,
    params: NodeOperationParams[O],
    deliverySeconds: number,
  ): Promise<string>;
  /** Waits up to `waitSeconds` for the invocation's terminal status; Unanswered when the bound came first. */
  protected abstract invocation(commandId: string, instanceId: string, waitSeconds: number): Promise<InvocationResult | Unanswered>;
  /**
   * ListCommandInvocations (Details, every page) until each of `instanceIds` is terminal or `waitSeconds`
   * pass; the asked instances' invocations as last listed (an instance never listed is absent).
   */
  protected abstract listedInvocations(commandId: string, instanceIds: string[], waitSeconds: number): Promise<Map<string, ListedInvocation>>;
  /** GetCommandInvocation once, no waiting: the full output of an invocation already terminal. */
  protected abstract fetchedInvocation(commandId: string, instanceId: string): Promise<InvocationResult>;
  /** CancelCommand for these instances (at most IDS_PER_COMMAND) of the command. */
  protected abstract cancel(commandId: string, instanceIds: string[]): Promise<void>;

  async run<O extends NodeOperation>(
    instanceId: string,
    operation: O,
    params: NodeOperationParams[O],
    options: NodeCommandOptions = {},
  ): Promise<NodeOperationResult[O]> {
    const waitSeconds = this.waitSeconds(options);
    if (waitSeconds <= 0) throw noTimeLeft(instanceId, operation);
    const commandId = await this.send([instanceId], operation, withinWait(params, waitSeconds), deliverySeconds(waitSeconds));
    return this.outcome(commandId, instanceId, operation, waitSeconds);
  }

  /** A failed instance does not fail the others: its entry is the NodeCommandFailed. */
  async runOnMany<O extends NodeOperation>(
    instanceIds: string[],
    operation: O,
    params: NodeOperationParams[O],
    options: NodeCommandOptions = {},
  ): Promise<Map<string, NodeOperationResult[O] | NodeCommandFailed>> {
    const asked = [...new Set(instanceIds)];
    const waitSeconds = this.waitSeconds(options);
    if (waitSeconds <= 0) return new Map(asked.map((instanceId) => [instanceId, noTimeLeft(instanceId, operation)]));
    const commands = await this.sendToMany(asked, operation, withinWait(params, waitSeconds), deliverySeconds(waitSeconds));
    if (operation === 'status') return (await this.manyStatuses(commands, waitSeconds)) as Map<string, NodeOperationResult[O] | NodeCommandFailed>;
    const settled = await Promise.all(
      commands.flatMap(({ commandId, instanceIds: batch }) =>
        batch.map(async (instanceId): Promise<[string, NodeOperationResult[O] | NodeCommandFailed]> => {
          try {
            return [instanceId, await this.outcome(commandId, instanceId, operation, waitSeconds)];
          } catch (error) {
            return [instanceId, asCommandFailure(error, instanceId, operation)];
          }
        }),
      ),
    );
    return new Map(settled);
  }

  /**
   * The commands that reach every instance, each with the instances it was sent to: by instance id,
   * at most IDS_PER_COMMAND a command. An implementation that can address many instances at once
   * (SSM Targets) overrides this.
   */
  protected async sendToMany<O extends NodeOperation>(
    instanceIds: string[],
    operation: O,
    params: NodeOperationParams[O],
    deliverySeconds: number,
  ): Promise<Array<{ commandId: string; instanceIds: string[] }>> {
    const commands: Array<{ commandId: string; instanceIds: string[] }> = [];
    for (let start = 0; start < instanceIds.length; start += IDS_PER_COMMAND) {
      const batch = instanceIds.slice(start, start + IDS_PER_COMMAND);
      commands.push({ commandId: await this.send(batch, operation, params, deliverySeconds), instanceIds: batch });
    }
    return commands;
  }

  private waitSeconds(options: NodeCommandOptions): number {
    return Math.min(this.maxWaitSeconds, options.timeoutSeconds ?? Number.POSITIVE_INFINITY);
  }

  private async outcome<O extends NodeOperation>(commandId: string, instanceId: string, operation: O, waitSeconds: number): Promise<NodeOperationResult[O]> {
    const invocation = await this.invocation(commandId, instanceId, waitSeconds);
    if ('unanswered' in invocation) {
      const cancelled = await this.cancelAbandoned(commandId, [instanceId], operation);
      throw new NodeCommandFailed(
        instanceId,
        operation,
        'TimedOut',
        `no terminal status within ${waitSeconds}s${invocation.lastStatus ? ` (last seen: ${invocation.lastStatus})` : ''}; ${cancelled}`,
        {
          cause: invocation.cause,
        },
      );
    }
    return result(instanceId, operation, invocation);
  }

  /** Best effort: the wait already failed, so a CancelCommand that fails too is logged and the caller goes on. */
  private async cancelAbandoned(commandId: string, instanceIds: string[], operation: NodeOperation): Promise<string> {
    try {
      for (let start = 0; start < instanceIds.length; start += IDS_PER_COMMAND) await this.cancel(commandId, instanceIds.slice(start, start + IDS_PER_COMMAND));
      return 'cancelled';
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.log.warn('CancelCommand of a command given up on failed; it may still run', { commandId, instanceIds, operation, error: reason });
      return `not cancelled (${reason})`;
    }
  }

  /** Statuses of many instances: listings until all are terminal, then one full output per distinct view. */
  private async manyStatuses(commands: Array<{ commandId: string; instanceIds: string[] }>, waitSeconds: number): Promise<Map<string, StatusOrFailure>> {
    const results = new Map<string, StatusOrFailure>();
    const summaries: Array<{ instanceId: string; commandId: string; summary: NodeStatusSummary }> = [];
    const unsummarised: Array<{ instanceId: string; commandId: string }> = [];
    await Promise.all(
      commands.map(async ({ commandId, instanceIds }) => {
        let listed: Map<string, ListedInvocation>;
        try {
          listed = await this.listedInvocations(commandId, instanceIds, waitSeconds);
        } catch (error) {
          for (const instanceId of instanceIds) results.set(instanceId, asCommandFailure(error, instanceId, 'status'));
          return;
        }
        const unanswered = instanceIds.filter((instanceId) => !isTerminalStatus(listed.get(instanceId)?.Status));
        const cancelled = unanswered.length > 0 ? await this.cancelAbandoned(commandId, unanswered, 'status') : '';
        for (const instanceId of instanceIds) {
          const invocation = listed.get(instanceId);
          if (!isTerminalStatus(invocation?.Status)) {
            results.set(
              instanceId,
              new NodeCommandFailed(
                instanceId,
                'status',
                'TimedOut',
                `no terminal status within ${waitSeconds}s (last seen: ${invocation?.Status ?? 'not listed'}); ${cancelled}`,
              ),
            );
          } else if (invocation!.Status !== 'Success') {
            // the listed output is reason enough: no call per failed instance
            results.set(
              instanceId,
              new NodeCommandFailed(instanceId, 'status', invocation!.StatusDetails || invocation!.Status!, listedStderr(invocation!.Output)),
            );
          } else {
            try {
              summaries.push({ instanceId, commandId, summary: parseNodeStatusSummary(invocation!.Output ?? '') });
            } catch {
              // line 1 itself was cut (or is not NodeStatus's): this one's full output decides
              unsummarised.push({ instanceId, commandId });
            }
          }
        }
      }),
    );

    const views = new Map<string, typeof summaries>();
    for (const reporter of summaries) views.set(reporter.summary.membersDigest, [...(views.get(reporter.summary.membersDigest) ?? []), reporter]);
    await Promise.all([
      ...[...views.values()].map(async (reporters) => {
        for (const [instanceId, outcome] of await this.lendMembership(reporters)) results.set(instanceId, outcome);
      }),
      ...unsummarised.map(async ({ instanceId, commandId }) => results.set(instanceId, await this.fullStatus(commandId, instanceId))),
    ]);
    return results;
  }

  /** One membership for every reporter of one digest: none needed for an empty view, else the first full output that parses. */
  private async lendMembership(reporters: Array<{ instanceId: string; commandId: string; summary: NodeStatusSummary }>): Promise<Map<string, StatusOrFailure>> {
    const outcomes = new Map<string, StatusOrFailure>();
    let members: Members | undefined = emptyMembership(reporters[0]!.summary);
    let lastFailure: NodeCommandFailed | undefined;
    for (const { instanceId, commandId } of members ? [] : reporters.slice(0, FETCHES_PER_VIEW)) {
      const full = await this.fullStatus(commandId, instanceId);
      outcomes.set(instanceId, full);
      if (full instanceof NodeCommandFailed) {
        lastFailure = full;
        continue;
      }
      members = full.members;
      break;
    }
    for (const { instanceId, summary } of reporters) {
      if (outcomes.has(instanceId)) continue;
      if (!members) {
        outcomes.set(
          instanceId,
          new NodeCommandFailed(instanceId, 'status', 'MembersUnavailable', `no full output of the view ${summary.membersDigest} could be read`, {
            cause: lastFailure,
          }),
        );
        continue;
      }
      try {
        outcomes.set(instanceId, withMembers(summary, members));
      } catch (error) {
        outcomes.set(
          instanceId,
          asCommandFailure(new NodeOutputInvalid(instanceId, 'status', JSON.stringify(summary), { cause: error }), instanceId, 'status'),
        );
      }
    }
    return outcomes;
  }

  private async fullStatus(commandId: string, instanceId: string): Promise<StatusOrFailure> {
    try {
      return result(instanceId, 'status', await this.fetchedInvocation(commandId, instanceId));
    } catch (error) {
      return asCommandFailure(error, instanceId, 'status');
    }
  }
}

/** SendCommand's TimeoutSeconds for a wait: SSM stops trying to deliver once nobody waits any more. */
function deliverySeconds(waitSeconds: number): number {
  return Math.max(MIN_DELIVERY_TIMEOUT_SECONDS, Math.ceil(waitSeconds));
}

/** A document that bounds itself (TimeoutSeconds: NodeJoin, NodeRestart) ends SCRIPT_DEADLINE_MARGIN_SECONDS before the wait. */
function withinWait<P>(params: P, waitSeconds: number): P {
  const own = (params as { TimeoutSeconds?: unknown }).TimeoutSeconds;
  if (typeof own !== 'string') return params;
  const latest = Math.max(1, Math.floor(waitSeconds - SCRIPT_DEADLINE_MARGIN_SECONDS));
  return Number(own) > latest ? { ...params, TimeoutSeconds: String(latest) } : params;
}

function noTimeLeft(instanceId: string, operation: NodeOperation): NodeCommandFailed {
  return new NodeCommandFailed(instanceId, operation, 'NotSent', 'no time left to wait for an answer: not sent');
}

/** The stderr part of a listed Output (all of it when SSM marked none). */
function listedStderr(output = ''): string {
  const at = output.indexOf(OUTPUT_ERROR_SEPARATOR);
  return at < 0 ? output : output.slice(at + OUTPUT_ERROR_SEPARATOR.length);
}

/** The parsed output of a terminal invocation; NodeCommandFailed when it did not succeed, NodeOutputInvalid when it does not parse. */
function result<O extends NodeOperation>(instanceId: string, operation: O, invocation: InvocationResult): NodeOperationResult[O] {
  if (invocation.Status !== 'Success') {
    throw new NodeCommandFailed(instanceId, operation, invocation.StatusDetails || invocation.Status || 'Unknown', invocation.StandardErrorContent ?? '');
  }
  const stdout = invocation.StandardOutputContent ?? '';
  try {
    return parseNodeOutput(operation, stdout);
  } catch (error) {
    throw new NodeOutputInvalid(instanceId, operation, stdout, { cause: error });
  }
}

/*
 * The port's per-instance result holds NodeCommandFailed only; an unparsable output or a failed
 * status lookup is reported as one, keeping the original error as its cause.
 */
export function asCommandFailure(error: unknown, instanceId: string, operation: string): NodeCommandFailed {
  if (error instanceof NodeCommandFailed) return error;
  if (error instanceof NodeOutputInvalid) {
    return new NodeCommandFailed(instanceId, operation, 'OutputInvalid', error.message, { cause: error });
  }
  return new NodeCommandFailed(instanceId, operation, 'Unknown', error instanceof Error ? error.message : String(error), { cause: error });
}
