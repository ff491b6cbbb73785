import { createHash } from 'node:crypto';
import { DescribeAutoScalingGroupsCommand, type AutoScalingGroup } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, type DescribeInstancesCommandInput, type Reservation } from '@aws-sdk/client-ec2';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  type CommandInvocation,
  type DescribeInstanceInformationCommandInput,
  type SendCommandCommandInput,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { CLUSTER_TAG, GROUP_NAME_TAG, NODE_NAME_TAG } from '../../shared/aws/inventory';
import { createAwsClients } from '../../shared/aws/clients';
import { createAwsPorts } from '../../shared/aws/index';
import { loadConfig } from '../../shared/config';
import { membersDigest } from '../../shared/rabbitmq/operations';
import { toScheduledReconcile } from '../../shared/events/reconcile';
import type { Log, Metrics } from '../../shared/ports';
import { invocationDeps } from '../../shared/workflows/deps';
import { systemClock } from '../../shared/workflows/invocation';
import { reconcile } from '../../shared/workflows/reconcile';
import scheduledEvent from '../events/scheduled-event.json';
import { figure, goal, type Figure, type Goal, type Section } from './figures';

/**
 * AWS API calls of one reconcile, by operation, as the cluster grows: the real workflow and the
 * real adapters on real SDK v3 clients, answered by aws-sdk-client-mock from a simulated inventory
 * of N healthy InService instances (every member running, registered and healthy, so reconcile has
 * nothing to repair and every call counted is observation). Each simulated API pages and refuses
 * like the documented one. Commands complete at once, so waiters and polls count their minimum.
 */

const SECTION = 'api-calls';
const SIZES = [3, 9, 30, 300];
const QUICK_SIZES = [3, 30];

/** Documented page sizes and limits of the APIs reconcile reads through. */
const LIMITS = {
  describeInstancesPage: { min: 5, max: 1000 },
  describeInstancesFilterValues: 200,
  sendCommandInstanceIds: 50,
  listCommandInvocationsPage: 50,
  describeInstanceInformationPage: { min: 5, max: 50 },
  /** ListCommandInvocations (Details=true) returns at most this much of each plugin's output */
  listOutputChars: 2500,
  /** GetCommandInvocation returns the first 24,000 characters of stdout */
  getOutputChars: 24_000,
};

/**
 * Pages a page-based reconcile reads beyond the first of each API at N instances: DescribeInstances
 * at the adapter's 1000 a page, and N outputs through ListCommandInvocations at 50 a page. The
 * growth goal allows these and nothing per instance (the one full output per membership view is
 * already in the count at the smallest size: every simulated member sees the same view).
 */
function extraPages(size: number): number {
  return Math.ceil(size / LIMITS.describeInstancesPage.max) - 1 + (Math.ceil(size / LIMITS.listCommandInvocationsPage) - 1);
}

const ENV = {
  CLUSTER_NAME: 'orders',
  ASG_NAME: 'orders-rabbitmq',
  AMQP_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-amqp/0123456789abcdef',
  MANAGEMENT_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-mgmt/fedcba9876543210',
  SSM_DOCUMENT_PREFIX: 'warren-',
};

interface SimulatedInstance {
  instanceId: string;
  ip: string;
  node: string;
}

function awsError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 } });
}

/** N instances of one cluster, 10.213.0.10 onwards, named like EC2 and RabbitMQ name them. */
function inventory(size: number): SimulatedInstance[] {
  return Array.from({ length: size }, (_, n) => {
    const ip = `10.213.${Math.floor(n / 200)}.${(n % 200) + 10}`;
    return { instanceId: `i-0${(0xa000 + n).toString(16).padStart(16, '0')}`, ip, node: `rabbit@ip-${ip.replace(/\./g, '-')}` };
  });
}

/** What NodeStatus prints on a running 4.x member that sees every other member running (infra/ssm/NodeStatus.yml): two lines. */
function nodeStatusStdout(self: SimulatedInstance, all: SimulatedInstance[]): string {
  const names = all.map((instance) => instance.node).sort();
  const members = { all: names, running: names };
  const summary = {
    node: self.node,
    version: '4.0.5',
    running: true,
    partitions: {},
    alarms: [],
    cookieHash: createHash('sha256').update('bench-cookie').digest('hex'),
    policies: ['warren-quorum'],
    defaultQueueType: 'quorum',
    underMaintenance: false,
    membersDigest: membersDigest(members),
    memberCounts: { all: names.length, running: names.length },
  };
  return `${JSON.stringify(summary)}\n${JSON.stringify({ members })}\n`;
}

/** Pages of `items` as EC2 and SSM cut them: NextToken is the offset of the next page. */
function page<T>(items: T[], maxResults: number | undefined, nextToken: string | undefined): { items: T[]; NextToken?: string } {
  const start = nextToken ? Number(nextToken) : 0;
  if (!Number.isInteger(start) || start < 0 || start > items.length) throw awsError('InvalidNextToken', `bad NextToken ${nextToken}`);
  const end = maxResults === undefined ? items.length : Math.min(items.length, start + maxResults);
  return { items: items.slice(start, end), ...(end < items.length ? { NextToken: String(end) } : {}) };
}

interface Counted {
  outcome: string;
  calls: Map<string, number>;
  /** NodeStatus stdout of one node: line 1 (what a listing must carry whole) and both lines */
  line1Chars: number;
  stdoutChars: number;
}

/** One reconcile against a simulated cluster of `size` instances; its AWS calls by operation. */
async function countReconcile(size: number): Promise<Counted> {
  const config = loadConfig(ENV);
  const instances = inventory(size);
  const byId = new Map(instances.map((instance) => [instance.instanceId, instance]));
  const tags = (instance: SimulatedInstance): Record<string, string> => ({
    [GROUP_NAME_TAG]: config.autoScalingGroupName,
    [CLUSTER_TAG]: config.clusterName,
    [NODE_NAME_TAG]: instance.node,
  });
  const stdout = new Map(instances.map((instance) => [instance.instanceId, nodeStatusStdout(instance, instances)]));

  const clients = createAwsClients({ region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const stubs = {
    autoscaling: mockClient(clients.autoScaling),
    ec2: mockClient(clients.ec2),
    elasticloadbalancing: mockClient(clients.elbv2),
    ssm: mockClient(clients.ssm),
    sqs: mockClient(clients.sqs),
  };

  stubs.autoscaling.on(DescribeAutoScalingGroupsCommand).callsFake((input) => {
    const group: AutoScalingGroup = {
      AutoScalingGroupName: config.autoScalingGroupName,
      MinSize: size,
      MaxSize: size,
      DesiredCapacity: size,
      DefaultCooldown: 300,
      AvailabilityZones: ['us-east-1a'],
      HealthCheckType: 'EC2',
      CreatedTime: new Date(0),
      Instances: instances.map((instance) => ({
        InstanceId: instance.instanceId,
        AvailabilityZone: 'us-east-1a',
        LifecycleState: 'InService',
        HealthStatus: 'Healthy',
        ProtectedFromScaleIn: false,
      })),
    };
    return { AutoScalingGroups: input.AutoScalingGroupNames?.includes(group.AutoScalingGroupName!) ? [group] : [] };
  });

  stubs.ec2.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => {
    const { min, max } = LIMITS.describeInstancesPage;
    if (input.MaxResults !== undefined && (input.MaxResults < min || input.MaxResults > max)) {
      throw awsError('InvalidParameterValue', `MaxResults must be from ${min} to ${max}`);
    }
    if (input.MaxResults !== undefined && input.InstanceIds?.length) {
      throw awsError('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
    }
    let matching = instances.filter((instance) => !input.InstanceIds?.length || input.InstanceIds.includes(instance.instanceId));
    for (const filter of input.Filters ?? []) {
      if ((filter.Values?.length ?? 0) > LIMITS.describeInstancesFilterValues) throw awsError('FilterLimitExceeded', 'too many filter values');
      const values = new Set(filter.Values ?? []);
      if (filter.Name === 'instance-id') matching = matching.filter((instance) => values.has(instance.instanceId));
      else if (filter.Name?.startsWith('tag:')) matching = matching.filter((instance) => values.has(tags(instance)[filter.Name!.slice(4)] ?? ''));
      else throw awsError('InvalidParameterValue', `filter ${filter.Name} is not simulated`);
    }
    const { items, NextToken } = page(matching, input.MaxResults, input.NextToken);
    const Reservations: Reservation[] = items.map((instance) => ({
      ReservationId: `r-${instance.instanceId.slice(2)}`,
      Instances: [
        {
          InstanceId: instance.instanceId,
          State: { Code: 16, Name: 'running' },
          PrivateIpAddress: instance.ip,
          PrivateDnsName: `ip-${instance.ip.replace(/\./g, '-')}.ec2.internal`,
          Tags: Object.entries(tags(instance)).map(([Key, Value]) => ({ Key, Value })),
        },
      ],
    }));
    return { Reservations, NextToken };
  });

  // DescribeTargetHealth has no paging: one answer holds every target of the group
  stubs.elasticloadbalancing.on(DescribeTargetHealthCommand).callsFake((input) => {
    if (![config.targetGroups.amqp, config.targetGroups.management].includes(input.TargetGroupArn!))
      throw awsError('TargetGroupNotFound', 'unknown target group');
    return {
      TargetHealthDescriptions: instances.map((instance) => ({ Target: { Id: instance.instanceId, Port: 5672 }, TargetHealth: { State: 'healthy' } })),
    };
  });

  const commands = new Map<string, string[]>();
  stubs.ssm.on(SendCommandCommand).callsFake((input: SendCommandCommandInput) => {
    let targeted: string[];
    if (input.InstanceIds?.length) {
      if (input.InstanceIds.length > LIMITS.sendCommandInstanceIds) {
        throw awsError('ValidationException', `instanceIds: Member must have length less than or equal to ${LIMITS.sendCommandInstanceIds}`);
      }
      const unknown = input.InstanceIds.filter((id) => !byId.has(id));
      if (unknown.length > 0) throw awsError('InvalidInstanceId', `not a managed instance: ${unknown.join(', ')}`);
      targeted = input.InstanceIds;
    } else {
      const target = input.Targets?.[0];
      if (input.Targets?.length !== 1 || !target?.Key?.startsWith('tag:')) throw awsError('ValidationException', 'only one tag target is simulated');
      const values = new Set(target.Values ?? []);
      targeted = instances.filter((instance) => values.has(tags(instance)[target.Key!.slice(4)] ?? '')).map((instance) => instance.instanceId);
    }
    const commandId = `00000000-0000-4000-8000-${String(commands.size + 1).padStart(12, '0')}`;
    commands.set(commandId, targeted);
    return { Command: { CommandId: commandId, DocumentName: input.DocumentName, TargetCount: targeted.length, Status: 'Success' } };
  });
  stubs.ssm.on(GetCommandInvocationCommand).callsFake((input) => {
    if (!commands.get(input.CommandId!)?.includes(input.InstanceId!)) {
      throw new InvocationDoesNotExist({ $metadata: { httpStatusCode: 400 }, message: 'InvocationDoesNotExist' });
    }
    return {
      CommandId: input.CommandId,
      InstanceId: input.InstanceId,
      Status: 'Success',
      StatusDetails: 'Success',
      ResponseCode: 0,
      StandardOutputContent: stdout.get(input.InstanceId!)!.slice(0, LIMITS.getOutputChars),
      StandardErrorContent: '',
    };
  });
  stubs.ssm.on(ListCommandInvocationsCommand).callsFake((input) => {
    const max = input.MaxResults ?? LIMITS.listCommandInvocationsPage;
    if (max < 1 || max > LIMITS.listCommandInvocationsPage)
      throw awsError('ValidationException', `maxResults must be from 1 to ${LIMITS.listCommandInvocationsPage}`);
    const { items, NextToken } = page(commands.get(input.CommandId!) ?? [], max, input.NextToken);
    const CommandInvocations: CommandInvocation[] = items.map((instanceId) => ({
      CommandId: input.CommandId,
      InstanceId: instanceId,
      Status: 'Success',
      StatusDetails: 'Success',
      // the plugin Output is stdout (then stderr after the separator; NodeStatus writes none), cut like SSM cuts it
      ...(input.Details
        ? { CommandPlugins: [{ Name: 'nodeStatus', Status: 'Success', ResponseCode: 0, Output: stdout.get(instanceId)!.slice(0, LIMITS.listOutputChars) }] }
        : {}),
    }));
    return { CommandInvocations, NextToken };
  });
  stubs.ssm.on(DescribeInstanceInformationCommand).callsFake((input: DescribeInstanceInformationCommandInput) => {
    const { min, max } = LIMITS.describeInstanceInformationPage;
    if (input.MaxResults !== undefined && (input.MaxResults < min || input.MaxResults > max))
      throw awsError('ValidationException', `MaxResults must be from ${min} to ${max}`);
    const asked = new Set(input.Filters?.find((filter) => filter.Key === 'InstanceIds')?.Values ?? instances.map((instance) => instance.instanceId));
    const { items, NextToken } = page(
      instances.filter((instance) => asked.has(instance.instanceId)),
      input.MaxResults ?? max,
      input.NextToken,
    );
    return { InstanceInformationList: items.map((instance) => ({ InstanceId: instance.instanceId, PingStatus: 'Online' })), NextToken };
  });

  const silent: Log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  const metrics: Metrics = { count: () => {}, gauge: () => {}, durationMs: () => {} };
  const ports = createAwsPorts(config, clients);
  try {
    const outcome = await reconcile(
      toScheduledReconcile(scheduledEvent),
      invocationDeps(
        {
          config,
          inventory: ports.inventory,
          lifecycle: ports.lifecycle,
          nodes: ports.nodeShell,
          targets: ports.targetGroups,
          queue: ports.healQueue,
          metrics,
          clock: systemClock,
        },
        silent,
        Date.now() + 15 * 60_000,
      ),
    );
    if (outcome.result !== 'done') {
      throw new Error(`reconcile of a healthy simulated cluster of ${size} should repair nothing, it answered ${JSON.stringify(outcome)}`);
    }
    const calls = new Map<string, number>();
    for (const [service, stub] of Object.entries(stubs)) {
      for (const call of stub.calls()) {
        const operation = `${service}:${(call.args[0] as object).constructor.name.replace(/Command$/, '')}`;
        calls.set(operation, (calls.get(operation) ?? 0) + 1);
      }
    }
    const first = stdout.get(instances[0]!.instanceId)!;
    return { outcome: outcome.reason ?? outcome.result, calls, line1Chars: first.indexOf('\n'), stdoutChars: first.length };
  } finally {
    for (const stub of Object.values(stubs)) stub.restore();
  }
}

const total = (counted: Counted) => [...counted.calls.values()].reduce((sum, n) => sum + n, 0);
const sendCommands = (counted: Counted) => counted.calls.get('ssm:SendCommand') ?? 0;

export const apiCalls: Section = async ({ quick, log }) => {
  const sizes = quick ? QUICK_SIZES : SIZES;
  const counted = new Map<number, Counted>();
  for (const size of sizes) {
    const result = await countReconcile(size);
    counted.set(size, result);
    log(
      `N=${size}: ${total(result)} calls (${[...result.calls].map(([op, n]) => `${op} ${n}`).join(', ')}); reconcile: ${result.outcome}; NodeStatus stdout ${result.stdoutChars} characters, line 1 ${result.line1Chars}`,
    );
  }

  const note = 'one reconcile, counted once per size (deterministic: commands complete at once, so waiters and listings poll their minimum)';
  const figures: Figure[] = [];
  const operations = [...new Set([...counted.values()].flatMap((result) => [...result.calls.keys()]))].sort();
  for (const size of sizes) {
    const result = counted.get(size)!;
    for (const operation of operations) {
      const unit = operation === 'ssm:SendCommand' ? 'commands' : 'calls';
      figures.push(figure(SECTION, `N=${size} ${operation}`, unit, [result.calls.get(operation) ?? 0], note));
    }
    figures.push(figure(SECTION, `N=${size} total`, 'calls', [total(result)], note));
  }
  const largest = sizes[sizes.length - 1]!;
  const smallest = sizes[0]!;
  figures.push(
    figure(
      SECTION,
      `N=${largest} NodeStatus stdout per node`,
      'bytes',
      [counted.get(largest)!.stdoutChars],
      `GetCommandInvocation returns at most ${LIMITS.getOutputChars} characters of it; its line 1 is in the goals below`,
    ),
  );

  const goals: Goal[] = [];
  const mostCommands = Math.max(...sizes.map((size) => sendCommands(counted.get(size)!)));
  const worst = sizes.find((size) => sendCommands(counted.get(size)!) === mostCommands)!;
  goals.push(goal(SECTION, 'reconcile SendCommand = 1 at every size', 1, [mostCommands], `${mostCommands} SendCommands at N=${worst}`));

  const longestLine1 = Math.max(...sizes.map((size) => counted.get(size)!.line1Chars));
  goals.push(
    goal(
      SECTION,
      `NodeStatus line 1 <= ${LIMITS.listOutputChars} characters at every size`,
      LIMITS.listOutputChars,
      [longestLine1],
      `line 1 is ${longestLine1} characters: listings would cut it`,
    ),
  );

  const base = counted.get(smallest)!;
  const top = counted.get(largest)!;
  const allowed = total(base) + extraPages(largest);
  // what grew by more than its pages: the per-instance part of the count
  const grown = operations
    .map((operation) => ({ operation, from: base.calls.get(operation) ?? 0, to: top.calls.get(operation) ?? 0 }))
    .filter(({ from, to }) => to - from > extraPages(largest))
    .map(({ operation, from, to }) => `${operation} ${from} -> ${to}`);
  goals.push(
    goal(
      SECTION,
      `reconcile calls at N=${largest} <= calls at N=${smallest} + ${extraPages(largest)} pages`,
      allowed,
      [total(top)],
      `grows with instances: ${grown.join(', ') || 'no single operation'}; NodeStatus line 1 is ${top.line1Chars} characters per node at N=${largest}, ` +
        (top.line1Chars > LIMITS.listOutputChars
          ? `over the ${LIMITS.listOutputChars} ListCommandInvocations returns: every node's full output is fetched`
          : `within the ${LIMITS.listOutputChars} ListCommandInvocations returns`),
    ),
  );
  return { figures, goals };
};
