import type { Config } from '../../../shared/config';
import { AwsRequestFailed } from '../../../shared/aws/errors';
import { RunCommandShell, type InvocationResult } from '../../../shared/aws/command-shell';
import { NodeCommandFailed } from '../../../shared/errors';
import { NODE_OPERATIONS, type NodeOperation, type NodeOperationParams } from '../../../shared/rabbitmq/operations';
import type { LocalRunCommand } from './ssm';

/**
 * The NodeShell port over the local Run Command, with the semantics of shared/aws/node-shell.ts: one
 * SendCommand per call (runOnMany included), a non-Success invocation is NodeCommandFailed carrying
 * StatusDetails and stderr, output that does not parse is NodeOutputInvalid, a refused SendCommand is
 * AwsRequestFailed. Counts the commands it sends per operation, for the benchmarks.
 */
export class LocalNodeShell extends RunCommandShell {
  private readonly counts = new Map<NodeOperation, number>();

  constructor(
    private readonly runCommand: LocalRunCommand,
    private readonly config: Pick<Config, 'ssmDocumentPrefix' | 'bounds'>,
  ) {
    super();
  }

  /** SendCommand calls made so far, for one operation or in all. */
  commandsSent(operation?: NodeOperation): number {
    if (operation) return this.counts.get(operation) ?? 0;
    return [...this.counts.values()].reduce((sum, n) => sum + n, 0);
  }

  override async isAgentOnline(instanceId: string): Promise<boolean> {
    return this.runCommand.describeInstanceInformation([instanceId]).some((info) => info.InstanceId === instanceId && info.PingStatus === 'Online');
  }

  protected async send<O extends NodeOperation>(instanceIds: string[], operation: O, params: NodeOperationParams[O]): Promise<string> {
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

  protected async invocation(commandId: string, instanceId: string, operation: NodeOperation): Promise<InvocationResult> {
    const maxWaitSeconds = this.config.bounds.ssmCommandSeconds;
    const invocation = await this.runCommand.waitForInvocation(commandId, instanceId, maxWaitSeconds * 1000);
    if (invocation.Status === 'Pending' || invocation.Status === 'InProgress' || invocation.Status === 'Delayed') {
      throw new NodeCommandFailed(instanceId, operation, 'TimedOut', `no terminal status within ${maxWaitSeconds}s`);
    }
    return invocation;
  }
}

/* The port's per-instance result holds NodeCommandFailed only, as in the AWS adapter. */
