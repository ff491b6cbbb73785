import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
  waitUntilCommandExecuted,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import type { Config } from '../config';
import { NodeCommandFailed, NodeOutputInvalid } from '../errors';
import type { NodeShell } from '../ports';
import {
  NODE_OPERATIONS,
  parseNodeOutput,
  type NodeOperation,
  type NodeOperationParams,
  type NodeOperationResult,
} from '../rabbitmq/operations';
import { createSsmClient } from './clients';
import { errorName, request } from './errors';

/** SendCommand accepts at most 50 instance ids. */
const IDS_PER_COMMAND = 50;

export interface SsmNodeShellOptions {
  /** send command output to this CloudWatch Logs group as well */
  cloudWatchLogGroup?: string;
  /** polling of GetCommandInvocation, in seconds (SDK waiter minDelay / maxDelay) */
  poll?: { minDelay: number; maxDelay: number };
  /** how long to wait for a terminal status; defaults to the configured SSM command bound */
  maxWaitSeconds?: number;
}

/**
 * Node operations over SSM Run Command. Each operation is a custom document; its parameters go
 * as SSM Parameters and never into a command line (DESIGN.md invariant 7).
 */
export class SsmNodeShell implements NodeShell {
  private readonly ssm: SSMClient;
  private readonly poll: { minDelay: number; maxDelay: number };
  private readonly maxWaitSeconds: number;

  constructor(
    private readonly config: Pick<Config, 'ssmDocumentPrefix' | 'bounds'>,
    clients: { ssm?: SSMClient } = {},
    private readonly options: SsmNodeShellOptions = {},
  ) {
    this.ssm = clients.ssm ?? createSsmClient();
    this.poll = options.poll ?? { minDelay: 1, maxDelay: 10 };
    this.maxWaitSeconds = options.maxWaitSeconds ?? config.bounds.ssmCommandSeconds;
  }

  async isAgentOnline(instanceId: string): Promise<boolean> {
    const answer = await request('DescribeInstanceInformation', () =>
      this.ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] })),
    );
    return (answer.InstanceInformationList ?? []).some(
      (information) => information.InstanceId === instanceId && information.PingStatus === 'Online',
    );
  }

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
    const unique = [...new Set(instanceIds)];
    const commands: Array<{ commandId: string; instanceIds: string[] }> = [];
    for (let start = 0; start < unique.length; start += IDS_PER_COMMAND) {
      const batch = unique.slice(start, start + IDS_PER_COMMAND);
      commands.push({ commandId: await this.send(batch, operation, params), instanceIds: batch });
    }
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

  private async send<O extends NodeOperation>(instanceIds: string[], operation: O, params: NodeOperationParams[O]): Promise<string> {
    const answer = await request('SendCommand', () =>
      this.ssm.send(
        new SendCommandCommand({
          DocumentName: this.config.ssmDocumentPrefix + NODE_OPERATIONS[operation].document,
          InstanceIds: instanceIds,
          Parameters: Object.fromEntries(Object.entries(params as Record<string, string>).map(([name, value]) => [name, [value]])),
          TimeoutSeconds: this.config.bounds.ssmCommandSeconds,
          // every node gets the command even when one fails: one node's failure says nothing about the next
          MaxConcurrency: '100%',
          MaxErrors: '100%',
          Comment: `warren ${operation}`,
          ...(this.options.cloudWatchLogGroup
            ? { CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: this.options.cloudWatchLogGroup } }
            : {}),
        }),
      ),
    );
    const commandId = answer.Command?.CommandId;
    if (!commandId) throw new NodeCommandFailed(instanceIds.join(','), operation, 'NotSent', 'SendCommand returned no command id');
    return commandId;
  }

  /** The SDK waiter polls GetCommandInvocation and treats InvocationDoesNotExist right after SendCommand as "not yet". */
  private async outcome<O extends NodeOperation>(commandId: string, instanceId: string, operation: O): Promise<NodeOperationResult[O]> {
    let invocation: GetCommandInvocationCommandOutput;
    try {
      const waited = await waitUntilCommandExecuted(
        { client: this.ssm, maxWaitTime: this.maxWaitSeconds, ...this.poll },
        { CommandId: commandId, InstanceId: instanceId },
      );
      invocation = waited.reason as GetCommandInvocationCommandOutput;
    } catch (error) {
      if (errorName(error) === 'TimeoutError') {
        throw new NodeCommandFailed(instanceId, operation, 'TimedOut', `no terminal status within ${this.maxWaitSeconds}s`, {
          cause: error,
        });
      }
      // the waiter's failure only says "failed"; the invocation itself carries status details and stderr
      invocation = await request('GetCommandInvocation', () =>
        this.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId })),
      );
    }
    if (invocation.Status !== 'Success') {
      throw new NodeCommandFailed(
        instanceId,
        operation,
        invocation.StatusDetails ?? invocation.Status ?? 'Unknown',
        invocation.StandardErrorContent ?? '',
      );
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
  return new NodeCommandFailed(instanceId, operation, 'Unknown', error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}
