import { ApiError, type ServiceApi } from './protocol';
import { isTerminal, SsmApiError, type CommandInvocation, type CommandSummary, type CommandTarget, type LocalRunCommand, type SentCommand } from '../cloud/ssm';

/**
 * SSM Run Command over the local model (infra/sandbox/cloud/ssm.ts) as the awsJson1_1 API the SDK's
 * SSMClient and `aws ssm` speak: SendCommand, GetCommandInvocation, ListCommandInvocations,
 * ListCommands, CancelCommand and DescribeInstanceInformation, with the API reference's member names,
 * validation errors and pages. The model's SsmApiError becomes the error of the same code.
 */

export interface SsmApiOptions {
  /** the running instances carrying tag `key` with one of `values`: SendCommand's `tag:<key>` Targets and DescribeInstanceInformation's tag filters */
  instancesTagged?: (key: string, values: string[]) => string[];
  /** every instance of the cloud, for a DescribeInstanceInformation without an instance filter (`aws ssm describe-instance-information`) */
  instances?: () => string[];
}

/** SendCommand: InstanceIds' pattern, TimeoutSeconds' bounds, at most 5 Targets (API reference). */
const INSTANCE_ID = /^(i-(\w{8}|\w{17})|mi-\w{17})$/;
const MIN_TIMEOUT_SECONDS = 30;
const MAX_TIMEOUT_SECONDS = 2_592_000;
const MAX_TARGETS = 5;
const COMMAND_ID_LENGTH = 36;
/** ListCommands and DescribeInstanceInformation pages */
const COMMANDS_PER_PAGE = 50;
const INSTANCES_PER_PAGE = 50;
const PLUGIN_NAME = 'aws:runShellScript';

export function ssmApi(runCommand: LocalRunCommand, options: SsmApiOptions = {}): ServiceApi {
  const commandOf = (commandId: string): SentCommand | undefined => runCommand.sent.find((command) => command.CommandId === commandId);

  return {
    service: 'ssm',
    protocol: 'awsJson1_1',
    targetPrefix: 'AmazonSSM',
    operations: {
      SendCommand: (input) =>
        answer(async () => {
          const documentName = required<string>(input.DocumentName, 'documentName');
          const targets = targetsOf(input.Targets);
          const listed = (input.InstanceIds ?? []) as string[];
          if (targets && listed.length > 0) throw validation('InstanceIds and Targets cannot be given together');
          if (!targets && listed.length === 0) throw validation("Value at 'instanceIds' failed to satisfy constraint: Member must have length between 1 and 50");
          for (const id of listed) {
            if (typeof id !== 'string' || !INSTANCE_ID.test(id)) throw validation(`Value '${id}' at 'instanceIds' failed to satisfy constraint: Member must satisfy regular expression pattern: (^i-(\\w{8}|\\w{17})$)|(^mi-\\w{17}$)`);
          }
          const timeoutSeconds = input.TimeoutSeconds as number | undefined;
          if (timeoutSeconds !== undefined && (!Number.isInteger(timeoutSeconds) || timeoutSeconds < MIN_TIMEOUT_SECONDS || timeoutSeconds > MAX_TIMEOUT_SECONDS)) {
            throw validation(`Value '${timeoutSeconds}' at 'timeoutSeconds' failed to satisfy constraint: Member must have value between ${MIN_TIMEOUT_SECONDS} and ${MAX_TIMEOUT_SECONDS}`);
          }
          const parameters = parametersOf(input.Parameters);
          const commandId = await runCommand.sendCommand({
            DocumentName: documentName,
            InstanceIds: targets ? resolve(targets, options) : listed,
            Parameters: parameters,
            TimeoutSeconds: timeoutSeconds,
            ...(targets ? { Targets: targets } : {}),
            ...(input.Comment !== undefined ? { Comment: String(input.Comment) } : {}),
            ...(input.MaxConcurrency !== undefined ? { MaxConcurrency: String(input.MaxConcurrency) } : {}),
            ...(input.MaxErrors !== undefined ? { MaxErrors: String(input.MaxErrors) } : {}),
          });
          const summary = runCommand.listCommands().find((command) => command.CommandId === commandId)!;
          return { Command: commandShape(summary, input.CloudWatchOutputConfig) };
        }),

      GetCommandInvocation: (input) =>
        answer(() => {
          const commandId = commandIdOf(input.CommandId);
          const instanceId = required<string>(input.InstanceId, 'instanceId');
          if (input.PluginName !== undefined && input.PluginName !== PLUGIN_NAME) {
            throw new ApiError('InvalidPluginName', `The plugin name ${input.PluginName} is not valid for this invocation.`);
          }
          const invocation = runCommand.getCommandInvocation(commandId, instanceId);
          return invocationShape(invocation, commandOf(commandId));
        }),

      ListCommandInvocations: (input) =>
        answer(() => {
          const commandId = input.CommandId === undefined ? undefined : commandIdOf(input.CommandId);
          const page = runCommand.listCommandInvocations({
            CommandId: commandId,
            InstanceId: input.InstanceId,
            Details: input.Details === true,
            MaxResults: input.MaxResults,
            NextToken: input.NextToken,
          });
          return {
            CommandInvocations: page.CommandInvocations.map((listed) => {
              const command = commandOf(listed.CommandId);
              return {
                CommandId: listed.CommandId,
                InstanceId: listed.InstanceId,
                Comment: command?.Comment ?? '',
                DocumentName: listed.DocumentName,
                DocumentVersion: '$DEFAULT',
                RequestedDateTime: new Date(listed.RequestedDateTime),
                Status: listed.Status,
                StatusDetails: listed.StatusDetails,
                TraceOutput: '',
                StandardOutputUrl: '',
                StandardErrorUrl: '',
                CommandPlugins: (listed.CommandPlugins ?? []).map((plugin) => ({
                  Name: plugin.Name,
                  Status: plugin.Status,
                  StatusDetails: plugin.StatusDetails,
                  ResponseCode: plugin.ResponseCode,
                  ResponseStartDateTime: dateOrUndefined(plugin.ResponseStartDateTime),
                  ResponseFinishDateTime: dateOrUndefined(plugin.ResponseFinishDateTime),
                  Output: plugin.Output,
                  StandardOutputUrl: '',
                  StandardErrorUrl: '',
                  OutputS3Region: '',
                  OutputS3BucketName: '',
                  OutputS3KeyPrefix: '',
                })),
                ServiceRole: '',
                NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
                CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
              };
            }),
            NextToken: page.NextToken,
          };
        }),

      ListCommands: (input) =>
        answer(() => {
          let commands = runCommand.listCommands();
          if (input.CommandId !== undefined) {
            const commandId = commandIdOf(input.CommandId);
            commands = commands.filter((command) => command.CommandId === commandId);
            if (commands.length === 0) throw new ApiError('InvalidCommandId', `command ${commandId} does not exist`);
          }
          if (input.InstanceId !== undefined) commands = commands.filter((command) => command.InstanceIds.includes(input.InstanceId));
          for (const filter of (input.Filters ?? []) as Array<{ key?: string; value?: string }>) commands = commands.filter(commandFilter(filter));
          const { items, NextToken } = page(commands, input.MaxResults, input.NextToken, COMMANDS_PER_PAGE);
          return { Commands: items.map((command) => commandShape(command)), NextToken };
        }),

      CancelCommand: (input) =>
        answer(() => {
          runCommand.cancelCommand({ CommandId: commandIdOf(input.CommandId), InstanceIds: input.InstanceIds });
          return {};
        }),

      DescribeInstanceInformation: (input) =>
        answer(() => {
          const filters = instanceFilters(input);
          let instanceIds: string[] | undefined;
          const narrow = (ids: string[]) => (instanceIds = instanceIds ? instanceIds.filter((id) => ids.includes(id)) : [...new Set(ids)]);
          let pingStatuses: string[] | undefined;
          for (const { key, values } of filters) {
            if (key === 'InstanceIds') narrow(values);
            else if (key === 'PingStatus') pingStatuses = values;
            // every instance here is an EC2 instance
            else if (key === 'ResourceType') {
              if (!values.includes('EC2Instance')) narrow([]);
            } else if (key.startsWith('tag:')) {
              if (!options.instancesTagged) throw new ApiError('InvalidFilterKey', `This endpoint resolves no tags (started without instancesTagged): ${key}.`);
              narrow(options.instancesTagged(key.slice('tag:'.length), values));
            } else throw new ApiError('InvalidFilterKey', `The filter key ${key} is not valid.`);
          }
          const informations = runCommand
            .describeInstanceInformation(instanceIds ?? options.instances?.() ?? [])
            .filter((information) => !pingStatuses || pingStatuses.includes(information.PingStatus));
          const max = input.MaxResults ?? INSTANCES_PER_PAGE;
          if (!Number.isInteger(max) || max < 5 || max > INSTANCES_PER_PAGE) {
            throw validation(`Value '${max}' at 'maxResults' failed to satisfy constraint: Member must have value between 5 and ${INSTANCES_PER_PAGE}`);
          }
          const { items, NextToken } = page(informations, max, input.NextToken, INSTANCES_PER_PAGE);
          const now = new Date();
          return {
            InstanceInformationList: items.map((information) => ({
              InstanceId: information.InstanceId,
              PingStatus: information.PingStatus,
              ...(information.PingStatus === 'Online' ? { LastPingDateTime: now } : {}),
              AgentVersion: '3.3.0.0',
              IsLatestVersion: true,
              PlatformType: 'Linux',
              PlatformName: 'Amazon Linux',
              PlatformVersion: '2023',
              ResourceType: 'EC2Instance',
            })),
            NextToken,
          };
        }),
    },
  };
}

/** Runs an operation over the model; its SsmApiError is the SSM error of the same code. */
async function answer<T>(operate: () => T | Promise<T>): Promise<T> {
  try {
    return await operate();
  } catch (error) {
    if (error instanceof SsmApiError) throw new ApiError(error.name, error.message, 400);
    throw error;
  }
}

function validation(message: string): ApiError {
  return new ApiError('ValidationException', `1 validation error detected: ${message}`);
}

function required<T>(value: unknown, member: string): T {
  if (value === undefined || value === null || value === '') throw validation(`Value null at '${member}' failed to satisfy constraint: Member must not be null`);
  return value as T;
}

/** Command ids are UUIDs: 36 characters, or a ValidationException before anything is looked up. */
function commandIdOf(value: unknown): string {
  const commandId = required<string>(value, 'commandId');
  if (typeof commandId !== 'string' || commandId.length !== COMMAND_ID_LENGTH) {
    throw validation(`Value '${commandId}' at 'commandId' failed to satisfy constraint: Member must have length less than or equal to ${COMMAND_ID_LENGTH} and greater than or equal to ${COMMAND_ID_LENGTH}`);
  }
  return commandId;
}

/** Parameters go on the wire as lists of strings. */
function parametersOf(value: unknown): Record<string, string[]> | undefined {
  if (value === undefined) return undefined;
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ApiError('InvalidParameters', 'Parameters must be a map of parameter names to lists of values.');
  for (const [name, values] of Object.entries(value)) {
    if (!Array.isArray(values) || values.some((item) => typeof item !== 'string')) throw new ApiError('InvalidParameters', `Parameter ${name} must be a list of strings.`);
  }
  return value as Record<string, string[]>;
}

function targetsOf(value: unknown): CommandTarget[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_TARGETS) {
    throw validation(`Value at 'targets' failed to satisfy constraint: Member must have length between 1 and ${MAX_TARGETS}`);
  }
  return value.map((target: { Key?: unknown; Values?: unknown }) => {
    if (typeof target?.Key !== 'string' || !Array.isArray(target.Values) || target.Values.length === 0) {
      throw new ApiError('InvalidTarget', 'A target needs a Key and at least one value.');
    }
    if (target.Key !== 'InstanceIds' && !target.Key.startsWith('tag:')) throw new ApiError('InvalidTarget', `Target key ${target.Key} is not supported here (InstanceIds, tag:<key>).`);
    return { Key: target.Key, Values: target.Values.map(String) };
  });
}

/** The instances targets resolve to: every instance one of them names. */
function resolve(targets: CommandTarget[], options: SsmApiOptions): string[] {
  return [
    ...new Set(
      targets.flatMap((target) => {
        if (target.Key === 'InstanceIds') return target.Values;
        if (!options.instancesTagged) throw new ApiError('InvalidTarget', 'This endpoint resolves no tag targets: it was started without instancesTagged.');
        return options.instancesTagged(target.Key.slice('tag:'.length), target.Values);
      }),
    ),
  ];
}

/** DescribeInstanceInformation takes InstanceInformationFilterList (key / valueSet) and Filters (Key / Values). */
function instanceFilters(input: Record<string, any>): Array<{ key: string; values: string[] }> {
  const old = ((input.InstanceInformationFilterList ?? []) as Array<{ key?: string; valueSet?: string[] }>).map((filter) => ({ key: filter.key, values: filter.valueSet }));
  const current = ((input.Filters ?? []) as Array<{ Key?: string; Values?: string[] }>).map((filter) => ({ key: filter.Key, values: filter.Values }));
  return [...old, ...current].map(({ key, values }) => {
    if (!key || !Array.isArray(values) || values.length === 0) throw new ApiError('InvalidInstanceInformationFilterValue', `The filter ${key ?? '(no key)'} needs at least one value.`);
    return { key, values: values.map(String) };
  });
}

/** ListCommands' Filters: Status, DocumentName, InvokedAfter / InvokedBefore (ISO 8601). */
function commandFilter(filter: { key?: string; value?: string }): (command: CommandSummary) => boolean {
  const value = filter.value ?? '';
  switch (filter.key) {
    case 'Status':
      return (command) => command.Status === value;
    case 'DocumentName':
      return (command) => command.DocumentName === value;
    case 'InvokedAfter':
    case 'InvokedBefore': {
      const at = Date.parse(value);
      if (Number.isNaN(at)) throw new ApiError('InvalidFilterValue', `${value} is not a date and time (ISO 8601).`);
      return filter.key === 'InvokedAfter' ? (command) => command.RequestedDateTime >= at : (command) => command.RequestedDateTime <= at;
    }
    default:
      throw new ApiError('InvalidFilterKey', `The filter key ${filter.key} is not valid.`);
  }
}

/** Offset pages: NextToken is where the next page starts. */
function page<T>(all: T[], maxResults: unknown, nextToken: unknown, limit: number): { items: T[]; NextToken?: string } {
  const max = maxResults === undefined ? limit : Number(maxResults);
  if (!Number.isInteger(max) || max < 1 || max > limit) throw validation(`Value '${maxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and ${limit}`);
  const start = nextToken === undefined ? 0 : Number(nextToken);
  if (!Number.isInteger(start) || start < 0 || start > all.length) throw new ApiError('InvalidNextToken', `The NextToken ${String(nextToken)} is not valid.`);
  const end = Math.min(all.length, start + max);
  return { items: all.slice(start, end), ...(end < all.length ? { NextToken: String(end) } : {}) };
}

/** SendCommand's and ListCommands' Command. */
function commandShape(command: CommandSummary, cloudWatch?: { CloudWatchLogGroupName?: string; CloudWatchOutputEnabled?: boolean }) {
  return {
    CommandId: command.CommandId,
    DocumentName: command.DocumentName,
    DocumentVersion: '$DEFAULT',
    Comment: command.Comment ?? '',
    ExpiresAfter: new Date(command.RequestedDateTime + command.TimeoutSeconds * 1000),
    Parameters: Object.fromEntries(Object.entries(command.Parameters).map(([name, value]) => [name, [value]])),
    // sent to Targets, a command names no instance ids (ListCommandInvocations does)
    InstanceIds: command.Targets ? [] : command.InstanceIds,
    Targets: command.Targets ?? [],
    RequestedDateTime: new Date(command.RequestedDateTime),
    Status: command.Status,
    StatusDetails: command.StatusDetails,
    OutputS3Region: '',
    OutputS3BucketName: '',
    OutputS3KeyPrefix: '',
    MaxConcurrency: command.MaxConcurrency ?? '50',
    MaxErrors: command.MaxErrors ?? '0',
    TargetCount: command.TargetCount,
    CompletedCount: command.CompletedCount,
    ErrorCount: command.ErrorCount,
    DeliveryTimedOutCount: command.DeliveryTimedOutCount,
    ServiceRole: '',
    NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
    CloudWatchOutputConfig: { CloudWatchLogGroupName: cloudWatch?.CloudWatchLogGroupName ?? '', CloudWatchOutputEnabled: cloudWatch?.CloudWatchOutputEnabled ?? false },
    TimeoutSeconds: command.TimeoutSeconds,
  };
}

/** GetCommandInvocation's answer: its execution times are strings (ISO 8601, a duration), empty until known. */
function invocationShape(invocation: CommandInvocation, command: SentCommand | undefined) {
  const { ExecutionStartDateTime: started, ExecutionEndDateTime: ended } = invocation;
  const finished = isTerminal(invocation) && ended !== undefined;
  return {
    CommandId: invocation.CommandId,
    InstanceId: invocation.InstanceId,
    Comment: command?.Comment ?? '',
    DocumentName: invocation.DocumentName,
    DocumentVersion: '$DEFAULT',
    PluginName: PLUGIN_NAME,
    ResponseCode: invocation.ResponseCode,
    ExecutionStartDateTime: started === undefined ? '' : new Date(started).toISOString(),
    ExecutionElapsedTime: started !== undefined && finished ? `PT${((ended! - started) / 1000).toFixed(3)}S` : '',
    ExecutionEndDateTime: finished ? new Date(ended!).toISOString() : '',
    Status: invocation.Status,
    StatusDetails: invocation.StatusDetails,
    StandardOutputContent: invocation.StandardOutputContent,
    StandardOutputUrl: '',
    StandardErrorContent: invocation.StandardErrorContent,
    StandardErrorUrl: '',
    CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
  };
}

function dateOrUndefined(epochMs: number | undefined): Date | undefined {
  return epochMs === undefined ? undefined : new Date(epochMs);
}
