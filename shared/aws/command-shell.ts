import { NodeCommandFailed, NodeOutputInvalid } from '../errors';
import type { NodeShell } from '../ports';
import { parseNodeOutput, type NodeOperation, type NodeOperationParams, type NodeOperationResult } from '../rabbitmq/operations';

/** SendCommand accepts at most 50 instance ids. */
export const IDS_PER_COMMAND = 50;

/** The fields of a command invocation the shell reads (GetCommandInvocation's names). */
export interface InvocationResult {
  Status?: string;
  StatusDetails?: string;
  StandardOutputContent?: string;
  StandardErrorContent?: string;
}

/**
 * NodeShell over Run Command, whoever runs it (SSM in AWS, the local emulator in the sandbox):
 * one SendCommand per call (runOnMany: see sendToMany); a non-Success invocation is NodeCommandFailed with
 * its status details and stderr; output that does not parse is NodeOutputInvalid.
 */
export abstract class RunCommandShell implements NodeShell {
  abstract isAgentOnline(instanceId: string): Promise<boolean>;
  /** SendCommand; resolves with the command id. */
  protected abstract send<O extends NodeOperation>(instanceIds: string[], operation: O, params: NodeOperationParams[O]): Promise<string>;
  /** Waits for the invocation's terminal status (throwing NodeCommandFailed 'TimedOut' at the bound). */
  protected abstract invocation(commandId: string, instanceId: string, operation: NodeOperation): Promise<InvocationResult>;

  async run<O extends NodeOperation>(instanceId: string, operation: O, params: NodeOperationParams[O]): Promise<NodeOperationResult[O]> {
    const commandId = await this.send([instanceId], operation, params);
    return this.outcome(commandId, instanceId, operation);
  }

  /** A failed instance does not fail the others: its entry is the NodeCommandFailed. */
  async runOnMany<O extends NodeOperation>(
    instanceIds: string[],
    operation: O,
    params: NodeOperationParams[O],
  ): Promise<Map<string, NodeOperationResult[O] | NodeCommandFailed>> {
    const commands = await this.sendToMany([...new Set(instanceIds)], operation, params);
    const settled = await Promise.all(
      commands.flatMap(({ commandId, instanceIds: batch }) =>
        batch.map(async (instanceId): Promise<[string, NodeOperationResult[O] | NodeCommandFailed]> => {
          try {
            return [instanceId, await this.outcome(commandId, instanceId, operation)];
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
  ): Promise<Array<{ commandId: string; instanceIds: string[] }>> {
    const commands: Array<{ commandId: string; instanceIds: string[] }> = [];
    for (let start = 0; start < instanceIds.length; start += IDS_PER_COMMAND) {
      const batch = instanceIds.slice(start, start + IDS_PER_COMMAND);
      commands.push({ commandId: await this.send(batch, operation, params), instanceIds: batch });
    }
    return commands;
  }

  private async outcome<O extends NodeOperation>(commandId: string, instanceId: string, operation: O): Promise<NodeOperationResult[O]> {
    const invocation = await this.invocation(commandId, instanceId, operation);
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
