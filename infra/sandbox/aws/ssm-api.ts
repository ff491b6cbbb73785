import { ApiError, bounded, invalid, offsetOf, page, required, type ServiceApi } from './protocol';
import {
  isTerminal,
  NO_CLOUDWATCH,
  NO_NOTIFICATIONS,
  PLUGIN_NAME,
  type CommandInvocation,
  type CommandSummary,
  type CommandTarget,
  type LocalRunCommand,
  type SentCommand,
} from '../cloud/ssm';

/**
 * SSM Run Command over the local model (infra/sandbox/cloud/ssm.ts) as the awsJson1_1 API the SDK's
 * SSMClient and `aws ssm` speak: SendCommand, GetCommandInvocation, ListCommandInvocations,
 * ListCommands, CancelCommand and DescribeInstanceInformation, with the API reference's member names,
 * validation errors and pages.
 */

export interface SsmApiOptions {
  /** the running instances carrying tag `key` with one of `values`: SendCommand's `tag:<key>` Targets */
  instancesTagged?: (key: string, values: string[]) => string[];
  /** every instance of the cloud, for a DescribeInstanceInformation without an instance filter (`aws ssm describe-instance-information`) */
  instances?: () => string[];
}

/** SendCommand: InstanceIds' pattern, TimeoutSeconds' bounds, at most 5 Targets (API reference). */
const INSTANCE_ID = /^(i-(\w{8}|\w{17})|mi-\w{17})$/;
const TIMEOUT_SECONDS: [number, number] = [30, 2_592_000];
const MAX_TARGETS = 5;
const COMMAND_ID_LENGTH = 36;
/** ListCommands and DescribeInstanceInformation pages */
const PER_PAGE = 50;
const V = 'ValidationException';

export function ssmApi(runCommand: LocalRunCommand, options: SsmApiOptions = {}): ServiceApi {
  return {
    service: 'ssm',
    protocol: 'awsJson1_1',
    targetPrefix: 'AmazonSSM',
    operations: {
      SendCommand: async (input) => {
        const documentName = required(input.DocumentName, 'documentName', V);
        const targets = targetsOf(input.Targets);
        const listed = (input.InstanceIds ?? []) as string[];
        if (targets && listed.length > 0) throw invalid('InstanceIds and Targets cannot be given together', V);
        if (!targets && listed.length === 0) throw invalid("Value at 'instanceIds' failed to satisfy constraint: Member must have length between 1 and 50", V);
        for (const id of listed) {
          if (typeof id !== 'string' || !INSTANCE_ID.test(id))
            throw invalid(
              `Value '${id}' at 'instanceIds' failed to satisfy constraint: Member must satisfy regular expression pattern: (^i-(\\w{8}|\\w{17})$)|(^mi-\\w{17}$)`,
              V,
            );
        }
        const commandId = await runCommand.sendCommand({
          DocumentName: documentName,
          InstanceIds: targets ? resolve(targets, options) : listed,
          Parameters: parametersOf(input.Parameters),
          TimeoutSeconds: input.TimeoutSeconds === undefined ? undefined : bounded(input.TimeoutSeconds, 'timeoutSeconds', TIMEOUT_SECONDS, V),
          ...(targets ? { Targets: targets } : {}),
          ...(input.Comment !== undefined ? { Comment: String(input.Comment) } : {}),
          ...(input.MaxConcurrency !== undefined ? { MaxConcurrency: String(input.MaxConcurrency) } : {}),
          ...(input.MaxErrors !== undefined ? { MaxErrors: String(input.MaxErrors) } : {}),
        });
        const summary = runCommand.listCommands().find((command) => command.CommandId === commandId)!;
        return { Command: commandShape(summary, input.CloudWatchOutputConfig) };
      },

      GetCommandInvocation: (input) => {
        const commandId = commandIdOf(input.CommandId);
        const instanceId = required(input.InstanceId, 'instanceId', V);
        if (input.PluginName !== undefined && input.PluginName !== PLUGIN_NAME) {
          throw new ApiError('InvalidPluginName', `The plugin name ${input.PluginName} is not valid for this invocation.`);
        }
        return invocationShape(
          runCommand.getCommandInvocation(commandId, instanceId),
          runCommand.sent.find((command) => command.CommandId === commandId),
        );
      },

      ListCommandInvocations: (input) => {
        const { CommandInvocations, NextToken } = runCommand.listCommandInvocations({
          CommandId: input.CommandId === undefined ? undefined : commandIdOf(input.CommandId),
          InstanceId: input.InstanceId,
          Details: input.Details === true,
          MaxResults: input.MaxResults,
          NextToken: input.NextToken,
        });
        return { CommandInvocations: CommandInvocations.map((listed) => ({ ...listed, CommandPlugins: listed.CommandPlugins ?? [] })), NextToken };
      },

      ListCommands: (input) => {
        let commands = runCommand.listCommands();
        if (input.CommandId !== undefined) {
          const commandId = commandIdOf(input.CommandId);
          commands = commands.filter((command) => command.CommandId === commandId);
          if (commands.length === 0) throw new ApiError('InvalidCommandId', `command ${commandId} does not exist`);
        }
        if (input.InstanceId !== undefined) commands = commands.filter((command) => command.InstanceIds.includes(input.InstanceId));
        for (const filter of (input.Filters ?? []) as Array<{ key?: string; value?: string }>) {
          // the one filter anybody asks for here (warren's operators, the tests)
          if (filter.key !== 'Status') throw new ApiError('InvalidFilterKey', `The filter key ${filter.key} is not valid.`);
          commands = commands.filter((command) => command.Status === filter.value);
        }
        const max = bounded(input.MaxResults, 'maxResults', [1, PER_PAGE], V);
        const { items, NextToken } = page(commands, offsetOf(input.NextToken, commands.length), max);
        return { Commands: items.map((command) => commandShape(command)), NextToken };
      },

      CancelCommand: (input) => {
        runCommand.cancelCommand({ CommandId: commandIdOf(input.CommandId), InstanceIds: input.InstanceIds });
        return {};
      },

      DescribeInstanceInformation: (input) => {
        let instanceIds: string[] | undefined;
        let pingStatuses: string[] | undefined;
        for (const { key, values } of instanceFilters(input)) {
          if (key === 'InstanceIds') instanceIds = instanceIds ? instanceIds.filter((id) => values.includes(id)) : [...new Set(values)];
          else if (key === 'PingStatus') pingStatuses = values;
          else throw new ApiError('InvalidFilterKey', `The filter key ${key} is not valid.`);
        }
        const informations = runCommand
          .describeInstanceInformation(instanceIds ?? options.instances?.() ?? [])
          .filter((information) => !pingStatuses || pingStatuses.includes(information.PingStatus));
        const max = bounded(input.MaxResults, 'maxResults', [5, PER_PAGE], V);
        const { items, NextToken } = page(informations, offsetOf(input.NextToken, informations.length), max);
        const now = new Date();
        return {
          InstanceInformationList: items.map(({ InstanceId, PingStatus }) => ({
            ...{ InstanceId, PingStatus, ...(PingStatus === 'Online' ? { LastPingDateTime: now } : {}), AgentVersion: '3.3.0.0', IsLatestVersion: true },
            ...{ PlatformType: 'Linux', PlatformName: 'Amazon Linux', PlatformVersion: '2023', ResourceType: 'EC2Instance' },
          })),
          NextToken,
        };
      },
    },
  };
}

/** Command ids are UUIDs: 36 characters, or a ValidationException before anything is looked up. */
function commandIdOf(value: unknown): string {
  const commandId = required(value, 'commandId', V);
  if (typeof commandId !== 'string' || commandId.length !== COMMAND_ID_LENGTH) {
    throw invalid(
      `Value '${commandId}' at 'commandId' failed to satisfy constraint: Member must have length less than or equal to ${COMMAND_ID_LENGTH} and greater than or equal to ${COMMAND_ID_LENGTH}`,
      V,
    );
  }
  return commandId;
}

/** Parameters go on the wire as lists of strings. */
function parametersOf(value: unknown): Record<string, string[]> | undefined {
  if (value === undefined) return undefined;
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new ApiError('InvalidParameters', 'Parameters must be a map of parameter names to lists of values.');
  for (const [name, values] of Object.entries(value)) {
    if (!Array.isArray(values) || values.some((item) => typeof item !== 'string'))
      throw new ApiError('InvalidParameters', `Parameter ${name} must be a list of strings.`);
  }
  return value as Record<string, string[]>;
}

function targetsOf(value: unknown): CommandTarget[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_TARGETS) {
    throw invalid(`Value at 'targets' failed to satisfy constraint: Member must have length between 1 and ${MAX_TARGETS}`, V);
  }
  return value.map((target: { Key?: unknown; Values?: unknown }) => {
    if (typeof target?.Key !== 'string' || !Array.isArray(target.Values) || target.Values.length === 0) {
      throw new ApiError('InvalidTarget', 'A target needs a Key and at least one value.');
    }
    if (target.Key !== 'InstanceIds' && !target.Key.startsWith('tag:'))
      throw new ApiError('InvalidTarget', `Target key ${target.Key} is not supported here (InstanceIds, tag:<key>).`);
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
  const old = ((input.InstanceInformationFilterList ?? []) as Array<{ key?: string; valueSet?: string[] }>).map((filter) => ({
    key: filter.key,
    values: filter.valueSet,
  }));
  const current = ((input.Filters ?? []) as Array<{ Key?: string; Values?: string[] }>).map((filter) => ({ key: filter.Key, values: filter.Values }));
  return [...old, ...current].map(({ key, values }) => {
    if (!key || !Array.isArray(values) || values.length === 0)
      throw new ApiError('InvalidInstanceInformationFilterValue', `The filter ${key ?? '(no key)'} needs at least one value.`);
    return { key, values: values.map(String) };
  });
}

/** SendCommand's and ListCommands' Command. */
function commandShape(command: CommandSummary, cloudWatch?: { CloudWatchLogGroupName?: string; CloudWatchOutputEnabled?: boolean }) {
  const { CommandId, DocumentName, Status, StatusDetails, TargetCount, CompletedCount, ErrorCount, DeliveryTimedOutCount, TimeoutSeconds } = command;
  return {
    ...{
      CommandId,
      DocumentName,
      DocumentVersion: '$DEFAULT',
      Comment: command.Comment ?? '',
      TimeoutSeconds,
      ExpiresAfter: new Date(command.RequestedDateTime + TimeoutSeconds * 1000),
    },
    Parameters: Object.fromEntries(Object.entries(command.Parameters).map(([name, value]) => [name, [value]])),
    // sent to Targets, a command names no instance ids (ListCommandInvocations does)
    InstanceIds: command.Targets ? [] : command.InstanceIds,
    Targets: command.Targets ?? [],
    ...{ RequestedDateTime: new Date(command.RequestedDateTime), Status, StatusDetails, TargetCount, CompletedCount, ErrorCount, DeliveryTimedOutCount },
    ...{
      MaxConcurrency: command.MaxConcurrency ?? '50',
      MaxErrors: command.MaxErrors ?? '0',
      OutputS3Region: '',
      OutputS3BucketName: '',
      OutputS3KeyPrefix: '',
      ServiceRole: '',
    },
    NotificationConfig: NO_NOTIFICATIONS,
    CloudWatchOutputConfig: { ...NO_CLOUDWATCH, ...cloudWatch },
  };
}

/** GetCommandInvocation's answer: its execution times are strings (ISO 8601, a duration), empty until known. */
function invocationShape(invocation: CommandInvocation, command: SentCommand | undefined) {
  const { ExecutionStartDateTime: started, ExecutionEndDateTime: ended } = invocation;
  const finished = isTerminal(invocation) && ended !== undefined;
  const { CommandId, InstanceId, DocumentName, ResponseCode, Status, StatusDetails, StandardOutputContent, StandardErrorContent } = invocation;
  return {
    ...{ CommandId, InstanceId, Comment: command?.Comment ?? '', DocumentName, DocumentVersion: '$DEFAULT', PluginName: PLUGIN_NAME, ResponseCode },
    ExecutionStartDateTime: started === undefined ? '' : new Date(started).toISOString(),
    ExecutionElapsedTime: started !== undefined && finished ? `PT${((ended! - started) / 1000).toFixed(3)}S` : '',
    ExecutionEndDateTime: finished ? new Date(ended!).toISOString() : '',
    ...{
      Status,
      StatusDetails,
      StandardOutputContent,
      StandardOutputUrl: '',
      StandardErrorContent,
      StandardErrorUrl: '',
      CloudWatchOutputConfig: NO_CLOUDWATCH,
    },
  };
}
