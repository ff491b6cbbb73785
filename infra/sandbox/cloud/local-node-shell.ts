import type { Config } from '../../../shared/config';
import { AwsRequestFailed } from '../../../shared/aws/errors';
import { INVOCATIONS_PER_PAGE, RunCommandShell, type InvocationResult, type ListedInvocation } from '../../../shared/aws/command-shell';
import { NodeCommandFailed } from '../../../shared/errors';
import { NODE_OPERATIONS, type NodeOperation, type NodeOperationParams } from '../../../shared/rabbitmq/operations';
import type { LocalRunCommand } from './ssm';

/**
 * The NodeShell port over the local Run Command, with the semantics of shared/aws/node-shell.ts: one
 * SendCommand per call (runOnMany included), a non-Success invocation is NodeCommandFailed carrying
 * StatusDetails and stderr, output that does not parse is NodeOutputInvalid, a refused SendCommand is
 * AwsRequestFailed; a status of many instances is read through the emulator's ListCommandInvocations
 * pages and one full output per membership view, like SSM. Counts the commands it sends per operation,
 * for the benchmarks.
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

  /* Waits on the emulator rather than polling (its clock may be simulated), then reads the listing page by page like the adapter. */
  protected async listedInvocations(commandId: string, instanceIds: string[]): Promise<Map<string, ListedInvocation>> {
    const maxWaitMs = this.config.bounds.ssmCommandSeconds * 1000;
    await Promise.all(instanceIds.map((instanceId) => this.runCommand.waitForInvocation(commandId, instanceId, maxWaitMs).catch(() => undefined)));
    const asked = new Set(instanceIds);
    const listed = new Map<string, ListedInvocation>();
    let nextToken: string | undefined;
    try {
      do {
        const page = this.runCommand.listCommandInvocations({ CommandId: commandId, Details: true, MaxResults: INVOCATIONS_PER_PAGE, NextToken: nextToken });
        for (const invocation of page.CommandInvocations) {
          if (!asked.has(invocation.InstanceId)) continue;
          listed.set(invocation.InstanceId, { Status: invocation.Status, StatusDetails: invocation.StatusDetails, Output: invocation.CommandPlugins?.[0]?.Output });
        }
        nextToken = page.NextToken;
      } while (nextToken);
    } catch (error) {
      throw new AwsRequestFailed('ListCommandInvocations', error);
    }
    return listed;
  }

  protected async fetchedInvocation(commandId: string, instanceId: string): Promise<InvocationResult> {
    try {
      return this.runCommand.getCommandInvocation(commandId, instanceId);
    } catch (error) {
      throw new AwsRequestFailed('GetCommandInvocation', error);
    }
  }
}

/* The port's per-instance result holds NodeCommandFailed only, as in the AWS adapter. */
