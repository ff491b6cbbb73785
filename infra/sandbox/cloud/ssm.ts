import { randomUUID } from 'node:crypto';
import { INVOCATIONS_PER_PAGE, isTerminalStatus, LISTED_OUTPUT_CHARS, OUTPUT_ERROR_SEPARATOR } from '../../../shared/aws/command-shell';
import { InvalidDocumentParameters, loadDocument, parameterEnvironment, type CommandDocument } from '../nodes/documents';
import type { ProcessResult } from '../nodes/process';
import { ApiError, bounded, invalid, offsetOf, page } from '../aws/protocol';
import type { Scheduler } from './scheduler';

/**
 * SSM Run Command for the local cloud: SendCommand runs the real document scripts of infra/ssm on the
 * instances' RabbitMQ nodes, one invocation per instance, with the statuses AWS documents
 * (Understanding command statuses): Pending until the agent is online, InProgress while the script
 * runs, then Success, Failed, TimedOut (DeliveryTimedOut / ExecutionTimedOut) or Undeliverable;
 * CancelCommand ends a pending invocation Cancelled at once and kills a running script (Cancelling
 * until it ended, then Cancelled).
 * GetCommandInvocation returns an invocation's whole (SSM-truncated) output; ListCommandInvocations
 * pages them 50 at a time with each output cut at 2,500 characters.
 */

/** What the SSM service knows of an instance's agent; undefined for an id it never saw register. */
export type AgentState = { state: 'booting' } | { state: 'ready'; since: number } | { state: 'gone' };

/** The machines commands run on (RabbitMqInstanceHost in the sandbox). */
export interface CommandTargets {
  agentState(instanceId: string): AgentState | undefined;
  /**
   * Runs the document's script on the instance with parameters already checked; output truncated like SSM.
   * When `signal` aborts (CancelCommand), the script is killed and the promise settles with what it printed.
   */
  runDocument(instanceId: string, document: string, params: Record<string, string>, options?: { signal?: AbortSignal }): Promise<ProcessResult>;
}

export type InvocationStatus = 'Pending' | 'InProgress' | 'Success' | 'Cancelling' | 'Cancelled' | 'TimedOut' | 'Failed';

/** GetCommandInvocation's answer, with AWS's field names. */
export interface CommandInvocation {
  CommandId: string;
  InstanceId: string;
  DocumentName: string;
  Status: InvocationStatus;
  /** also DeliveryTimedOut, ExecutionTimedOut, Undeliverable */
  StatusDetails: string;
  /** the script's exit code; -1 until it ended */
  ResponseCode: number;
  StandardOutputContent: string;
  StandardErrorContent: string;
  RequestedDateTime: number;
  ExecutionStartDateTime?: number;
  ExecutionEndDateTime?: number;
}

export interface SentCommand {
  CommandId: string;
  DocumentName: string;
  InstanceIds: string[];
  Parameters: Record<string, string>;
  RequestedDateTime: number;
  /** SendCommand's delivery timeout, in seconds */
  TimeoutSeconds: number;
  /** the Targets it was sent to, when it was not sent by instance id */
  Targets?: CommandTarget[];
  Comment?: string;
  MaxConcurrency?: string;
  MaxErrors?: string;
}

/** SendCommand's Targets: `tag:<key>` or InstanceIds with their values. */
export type CommandTarget = { Key: string; Values: string[] };

/** ListCommands' view of a command: what was sent, and what its invocations add up to. */
export interface CommandSummary extends SentCommand {
  Status: InvocationStatus;
  StatusDetails: string;
  TargetCount: number;
  CompletedCount: number;
  ErrorCount: number;
  DeliveryTimedOutCount: number;
}

/** A fault for the next `times` invocations that match (all instances / documents when omitted). */
export interface CommandFault {
  instanceId?: string;
  /** document name without the prefix, e.g. NodeJoin */
  document?: string;
  times?: number;
  /**
   * fail: the script "exits" non-zero with this stderr, without running; timeout: ExecutionTimedOut
   * without running; undeliverable: the agent never gets it; delay: delivery is late by `ms`, then it runs.
   */
  effect: { kind: 'fail'; stderr?: string; exitCode?: number } | { kind: 'timeout' } | { kind: 'undeliverable' } | { kind: 'delay'; ms: number };
  /** told each time the fault hits an invocation */
  onTaken?: (instanceId: string) => void;
}

export interface LocalRunCommandOptions {
  targets: CommandTargets;
  scheduler: Scheduler;
  /** config.ssmDocumentPrefix: documents are named <prefix><Document> */
  documentPrefix: string;
  /** how long after boot the agent reports Online (the real agent needs a few seconds to register) */
  agentOnlineDelayMs?: number;
  /** how often a pending invocation looks at its agent again */
  agentPollMs?: number;
  /** where the documents live; infra/ssm by default */
  documentDirectory?: string;
}

/** SendCommand's default TimeoutSeconds, and its most InstanceIds. */
const DEFAULT_DELIVERY_TIMEOUT_SECONDS = 3600;
const MAX_INSTANCE_IDS = 50;
const UNSENT = { Status: 'Pending', StatusDetails: 'Pending', ResponseCode: -1, StandardOutputContent: '', StandardErrorContent: '' } as const;

/** An invocation, and what CancelCommand aborts. */
type Tracked = { invocation: CommandInvocation; cancel: AbortController };

export class LocalRunCommand {
  readonly sent: SentCommand[] = [];
  private readonly invocations = new Map<string, Tracked>();
  private readonly faults: Array<CommandFault & { left: number }> = [];
  private readonly offline = new Set<string>();
  private readonly documents = new Map<string, CommandDocument>();

  constructor(private readonly options: LocalRunCommandOptions) {}

  /**
   * SendCommand. Refuses up front, like SSM: an unknown document (InvalidDocument), a parameter that is
   * unknown, missing or outside its allowedPattern (InvalidParameters), an id SSM never saw (InvalidInstanceId).
   * With Targets, InstanceIds are the instances they resolved to: SSM runs on those it manages and skips
   * the others, and a command whose targets match nothing is sent all the same.
   */
  async sendCommand(
    request: Omit<SentCommand, 'CommandId' | 'Parameters' | 'RequestedDateTime' | 'TimeoutSeconds'> & {
      Parameters?: Record<string, string | string[]>;
      TimeoutSeconds?: number;
    },
  ): Promise<string> {
    const document = this.documentNamed(request.DocumentName);
    const params = Object.fromEntries(Object.entries(request.Parameters ?? {}).map(([name, value]) => [name, Array.isArray(value) ? value.join(',') : value]));
    try {
      parameterEnvironment(document, params);
    } catch (error) {
      if (error instanceof InvalidDocumentParameters) throw new ApiError('InvalidParameters', error.problems.join('; '));
      throw error;
    }
    const managed = (id: string) => this.options.targets.agentState(id) !== undefined;
    let instanceIds = [...new Set(request.InstanceIds)];
    if (request.Targets) {
      instanceIds = instanceIds.filter(managed);
    } else {
      if (instanceIds.length === 0 || instanceIds.length > MAX_INSTANCE_IDS) {
        throw invalid(`Value at 'instanceIds' failed to satisfy constraint: Member must have length between 1 and ${MAX_INSTANCE_IDS}`, 'ValidationException');
      }
      const unknown = instanceIds.filter((id) => !managed(id));
      if (unknown.length > 0) throw new ApiError('InvalidInstanceId', `Instances [${unknown.join(', ')}] not in a valid state for account`);
    }

    const commandId = randomUUID();
    const now = this.options.scheduler.now();
    const timeoutSeconds = request.TimeoutSeconds ?? DEFAULT_DELIVERY_TIMEOUT_SECONDS;
    this.sent.push({ ...request, CommandId: commandId, InstanceIds: instanceIds, Parameters: params, RequestedDateTime: now, TimeoutSeconds: timeoutSeconds });
    const deliverBy = now + timeoutSeconds * 1000;
    for (const instanceId of instanceIds) {
      const invocation: CommandInvocation = {
        CommandId: commandId,
        InstanceId: instanceId,
        DocumentName: request.DocumentName,
        ...UNSENT,
        RequestedDateTime: now,
      };
      const cancel = new AbortController();
      this.invocations.set(key(commandId, instanceId), { invocation, cancel });
      void this.deliver(invocation, document, params, deliverBy, cancel.signal);
    }
    return commandId;
  }

  /** GetCommandInvocation; InvocationDoesNotExist for a pair SSM does not know. */
  getCommandInvocation(commandId: string, instanceId: string): CommandInvocation {
    const tracked = this.invocations.get(key(commandId, instanceId));
    if (!tracked) throw new ApiError('InvocationDoesNotExist', `command ${commandId} has no invocation on ${instanceId}`);
    return { ...tracked.invocation };
  }

  /**
   * ListCommandInvocations of one command (or, without CommandId, of every command, newest first), of one
   * instance when InstanceId is given; MaxResults (1 to 50, default 50) a page, NextToken the offset of
   * the next one; with Details, each invocation's plugin Output like SSM's: stdout, then stderr after a
   * separator, cut at 2,500 characters. InvalidCommandId for a command SSM does not know.
   */
  listCommandInvocations(request: { CommandId?: string; InstanceId?: string; Details?: boolean; MaxResults?: number; NextToken?: string }) {
    const commands = request.CommandId === undefined ? [...this.sent].reverse() : [this.commandOf(request.CommandId)];
    const listed = commands.flatMap((command) =>
      this.invocationsOf(command)
        .filter((invocation) => request.InstanceId === undefined || invocation.InstanceId === request.InstanceId)
        .map((invocation) => ({ command, invocation })),
    );
    const max = bounded(request.MaxResults, 'maxResults', [1, INVOCATIONS_PER_PAGE], 'ValidationException');
    const { items, NextToken } = page(listed, offsetOf(request.NextToken, listed.length), max);
    const urls = { StandardOutputUrl: '', StandardErrorUrl: '' };
    const CommandInvocations = items.map(({ command, invocation }) => {
      const {
        CommandId,
        InstanceId,
        DocumentName,
        Status,
        StatusDetails,
        ResponseCode,
        ExecutionStartDateTime: started,
        ExecutionEndDateTime: ended,
      } = invocation;
      const plugin = {
        Name: PLUGIN_NAME,
        Status,
        StatusDetails,
        ResponseCode,
        Output: pluginOutput(invocation),
        ResponseStartDateTime: dateOf(started),
        ResponseFinishDateTime: dateOf(ended),
        ...urls,
      };
      return {
        ...{
          CommandId,
          InstanceId,
          Comment: command.Comment ?? '',
          DocumentName,
          DocumentVersion: '$DEFAULT',
          RequestedDateTime: new Date(invocation.RequestedDateTime),
        },
        ...{ Status, StatusDetails, TraceOutput: '', ...urls, ServiceRole: '', NotificationConfig: NO_NOTIFICATIONS, CloudWatchOutputConfig: NO_CLOUDWATCH },
        CommandPlugins: request.Details ? [{ ...plugin, OutputS3Region: '', OutputS3BucketName: '', OutputS3KeyPrefix: '' }] : undefined,
      };
    });
    return { CommandInvocations, NextToken };
  }

  /**
   * ListCommands: every command sent, newest first, with the status its invocations add up to
   * (Understanding command statuses): Pending while all are, InProgress (Cancelling once one is) until
   * every one ended, then Success when all succeeded, else Cancelled, Failed or TimedOut.
   */
  listCommands(): CommandSummary[] {
    return [...this.sent].reverse().map((command) => {
      const invocations = this.invocationsOf(command);
      const count = (test: (invocation: CommandInvocation) => boolean) => invocations.filter(test).length;
      return {
        ...command,
        ...commandStatus(invocations),
        TargetCount: invocations.length,
        CompletedCount: count(isTerminal),
        ErrorCount: count((invocation) => invocation.Status === 'Failed' || invocation.StatusDetails === 'ExecutionTimedOut'),
        DeliveryTimedOutCount: count((invocation) => invocation.StatusDetails === 'DeliveryTimedOut'),
      };
    });
  }

  /**
   * CancelCommand: every invocation of the command (or of the InstanceIds given, at most 50) not yet
   * terminal is cancelled; one that already ended keeps its status. InvalidCommandId for a command SSM does not know.
   */
  cancelCommand(request: { CommandId: string; InstanceIds?: string[] }): void {
    const targeted = this.commandOf(request.CommandId).InstanceIds;
    if ((request.InstanceIds?.length ?? 0) > MAX_INSTANCE_IDS) {
      throw invalid(
        `Value at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to ${MAX_INSTANCE_IDS}`,
        'ValidationException',
      );
    }
    const now = this.options.scheduler.now();
    for (const instanceId of request.InstanceIds ?? targeted) {
      const tracked = this.invocations.get(key(request.CommandId, instanceId));
      if (!tracked || isTerminal(tracked.invocation)) continue;
      const running = tracked.invocation.Status === 'InProgress';
      Object.assign(
        tracked.invocation,
        running ? { Status: 'Cancelling', StatusDetails: 'Cancelling' } : { Status: 'Cancelled', StatusDetails: 'Cancelled', ExecutionEndDateTime: now },
      );
      tracked.cancel.abort();
    }
  }

  /**
   * DescribeInstanceInformation: an instance is listed once its agent registered (booted plus the
   * agent's delay); Online while connected, ConnectionLost once the machine is gone or cut off.
   */
  describeInstanceInformation(instanceIds: string[]): Array<{ InstanceId: string; PingStatus: 'Online' | 'ConnectionLost' }> {
    return instanceIds.flatMap((instanceId) => {
      const agent = this.options.targets.agentState(instanceId);
      if (!agent || agent.state === 'booting' || (agent.state === 'ready' && !this.registered(agent))) return [];
      return [{ InstanceId: instanceId, PingStatus: this.agentOnline(instanceId) ? 'Online' : 'ConnectionLost' }];
    });
  }

  /** Fault injection: the agent loses (or regains) its connection; pending invocations wait for it. */
  setAgentConnected(instanceId: string, connected: boolean): void {
    if (connected) this.offline.delete(instanceId);
    else this.offline.add(instanceId);
  }

  /** Fault injection: the next matching invocations fail, time out, are lost or late. */
  injectFault(fault: CommandFault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  /** Disarms every injected fault; returns those that matched fewer invocations than they were armed for. */
  clearFaults(): Array<CommandFault & { left: number }> {
    return this.faults.splice(0);
  }

  private agentOnline(instanceId: string): boolean {
    const agent = this.options.targets.agentState(instanceId);
    return agent?.state === 'ready' && this.registered(agent) && !this.offline.has(instanceId);
  }

  private registered(agent: { since: number }): boolean {
    return this.options.scheduler.now() >= agent.since + (this.options.agentOnlineDelayMs ?? 0);
  }

  private async deliver(
    invocation: CommandInvocation,
    document: CommandDocument,
    params: Record<string, string>,
    deliverBy: number,
    cancelled: AbortSignal,
  ): Promise<void> {
    const { targets, scheduler } = this.options;
    const instanceId = invocation.InstanceId;
    // a cancelled invocation keeps the Cancelled it ends with, whatever its script did meanwhile
    const end = (
      status: InvocationStatus,
      details: string,
      output: Partial<Pick<CommandInvocation, 'ResponseCode' | 'StandardOutputContent' | 'StandardErrorContent'>> = {},
    ) => {
      if (isTerminal(invocation)) return;
      if (cancelled.aborted) [status, details] = ['Cancelled', 'Cancelled'];
      Object.assign(invocation, { Status: status, StatusDetails: details, ExecutionEndDateTime: scheduler.now(), ...output });
    };
    // like the agent, which polls for messages: nothing is delivered to a machine that is not up
    while (!this.agentOnline(instanceId)) {
      if (cancelled.aborted) return end('Cancelled', 'Cancelled');
      if (targets.agentState(instanceId)?.state === 'gone') return end('Failed', 'Undeliverable');
      if (scheduler.now() >= deliverBy) return end('TimedOut', 'DeliveryTimedOut');
      await this.sleep(Math.min(this.options.agentPollMs ?? 250, deliverBy - scheduler.now()));
    }
    if (cancelled.aborted) return end('Cancelled', 'Cancelled');
    const fault = this.takeFault(instanceId, document.name);
    if (fault?.kind === 'undeliverable') return end('Failed', 'Undeliverable');
    if (fault?.kind === 'delay') await this.sleep(fault.ms);
    if (cancelled.aborted) return end('Cancelled', 'Cancelled');
    Object.assign(invocation, { Status: 'InProgress', StatusDetails: 'InProgress', ExecutionStartDateTime: scheduler.now() });
    if (fault?.kind === 'fail') return end('Failed', 'Failed', { ResponseCode: fault.exitCode ?? 1, StandardErrorContent: fault.stderr ?? 'injected failure' });
    if (fault?.kind === 'timeout') return end('TimedOut', 'ExecutionTimedOut', { StandardErrorContent: 'injected execution timeout' });

    let result: ProcessResult;
    try {
      result = await targets.runDocument(instanceId, document.name, params, { signal: cancelled });
    } catch (error) {
      return end('Failed', 'Failed', { ResponseCode: 1, StandardErrorContent: error instanceof Error ? error.message : String(error) });
    }
    const output = { ResponseCode: result.exitCode, StandardOutputContent: result.stdout, StandardErrorContent: result.stderr };
    // the machine died under the command: the agent never reports back
    if (targets.agentState(instanceId)?.state === 'gone') return end('Failed', 'Undeliverable', output);
    if (result.stderr.includes(`[killed after ${document.timeoutSeconds * 1000} ms]`)) return end('TimedOut', 'ExecutionTimedOut', output);
    if (result.exitCode === 0) return end('Success', 'Success', output);
    end('Failed', 'Failed', output);
  }

  private commandOf(commandId: string): SentCommand {
    const command = this.sent.find((candidate) => candidate.CommandId === commandId);
    if (!command) throw new ApiError('InvalidCommandId', `command ${commandId} does not exist`);
    return command;
  }

  private invocationsOf(command: SentCommand): CommandInvocation[] {
    return command.InstanceIds.map((instanceId) => this.invocations.get(key(command.CommandId, instanceId))!.invocation);
  }

  private takeFault(instanceId: string, document: string): CommandFault['effect'] | undefined {
    const index = this.faults.findIndex((f) => (!f.instanceId || f.instanceId === instanceId) && (!f.document || f.document === document));
    if (index < 0) return undefined;
    const fault = this.faults[index]!;
    if (--fault.left <= 0) this.faults.splice(index, 1);
    fault.onTaken?.(instanceId);
    return fault.effect;
  }

  private documentNamed(documentName: string): CommandDocument {
    const cached = this.documents.get(documentName);
    if (cached) return cached;
    const bare = documentName.startsWith(this.options.documentPrefix) ? documentName.slice(this.options.documentPrefix.length) : '';
    let document: CommandDocument;
    try {
      if (!/^[A-Za-z0-9_.-]+$/.test(bare)) throw new Error('not a document of this account');
      document = loadDocument(bare, this.options.documentDirectory);
    } catch {
      throw new ApiError('InvalidDocument', `Document with name ${documentName} does not exist.`);
    }
    this.documents.set(documentName, document);
    return document;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.options.scheduler.after(Math.max(0, ms), resolve));
  }
}

export function isTerminal(invocation: Pick<CommandInvocation, 'Status'>): boolean {
  return isTerminalStatus(invocation.Status);
}

function commandStatus(invocations: CommandInvocation[]): { Status: InvocationStatus; StatusDetails: string } {
  const any = (status: InvocationStatus) => invocations.some((invocation) => invocation.Status === status);
  const all = (status: InvocationStatus) => invocations.every((invocation) => invocation.Status === status);
  const Status: InvocationStatus = !invocations.every(isTerminal)
    ? any('Cancelling')
      ? 'Cancelling'
      : all('Pending')
        ? 'Pending'
        : 'InProgress'
    : all('Success')
      ? 'Success'
      : any('Cancelled')
        ? 'Cancelled'
        : any('Failed')
          ? 'Failed'
          : 'TimedOut';
  if (Status !== 'TimedOut') return { Status, StatusDetails: Status };
  const timedOut = invocations.find((invocation) => invocation.Status === 'TimedOut')!;
  return { Status, StatusDetails: timedOut.StatusDetails === 'DeliveryTimedOut' ? 'Delivery Timed Out' : 'Execution Timed Out' };
}

function pluginOutput(invocation: CommandInvocation): string {
  const stderr = invocation.StandardErrorContent ? OUTPUT_ERROR_SEPARATOR + invocation.StandardErrorContent : '';
  return (invocation.StandardOutputContent + stderr).slice(0, LISTED_OUTPUT_CHARS);
}

export const PLUGIN_NAME = 'aws:runShellScript';
export const NO_NOTIFICATIONS = { NotificationArn: '', NotificationEvents: [], NotificationType: '' };
export const NO_CLOUDWATCH = { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false };

function dateOf(epochMs: number | undefined): Date | undefined {
  return epochMs === undefined ? undefined : new Date(epochMs);
}

function key(commandId: string, instanceId: string): string {
  return `${commandId}/${instanceId}`;
}
