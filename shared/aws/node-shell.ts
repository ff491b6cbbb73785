import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  paginateListCommandInvocations,
  SendCommandCommand,
  type SSMClient,
  waitUntilCommandExecuted,
  type CommandInvocation,
  type DescribeInstanceInformationCommandOutput,
  type GetCommandInvocationCommandOutput,
  type SendCommandCommandInput,
} from '@aws-sdk/client-ssm';
import { createWaiter, WaiterState } from '@smithy/core/client';
import type { Config } from '../config';
import { NodeCommandFailed } from '../errors';
import { observability } from '../observability';
import type { Log } from '../ports';
import { NODE_OPERATIONS, type NodeOperation, type NodeOperationParams } from '../rabbitmq/operations';
import {
  IDS_PER_COMMAND,
  INVOCATIONS_PER_PAGE,
  isTerminalStatus,
  RunCommandShell,
  type InvocationResult,
  type ListedInvocation,
  type Unanswered,
} from './command-shell';
import { createSsmClient } from './clients';
import { AwsRequestFailed, errorName, request } from './errors';
import { CLUSTER_TAG } from './inventory';

/** Operations that only read a node: running one on an instance nobody asked about is harmless. */
const READ_ONLY_OPERATIONS: ReadonlySet<NodeOperation> = new Set<NodeOperation>(['status']);

export interface SsmNodeShellOptions {
  /** send command output to this CloudWatch Logs group as well */
  cloudWatchLogGroup?: string;
  /** polling of GetCommandInvocation and ListCommandInvocations, in seconds (SDK waiter minDelay / maxDelay) */
  poll?: { minDelay: number; maxDelay: number };
  /** how long to wait for a terminal status; defaults to the configured SSM command bound */
  maxWaitSeconds?: number;
  /** where a failed CancelCommand is reported; defaults to the function's logger (the cluster's) */
  log?: Pick<Log, 'warn'>;
}

/**
 * Node operations over SSM Run Command. Each operation is a custom document; its parameters go
 * as SSM Parameters and never into a command line (docs/design.md invariant 7).
 */
export class SsmNodeShell extends RunCommandShell {
  private readonly ssm: SSMClient;
  private readonly poll: { minDelay: number; maxDelay: number };
  protected readonly maxWaitSeconds: number;

  constructor(
    /** with a clusterName, a read-only operation on more than 50 instances goes out as one command to the cluster's tag */
    private readonly config: Pick<Config, 'ssmDocumentPrefix' | 'bounds'> & Partial<Pick<Config, 'clusterName'>>,
    clients: { ssm?: SSMClient } = {},
    private readonly options: SsmNodeShellOptions = {},
  ) {
    super(options.log ?? functionLog(config.clusterName));
    this.ssm = clients.ssm ?? createSsmClient();
    this.poll = options.poll ?? { minDelay: 1, maxDelay: 10 };
    this.maxWaitSeconds = options.maxWaitSeconds ?? config.bounds.ssmCommandSeconds;
  }

  /** An instance SSM does not know yet (InvalidInstanceId) has no agent online yet: the caller's poll asks again. */
  override async isAgentOnline(instanceId: string): Promise<boolean> {
    let answer: DescribeInstanceInformationCommandOutput;
    try {
      answer = await this.ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }));
    } catch (error) {
      if (errorName(error) === 'InvalidInstanceId') return false;
      throw new AwsRequestFailed('DescribeInstanceInformation', error);
    }
    return (answer.InstanceInformationList ?? []).some((information) => information.InstanceId === instanceId && information.PingStatus === 'Online');
  }

  protected async send<O extends NodeOperation>(instanceIds: string[], operation: O, params: NodeOperationParams[O], deliverySeconds: number): Promise<string> {
    return this.sendCommand({ InstanceIds: instanceIds }, instanceIds.join(','), operation, params, deliverySeconds);
  }

  /*
   * SendCommand takes at most 50 instance ids; above that, a status goes out as one command to
   * every instance carrying the cluster's tag (SSM Targets), so reconcile sends one command whatever
   * the cluster size. Instances nobody asked about run the read-only document and are ignored; an
   * asked instance SSM did not target never gets an invocation and ends TimedOut at the bound, the
   * others unaffected. Operations that change a node always go by instance id.
   */
  protected override async sendToMany<O extends NodeOperation>(
    instanceIds: string[],
    operation: O,
    params: NodeOperationParams[O],
    deliverySeconds: number,
  ): Promise<Array<{ commandId: string; instanceIds: string[] }>> {
    const cluster = this.config.clusterName;
    if (instanceIds.length <= IDS_PER_COMMAND || !READ_ONLY_OPERATIONS.has(operation) || !cluster) {
      return super.sendToMany(instanceIds, operation, params, deliverySeconds);
    }
    const everyClusterInstance = { Targets: [{ Key: `tag:${CLUSTER_TAG}`, Values: [cluster] }] };
    const commandId = await this.sendCommand(everyClusterInstance, `tag ${CLUSTER_TAG}=${cluster}`, operation, params, deliverySeconds);
    return [{ commandId, instanceIds }];
  }

  private async sendCommand<O extends NodeOperation>(
    target: Pick<SendCommandCommandInput, 'InstanceIds' | 'Targets'>,
    targetName: string,
    operation: O,
    params: NodeOperationParams[O],
    deliverySeconds: number,
  ): Promise<string> {
    const answer = await request('SendCommand', () =>
      this.ssm.send(
        new SendCommandCommand({
          DocumentName: this.config.ssmDocumentPrefix + NODE_OPERATIONS[operation].document,
          ...target,
          Parameters: Object.fromEntries(Object.entries(params as Record<string, string>).map(([name, value]) => [name, [value]])),
          TimeoutSeconds: deliverySeconds,
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
    if (!commandId) throw new NodeCommandFailed(targetName, operation, 'NotSent', 'SendCommand returned no command id');
    return commandId;
  }

  /** The SDK waiter polls GetCommandInvocation and treats InvocationDoesNotExist right after SendCommand as "not yet". */
  protected async invocation(commandId: string, instanceId: string, waitSeconds: number): Promise<InvocationResult | Unanswered> {
    try {
      const waited = await waitUntilCommandExecuted(
        { client: this.ssm, maxWaitTime: waitSeconds, ...this.pollWithin(waitSeconds) },
        { CommandId: commandId, InstanceId: instanceId },
      );
      return waited.reason as GetCommandInvocationCommandOutput;
    } catch (error) {
      if (errorName(error) === 'TimeoutError') return { unanswered: true, cause: error };
      // the waiter's failure only says "failed"; the invocation itself carries status details and stderr
      return this.fetchedInvocation(commandId, instanceId);
    }
  }

  /*
   * The SDK's waiter machinery (backoff with jitter, bound) around every page of the listing; right
   * after SendCommand, SSM may not know the command yet (InvalidCommandId) or list only some
   * invocations (tag targets resolve gradually): both mean "not yet".
   */
  protected async listedInvocations(commandId: string, instanceIds: string[], waitSeconds: number): Promise<Map<string, ListedInvocation>> {
    const asked = new Set(instanceIds);
    let latest = new Map<string, ListedInvocation>();
    await createWaiter(
      { client: this.ssm, maxWaitTime: waitSeconds, ...this.pollWithin(waitSeconds) },
      { CommandId: commandId, Details: true },
      async (client, input) => {
        const listed = new Map<string, ListedInvocation>();
        try {
          // a fresh input each poll: the paginator writes its NextToken into the one it is given
          for await (const page of paginateListCommandInvocations({ client, pageSize: INVOCATIONS_PER_PAGE }, { ...input })) {
            for (const invocation of page.CommandInvocations ?? []) {
              if (invocation.InstanceId && asked.has(invocation.InstanceId)) listed.set(invocation.InstanceId, listedInvocation(invocation));
            }
          }
        } catch (error) {
          if (errorName(error) === 'InvalidCommandId') return { state: WaiterState.RETRY };
          throw new AwsRequestFailed('ListCommandInvocations', error);
        }
        latest = listed;
        return { state: instanceIds.every((id) => isTerminalStatus(listed.get(id)?.Status)) ? WaiterState.SUCCESS : WaiterState.RETRY };
      },
    );
    return latest;
  }

  protected async fetchedInvocation(commandId: string, instanceId: string): Promise<InvocationResult> {
    return request('GetCommandInvocation', () => this.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId })));
  }

  protected async cancel(commandId: string, instanceIds: string[]): Promise<void> {
    await request('CancelCommand', () => this.ssm.send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: instanceIds })));
  }

  /** The SDK waiter refuses a bound not above its minDelay: a short wait polls faster. */
  private pollWithin(waitSeconds: number): { minDelay: number; maxDelay: number } {
    const minDelay = Math.min(this.poll.minDelay, waitSeconds / 2);
    return { minDelay, maxDelay: Math.max(minDelay, Math.min(this.poll.maxDelay, waitSeconds / 2)) };
  }
}

/** The function's own logger, looked up when needed: the handler builds it after the adapters. */
function functionLog(cluster = 'warren'): Pick<Log, 'warn'> {
  return { warn: (message, extra) => observability(cluster).logger.warn(message, { ...extra }) };
}

/** NodeStatus has one step, so one plugin: its output is the command's. */
function listedInvocation(invocation: CommandInvocation): ListedInvocation {
  return { Status: invocation.Status, StatusDetails: invocation.StatusDetails, Output: invocation.CommandPlugins?.[0]?.Output };
}
