import { createHash } from 'node:crypto';
import type { Ec2State } from '../../../shared/ports';
import type { Ec2Instance, LocalEc2 } from '../cloud/ec2';
import { BASE_IMAGE_ID, BASE_INSTANCE_TYPE, type LaunchTemplate, type LaunchTemplateVersion, type LocalLaunchTemplates } from '../cloud/launch-templates';
import { ApiError, listOf, page, type ServiceApi } from './protocol';

/**
 * EC2's query API over the local EC2 model: DescribeInstances (ids, filters, pagination), CreateTags
 * and TerminateInstances, with the errors EC2 answers for what it refuses; with the region's launch
 * templates, DescribeLaunchTemplates, DescribeLaunchTemplateVersions, CreateLaunchTemplateVersion and
 * ModifyLaunchTemplate. Output members carry the EC2 wire names (instanceState, tagSet, reservationSet …),
 * which the SDK maps to its own.
 */

export const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

/** What an instance is launched from when nothing says otherwise; the type is the sandbox's, not the model's. */
export const SANDBOX_IMAGE_ID = BASE_IMAGE_ID;
export const SANDBOX_INSTANCE_TYPE = BASE_INSTANCE_TYPE;

/** The low byte of EC2's state code (the high byte is internal and always 0 here). */
const STATE_CODES: Record<Ec2State, number> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80 };

/** EC2 refuses more values than this in one filter. */
export const MAX_FILTER_VALUES = 200;
/** DescribeInstances' MaxResults bounds. */
const MIN_RESULTS = 5;
const MAX_RESULTS = 1000;
const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;

type Matcher = (instance: Ec2Instance) => string[];

/** The filters asked for (warren's inventory, the AWS CLI calls of docs/sandbox.md and docs/operations.md, and the tests' calls; `tag:<key>` apart): the values an instance has for each. */
const FILTERS: Record<string, Matcher> = {
  'instance-id': (instance) => [instance.instanceId],
  'instance-state-name': (instance) => [instance.state],
  'tag-key': (instance) => Object.keys(instance.tags),
};

export function ec2Api(ec2: LocalEc2, launchTemplates?: LocalLaunchTemplates): ServiceApi {
  return {
    service: 'ec2',
    protocol: 'ec2',
    xmlns: EC2_XMLNS,
    operations: {
      DescribeInstances: (input) => describeInstances(ec2, input),
      CreateTags: (input) => createTags(ec2, input),
      TerminateInstances: (input) => terminateInstances(ec2, input),
      ...(launchTemplates ? launchTemplateOperations(launchTemplates, ec2.account) : {}),
    },
  };
}

const MAX_VERSION_RESULTS = 200;

function launchTemplateOperations(templates: LocalLaunchTemplates, account: string): ServiceApi['operations'] {
  const named = (input: Record<string, any>) => ({
    ...(input.LaunchTemplateId !== undefined ? { id: String(input.LaunchTemplateId) } : {}),
    ...(input.LaunchTemplateName !== undefined ? { name: String(input.LaunchTemplateName) } : {}),
  });
  const creator = `arn:aws:iam::${account}:root`;
  return {
    DescribeLaunchTemplates: (input) => ({
      launchTemplates: templates
        .describe({ ids: listOf<string>(input.LaunchTemplateId), names: listOf<string>(input.LaunchTemplateName) })
        .map((template) => templateShape(template, creator)),
    }),
    DescribeLaunchTemplateVersions: (input) => {
      const selectors = listOf<string>(input.LaunchTemplateVersion);
      const min = input.MinVersion === undefined ? undefined : Number(input.MinVersion);
      const max = input.MaxVersion === undefined ? undefined : Number(input.MaxVersion);
      const all = templates
        .versions(named(input), selectors)
        .filter((version) => (min === undefined || version.versionNumber >= min) && (max === undefined || version.versionNumber <= max));
      const maxResults = input.MaxResults === undefined ? MAX_VERSION_RESULTS : Number(input.MaxResults);
      const start = input.NextToken === undefined ? 0 : Number(input.NextToken);
      if (!Number.isInteger(start) || start < 0 || start > all.length)
        throw new ApiError('InvalidPaginationToken', `The pagination token '${input.NextToken}' is not valid.`);
      const defaults = new Map(templates.describe().map((template) => [template.id, template.defaultVersion]));
      const { items, NextToken } = page(all, start, maxResults);
      return { launchTemplateVersionSet: items.map((version) => versionShape(version, defaults.get(version.templateId), creator)), nextToken: NextToken };
    },
    CreateLaunchTemplateVersion: (input) => {
      const version = templates.createVersion({
        ...named(input),
        sourceVersion: input.SourceVersion === undefined ? undefined : String(input.SourceVersion),
        description: input.VersionDescription,
        data: launchTemplateData(input.LaunchTemplateData),
      });
      const template = templates.describe({ ids: [version.templateId] })[0]!;
      return { launchTemplateVersion: versionShape(version, template.defaultVersion, creator) };
    },
    ModifyLaunchTemplate: (input) => {
      const template =
        input.SetDefaultVersion === undefined ? templates.template(named(input)) : templates.setDefaultVersion(named(input), String(input.SetDefaultVersion));
      return { launchTemplate: templateShape(template, creator) };
    },
  };
}

/** LaunchTemplateData as the query protocol decodes it: ImageId matters, the rest is kept as given. */
function launchTemplateData(data: Record<string, any> | undefined): Record<string, unknown> {
  if (data === undefined) throw new ApiError('MissingParameter', 'The request must contain the parameter launchTemplateData');
  const { ImageId, InstanceType, ...rest } = data;
  return {
    ...(ImageId !== undefined ? { imageId: String(ImageId) } : {}),
    ...(InstanceType !== undefined ? { instanceType: String(InstanceType) } : {}),
    ...rest,
  };
}

function templateShape(template: LaunchTemplate, createdBy: string) {
  return {
    ...{ launchTemplateId: template.id, launchTemplateName: template.name, createTime: new Date(template.createdAt), createdBy },
    ...{ defaultVersionNumber: template.defaultVersion, latestVersionNumber: template.versions.length },
  };
}

function versionShape(version: LaunchTemplateVersion, defaultVersion: number | undefined, createdBy: string) {
  const { imageId, instanceType, ...rest } = version.data;
  return {
    ...{ launchTemplateId: version.templateId, launchTemplateName: version.templateName, versionNumber: version.versionNumber },
    ...{
      versionDescription: version.description,
      createTime: new Date(version.createdAt),
      createdBy,
      defaultVersion: version.versionNumber === defaultVersion,
    },
    launchTemplateData: { ...lowerFirst(rest), imageId, instanceType },
  };
}

/** The EC2 protocol answers members in lowerCamelCase; what the request gave in UpperCamelCase goes back so. */
function lowerFirst(data: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(data).map(([key, value]) => [`${key[0]!.toLowerCase()}${key.slice(1)}`, value]));
}

function describeInstances(ec2: LocalEc2, input: Record<string, any>) {
  const instanceIds = listOf(input.InstanceId);
  const filters = listOf<{ Name?: string; Value?: unknown }>(input.Filter).map((filter) => ({ name: filter.Name ?? '', values: listOf<string>(filter.Value) }));
  const maxResults = input.MaxResults === undefined ? undefined : Number(input.MaxResults);
  if (maxResults !== undefined) {
    if (instanceIds.length > 0) throw new ApiError('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
    if (!Number.isInteger(maxResults) || maxResults < MIN_RESULTS || maxResults > MAX_RESULTS) {
      const bound = maxResults > MAX_RESULTS ? `less than ${MAX_RESULTS}` : `greater than ${MIN_RESULTS}`;
      throw new ApiError('InvalidParameterValue', `Value ( ${input.MaxResults} ) for parameter maxResults is invalid. Expecting a value ${bound}.`);
    }
  }
  const matchers = filters.map(filterMatcher);
  requireWellFormed(instanceIds);
  const known = ec2.describe(instanceIds.length > 0 ? instanceIds : undefined);
  const missing = [...new Set(instanceIds)].filter((id) => !known.some((instance) => instance.instanceId === id));
  if (missing.length > 0) throw notFound(missing);

  // pages are cut in launch order, so a page boundary survives instances appearing or being forgotten
  const matching = known.filter((instance) => matchers.every((matches) => matches(instance))).sort(byLaunch);
  const after = input.NextToken === undefined ? undefined : readToken(String(input.NextToken));
  const start = after ? matching.filter((instance) => byLaunch(instance, after) <= 0).length : 0;
  const unpaged = maxResults === undefined && after === undefined;
  const { items, NextToken } = page(matching, start, unpaged ? matching.length : (maxResults ?? MAX_RESULTS), writeToken);
  return {
    reservationSet: items.map((instance) => ({
      reservationId: reservationId(instance.instanceId),
      ownerId: ec2.account,
      groupSet: [],
      instancesSet: [instanceShape(instance)],
    })),
    nextToken: NextToken,
  };
}

function createTags(ec2: LocalEc2, input: Record<string, any>) {
  const resources = listOf<string>(input.ResourceId);
  const tags = listOf<{ Key?: string; Value?: string }>(input.Tag);
  if (resources.length === 0) throw new ApiError('MissingParameter', 'The request must contain the parameter resourceIdSet');
  if (tags.length === 0) throw new ApiError('MissingParameter', 'The request must contain the parameter tagSet');
  for (const id of resources) {
    if (!id.startsWith('i-')) throw new ApiError('InvalidID', `The ID '${id}' is not valid`);
  }
  requireWellFormed(resources);
  const written: Record<string, string> = {};
  for (const tag of tags) {
    if (!tag.Key) throw new ApiError('InvalidParameterValue', 'Tag key must not be empty');
    if (tag.Key.toLowerCase().startsWith('aws:')) throw new ApiError('InvalidParameterValue', "Tag keys starting with 'aws:' are reserved for internal use");
    written[tag.Key] = tag.Value ?? '';
  }
  const missing = resources.filter((id) => !ec2.get(id));
  if (missing.length > 0) throw notFound(missing);
  for (const id of resources) ec2.createTags(id, written);
  return { return: true };
}

function terminateInstances(ec2: LocalEc2, input: Record<string, any>) {
  const instanceIds = [...new Set(listOf<string>(input.InstanceId))];
  if (instanceIds.length === 0) throw new ApiError('MissingParameter', 'The request must contain the parameter InstanceId');
  requireWellFormed(instanceIds);
  const before = new Map(ec2.describe(instanceIds).map((instance) => [instance.instanceId, instance.state]));
  const missing = instanceIds.filter((id) => !before.has(id));
  if (missing.length > 0) throw notFound(missing);
  for (const id of instanceIds) {
    // the shutdown is under way once terminate() returns its promise; the machine dies later
    ec2.terminate(id).catch(() => undefined);
  }
  return {
    instancesSet: instanceIds.map((id) => {
      const previous = before.get(id)!;
      const current = ec2.get(id)?.state ?? 'terminated';
      return { instanceId: id, currentState: stateShape(current), previousState: stateShape(previous) };
    }),
  };
}

function instanceShape(instance: Ec2Instance) {
  const tags = Object.entries(instance.tags).map(([key, value]) => ({ key, value }));
  return {
    instanceId: instance.instanceId,
    instanceState: stateShape(instance.state),
    // EC2 answers an empty name for an instance without an interface (pending here, terminated)
    privateDnsName: instance.privateDnsName ?? '',
    reason:
      instance.state === 'terminated' && instance.terminatedAt !== undefined
        ? `User initiated (${new Date(instance.terminatedAt)
            .toISOString()
            .replace(/\.\d{3}Z$/, ' GMT')
            .replace('T', ' ')})`
        : '',
    launchTime: new Date(instance.launchTime),
    placement: { availabilityZone: instance.availabilityZone, tenancy: 'default' },
    privateIpAddress: instance.privateIp,
    tagSet: tags.length > 0 ? tags : undefined,
    // what every sandbox instance is launched as, but for the image its launch template named
    ...{
      imageId: instance.imageId ?? SANDBOX_IMAGE_ID,
      instanceType: SANDBOX_INSTANCE_TYPE,
      dnsName: '',
      amiLaunchIndex: 0,
      architecture: 'x86_64',
      hypervisor: 'xen',
      virtualizationType: 'hvm',
    },
    ...{ rootDeviceType: 'ebs', rootDeviceName: '/dev/xvda' },
  };
}

function stateShape(state: Ec2State) {
  return { code: STATE_CODES[state], name: state };
}

/** One Filter: any of its values (with EC2's * and ? wildcards) matches any of the instance's values. */
function filterMatcher(filter: { name: string; values: string[] }): (instance: Ec2Instance) => boolean {
  if (filter.values.length > MAX_FILTER_VALUES) {
    throw new ApiError('FilterLimitExceeded', `The maximum number of filter values specified on a single call is ${MAX_FILTER_VALUES}`);
  }
  const valuesOf: Matcher | undefined = filter.name.startsWith('tag:')
    ? (instance) => (filter.name.slice(4) in instance.tags ? [instance.tags[filter.name.slice(4)]!] : [])
    : FILTERS[filter.name];
  if (!valuesOf) throw new ApiError('InvalidParameterValue', `The filter '${filter.name}' is invalid`);
  const patterns = filter.values.map(wildcard);
  return (instance) => valuesOf(instance).some((value) => patterns.some((pattern) => pattern.test(value)));
}

/** EC2 filter values: * any run, ? one character, a backslash escapes either. */
function wildcard(value: string): RegExp {
  const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const source = value.replace(/\\(.)|(\*)|(\?)|([^\\*?]+|\\$)/gs, (_, literal, star, one, plain) =>
    literal ? escaped(literal) : star ? '.*' : one ? '.' : escaped(plain),
  );
  return new RegExp(`^${source}$`, 's');
}

function requireWellFormed(instanceIds: string[]): void {
  const malformed = instanceIds.find((id) => !INSTANCE_ID.test(id));
  if (malformed !== undefined) throw new ApiError('InvalidInstanceID.Malformed', `Invalid id: "${malformed}"`);
}

function notFound(instanceIds: string[]): ApiError {
  return instanceIds.length === 1
    ? new ApiError('InvalidInstanceID.NotFound', `The instance ID '${instanceIds[0]}' does not exist`)
    : new ApiError('InvalidInstanceID.NotFound', `The instance IDs '${instanceIds.join(', ')}' do not exist`);
}

function byLaunch(a: { launchTime: number; instanceId: string }, b: { launchTime: number; instanceId: string }): number {
  return a.launchTime - b.launchTime || (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0);
}

function writeToken(last: Ec2Instance): string {
  return Buffer.from(JSON.stringify({ launchTime: last.launchTime, instanceId: last.instanceId })).toString('base64url');
}

function readToken(token: string): { launchTime: number; instanceId: string } {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof parsed?.launchTime === 'number' && typeof parsed?.instanceId === 'string') return parsed;
  } catch {
    // answered below
  }
  throw new ApiError('InvalidPaginationToken', `The pagination token '${token}' is not valid.`);
}

/** One reservation per instance (the group launches one at a time); its id derived so it stays the same. */
function reservationId(instanceId: string): string {
  return `r-${createHash('sha256').update(instanceId).digest('hex').slice(0, 17)}`;
}
