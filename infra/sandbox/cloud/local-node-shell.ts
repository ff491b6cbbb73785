import type { Config } from '../../../shared/config';
import { AwsRequestFailed } from '../../../shared/aws/errors';
import { INVOCATIONS_PER_PAGE, isTerminalStatus, RunCommandShell, type InvocationResult, type ListedInvocation, type Unanswered } from '../../../shared/aws/command-shell';
import type { Log } from '../../../shared/ports';
import { NODE_OPERATIONS, type NodeOperation, type NodeOperationParams } from '../../../shared/rabbitmq/operations';
import type { LocalRunCommand } from './ssm';

/**
 * The NodeShell port over the local Run Command, with the semantics of shared/aws/node-shell.ts: one
 * SendCommand per call (runOnMany included), a non-Success invocation is NodeCommandFailed carrying
 * StatusDetails and stderr, output that does not parse is NodeOutputInvalid, a refused SendCommand is
 * AwsRequestFailed; a status of many instances is read through the emulator's ListCommandInvocations
 * pages and one full output per membership view, like SSM; a command given up on is cancelled (CancelCommand).
 * Counts the commands it sends per operation, for the benchmarks.
 */
export class LocalNodeShell extends RunCommandShell {
  private readonly counts = new Map<NodeOperation, number>();
  protected readonly maxWaitSeconds: number;

  constructor(
    private readonly runCommand: LocalRunCommand,
    private readonly config: Pick<Config, 'ssmDocumentPrefix' | 'bounds'>,
    log: Pick<Log, 'warn'> = console,
  ) {
    super(log);
    this.maxWaitSeconds = config.bounds.ssmCommandSeconds;
  }

  /** SendCommand calls made so far, for one operation or in all. */
  commandsSent(operation?: NodeOperation): number {
    if (operation) return this.counts.get(operation) ?? 0;
    return [...this.counts.values()].reduce((sum, n) => sum + n, 0);
  }

  override async isAgentOnline(instanceId: string): Promise<boolean> {
    return this.runCommand.describeInstanceInformation([instanceId]).some((info) => info.InstanceId === instanceId && info.PingStatus === 'Online');
  }

  protected async send<O extends NodeOperation>(instanceIds: string[], operation: O, params: NodeOperationParams[O], deliverySeconds: number): Promise<string> {
    // counted before sending: a refused SendCommand is still an API call
    this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1);
    try {
      return await this.runCommand.sendCommand({
        DocumentName: this.config.ssmDocumentPrefix + NODE_OPERATIONS[operation].document,
        InstanceIds: instanceIds,
        Parameters: params as Record<string, string>,
        TimeoutSeconds: deliverySeconds,
      });
    } catch (error) {
      throw new AwsRequestFailed('SendCommand', error);
    }
  }

  protected async invocation(commandId: string, instanceId: string, waitSeconds: number): Promise<InvocationResult | Unanswered> {
    const invocation = await this.runCommand.waitForInvocation(commandId, instanceId, waitSeconds * 1000);
    return isTerminalStatus(invocation.Status) ? invocation : { unanswered: true, lastStatus: invocation.Status };
  }

  /* Waits on the emulator rather than polling (its clock may be simulated), then reads the listing page by page like the adapter. */
  protected async listedInvocations(commandId: string, instanceIds: string[], waitSeconds: number): Promise<Map<string, ListedInvocation>> {
    const maxWaitMs = waitSeconds * 1000;
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

  protected async cancel(commandId: string, instanceIds: string[]): Promise<void> {
    try {
      this.runCommand.cancelCommand({ CommandId: commandId, InstanceIds: instanceIds });
    } catch (error) {
      throw new AwsRequestFailed('CancelCommand', error);
    }
  }
}

/* The port's per-instance result holds NodeCommandFailed only, as in the AWS adapter. */
