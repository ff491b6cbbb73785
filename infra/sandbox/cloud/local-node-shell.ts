import type { Config } from '../../../shared/config';
import { AwsRequestFailed } from '../../../shared/aws/errors';
import { asCommandFailure } from '../../../shared/aws/node-shell';
import { NodeCommandFailed, NodeOutputInvalid } from '../../../shared/errors';
import type { NodeShell } from '../../../shared/ports';
import {
  NODE_OPERATIONS,
  parseNodeOutput,
  type NodeOperation,
  type NodeOperationParams,
  type NodeOperationResult,
} from '../../../shared/rabbitmq/operations';
import type { LocalRunCommand } from './ssm';

/** SendCommand accepts at most 50 instance ids. */
const IDS_PER_COMMAND = 50;

/**
 * The NodeShell port over the local Run Command, with the semantics of shared/aws/node-shell.ts: one
 * SendCommand per call (runOnMany included), a non-Success invocation is NodeCommandFailed carrying
 * StatusDetails and stderr, output that does not parse is NodeOutputInvalid, a refused SendCommand is
 * AwsRequestFailed. Counts the commands it sends per operation, for the benchmarks.
 */
export class LocalNodeShell implements NodeShell {
  private readonly counts = new Map<NodeOperation, number>();

  constructor(
    private readonly runCommand: LocalRunCommand,
    private readonly config: Pick<Config, 'ssmDocumentPrefix' | 'bounds'>,
  ) {}

  /** SendCommand calls made so far, for one operation or in all. */
  commandsSent(operation?: NodeOperation): number {
    if (operation) return this.counts.get(operation) ?? 0;
    return [...this.counts.values()].reduce((sum, n) => sum + n, 0);
  }

  async isAgentOnline(instanceId: string): Promise<boolean> {
    return this.runCommand.describeInstanceInformation([instanceId]).some((info) => info.InstanceId === instanceId && info.PingStatus === 'Online');
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
    // counted before sending: a refused SendCommand is still an API call
    this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1);
    try {
      return await this.runCommand.sendCommand({
        DocumentName: this.config.ssmDocumentPrefix + NODE_OPERATIONS[operation].document,
        InstanceIds: instanceIds,
        Parameters: params as Record<string, string>,
        TimeoutSeconds: this.config.bounds.ssmCommandSeconds,
      });
    } catch (error) {
      throw new AwsRequestFailed('SendCommand', error);
    }
  }

  private async outcome<O extends NodeOperation>(commandId: string, instanceId: string, operation: O): Promise<NodeOperationResult[O]> {
    const maxWaitSeconds = this.config.bounds.ssmCommandSeconds;
    const invocation = await this.runCommand.waitForInvocation(commandId, instanceId, maxWaitSeconds * 1000);
    if (invocation.Status === 'Pending' || invocation.Status === 'InProgress' || invocation.Status === 'Delayed') {
      throw new NodeCommandFailed(instanceId, operation, 'TimedOut', `no terminal status within ${maxWaitSeconds}s`);
    }
    if (invocation.Status !== 'Success') {
      throw new NodeCommandFailed(instanceId, operation, invocation.StatusDetails || invocation.Status, invocation.StandardErrorContent);
    }
    const stdout = invocation.StandardOutputContent;
    try {
      return parseNodeOutput(operation, stdout);
    } catch (error) {
      throw new NodeOutputInvalid(instanceId, operation, stdout, { cause: error });
    }
  }
}

/* The port's per-instance result holds NodeCommandFailed only, as in the AWS adapter. */
