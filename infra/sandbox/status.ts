import { PAUSE_TAG } from '../../shared/aws/inventory';
import type { TargetState } from '../../shared/ports';
import type { Sandbox } from './sandbox';

/** `warren sandbox status --json`: a contract scripts rely on; keys are only ever added. */
export interface SandboxStatus {
  cluster: string;
  autoScalingGroupName: string;
  desiredCapacity: number;
  /** the note of the group's warren:paused tag while warren is paused (docs/deploy.md: Pause warren), else null */
  paused: string | null;
  network: 'netns' | 'loopback';
  /** the RabbitMQ package the nodes run, e.g. 4.0.5-6+deb13u2 */
  rabbitmq: string;
  instances: Array<{
    id: string;
    privateIp: string | null;
    hostname: string | null;
    availabilityZone: string;
    lifecycleState: string;
    ec2State: string;
    node: string | null;
    namespace: string | null;
    targets: { amqp: TargetState; management: TargetState };
  }>;
  members: { all: string[]; running: string[]; partitions: Record<string, string[]> };
  policies: string[];
  /** every quorum queue and stream of every vhost, as the node that reported the members lists it; null when it could not list them */
  replicatedQueues: ReplicatedQueueView[] | null;
  loadBalancer: {
    amqp: string;
    management: string;
    amqpUrl: string;
    managementUrl: string;
    /** the TLS listeners of `up --tls` (docs/tls.md) and the CA file that verifies them; null without --tls */
    tls: { amqps: string; https: string; amqpsUrl: string; httpsUrl: string; caFile: string } | null;
  };
  /** the target groups' ARNs, as the local AWS endpoint knows them */
  targetGroups: { amqp: string; management: string };
  /** events waiting in the heal and triage queues, and dead letters of the heal queue */
  queue: { depth: number; deadLetters: number; url: string; deadLetterUrl: string };
  /** the local AWS endpoint: what the AWS CLI or an SDK needs to drive the sandbox as an account; the administrator credential's secret */
  aws: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string; adminSecretArn: string };
}

export interface ReplicatedQueueView {
  type: 'quorum' | 'stream';
  vhost: string;
  name: string;
  /** the nodes that hold a replica */
  members: string[];
  /** the members whose replica runs */
  online: string[];
  /** empty when the queue has no leader */
  leader: string;
}

const ASK_TIMEOUT_MS = 8_000;

interface ClusterView {
  all: string[];
  running: string[];
  partitions: Record<string, string[]>;
  policies: string[];
  replicatedQueues: ReplicatedQueueView[] | null;
}

/** The cluster as one running member sees it (rabbitmqctl on the node, as an operator would look). */
async function clusterView(sandbox: Sandbox, instanceIds: string[]): Promise<ClusterView> {
  // a booting or dead instance has no node to ask, and one whose peer just vanished can hang for a
  // minute: after a few seconds, try the next
  const ask = async (id: string, args: string[]) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const bound = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ASK_TIMEOUT_MS)));
      return await Promise.race([sandbox.host.rabbitmqctl(id, ['--formatter', 'json', ...args]), bound]);
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };
  for (const id of instanceIds) {
    const status = await ask(id, ['cluster_status']);
    if (status?.exitCode !== 0) continue;
    const parsed = JSON.parse(status.stdout) as {
      disk_nodes?: string[];
      ram_nodes?: string[];
      running_nodes?: string[];
      partitions?: Record<string, string[]>;
    };
    const policies = await ask(id, ['list_policies', '-p', '/']);
    return {
      all: [...(parsed.disk_nodes ?? []), ...(parsed.ram_nodes ?? [])].sort(),
      running: (parsed.running_nodes ?? []).slice().sort(),
      partitions: parsed.partitions ?? {},
      policies: policies?.exitCode === 0 ? (JSON.parse(policies.stdout) as Array<{ name: string }>).map((p) => p.name).sort() : [],
      replicatedQueues: await replicatedQueues(ask, id),
    };
  }
  return { all: [], running: [], partitions: {}, policies: [], replicatedQueues: [] };
}

type Ask = (id: string, args: string[]) => Promise<{ exitCode: number; stdout: string } | undefined>;

/** The quorum queues and streams of every vhost, read with rabbitmqctl (not with warren's NodeStatus, which they check). */
async function replicatedQueues(ask: Ask, id: string): Promise<ReplicatedQueueView[] | null> {
  const vhosts = await ask(id, ['list_vhosts', 'name']);
  if (vhosts?.exitCode !== 0) return null;
  const views: ReplicatedQueueView[] = [];
  for (const { name: vhost } of JSON.parse(vhosts.stdout) as Array<{ name: string }>) {
    const listed = await ask(id, ['list_queues', '-p', vhost, 'name', 'type', 'members', 'online', 'leader']);
    if (listed?.exitCode !== 0) return null;
    for (const queue of JSON.parse(listed.stdout) as Array<{ name: string; type: string; members: string[]; online: string[]; leader?: string }>) {
      if (queue.type !== 'quorum' && queue.type !== 'stream') continue;
      views.push({
        type: queue.type,
        vhost,
        name: queue.name,
        members: [...queue.members].sort(),
        online: [...queue.online].sort(),
        leader: queue.leader ?? '',
      });
    }
  }
  return views.sort((a, b) => `${a.vhost}/${a.name}`.localeCompare(`${b.vhost}/${b.name}`));
}

export async function sandboxStatus(sandbox: Sandbox): Promise<SandboxStatus> {
  const group = sandbox.group.describe();
  const members = group.instances;
  const ids = new Set(members.map((m) => m.instanceId));
  // instances that left the group stay visible while EC2 still describes them
  const ec2 = sandbox.ec2.describe().filter((i) => ids.has(i.instanceId) || i.state !== 'terminated');
  const live = members.filter((m) => m.lifecycleState === 'InService').map((m) => m.instanceId);
  const view = await clusterView(sandbox, live.length > 0 ? live : members.map((m) => m.instanceId));
  const endpoints = sandbox.nlb.endpoints();
  const secure = sandbox.nlb.tlsEndpoints();
  const { user, password } = sandbox.credentials;
  return {
    cluster: sandbox.config.clusterName,
    autoScalingGroupName: group.name,
    desiredCapacity: group.desiredCapacity,
    paused: sandbox.group.tags.get(PAUSE_TAG)?.value ?? null,
    network: sandbox.mode === 'namespaces' ? 'netns' : 'loopback',
    rabbitmq: sandbox.rabbitmq.version,
    instances: ec2.map((instance) => {
      const member = members.find((m) => m.instanceId === instance.instanceId);
      const node = sandbox.host.nodeOf(instance.instanceId);
      return {
        id: instance.instanceId,
        privateIp: instance.privateIp ?? null,
        hostname: instance.hostname ?? null,
        availabilityZone: instance.availabilityZone,
        lifecycleState: member?.lifecycleState ?? 'Terminated',
        ec2State: instance.state,
        node: node?.name ?? null,
        namespace: node?.namespace ?? null,
        targets: { amqp: sandbox.nlb.groups.amqp.stateOf(instance.instanceId), management: sandbox.nlb.groups.management.stateOf(instance.instanceId) },
      };
    }),
    members: { all: view.all, running: view.running, partitions: view.partitions },
    policies: view.policies,
    replicatedQueues: view.replicatedQueues,
    loadBalancer: {
      amqp: `${endpoints.amqp.host}:${endpoints.amqp.port}`,
      management: `${endpoints.management.host}:${endpoints.management.port}`,
      amqpUrl: `amqp://${user}:${password}@${endpoints.amqp.host}:${endpoints.amqp.port}`,
      managementUrl: `http://${user}:${password}@${endpoints.management.host}:${endpoints.management.port}`,
      tls: secure
        ? {
            amqps: `${secure.amqp.host}:${secure.amqp.port}`,
            https: `${secure.management.host}:${secure.management.port}`,
            amqpsUrl: `amqps://${user}:${password}@${secure.amqp.host}:${secure.amqp.port}`,
            httpsUrl: `https://${user}:${password}@${secure.management.host}:${secure.management.port}`,
            caFile: secure.caFile,
          }
        : null,
    },
    targetGroups: { ...sandbox.config.targetGroups },
    queue: {
      depth: sandbox.queued(),
      deadLetters: sandbox.queue.deadLetters.length,
      url: sandbox.config.healQueueUrl!,
      deadLetterUrl: sandbox.config.healDeadLetterQueueUrl!,
    },
    aws: { endpoint: sandbox.aws.url, region: sandbox.aws.region, ...sandbox.aws.clientOptions().credentials, adminSecretArn: sandbox.adminSecretArn },
  };
}

/**
 * Converged: as many InService instances as desired, their nodes exactly the running members, every
 * InService target healthy in both groups, the policy warren applies to this version present (none
 * expected when empty), every quorum queue and stream with a running leader and a running replica on
 * exactly the InService nodes, nothing left in the queue. Returns the reasons it is not, empty when it is.
 */
export function divergence(status: SandboxStatus, policyName: string): string[] {
  const reasons: string[] = [];
  const inService = status.instances.filter((i) => i.lifecycleState === 'InService');
  if (inService.length !== status.desiredCapacity) reasons.push(`${inService.length} InService instances, desired ${status.desiredCapacity}`);
  const expected = inService
    .map((i) => i.node)
    .filter((n): n is string => n !== null)
    .sort();
  if (JSON.stringify(expected) !== JSON.stringify(status.members.running)) {
    reasons.push(`running members ${JSON.stringify(status.members.running)} are not the InService nodes ${JSON.stringify(expected)}`);
  }
  if (JSON.stringify(status.members.all) !== JSON.stringify(status.members.running)) {
    reasons.push(`members not running: ${status.members.all.filter((m) => !status.members.running.includes(m)).join(', ')}`);
  }
  for (const instance of inService) {
    if (instance.targets.amqp !== 'healthy' || instance.targets.management !== 'healthy') {
      reasons.push(`${instance.id} targets amqp=${instance.targets.amqp} management=${instance.targets.management}`);
    }
  }
  for (const instance of status.instances.filter((i) => i.lifecycleState !== 'InService')) {
    if (instance.targets.amqp !== 'unused' || instance.targets.management !== 'unused')
      reasons.push(`${instance.id} (${instance.lifecycleState}) still registered`);
  }
  if (Object.keys(status.members.partitions).length > 0) reasons.push(`partitions: ${JSON.stringify(status.members.partitions)}`);
  if (policyName !== '' && !status.policies.includes(policyName)) reasons.push(`policy ${policyName} missing`);
  // warren's target: a running replica of every quorum queue and stream on every member, and a leader among them
  if (status.replicatedQueues === null) reasons.push('quorum queues and streams could not be listed');
  for (const queue of status.replicatedQueues ?? []) {
    const where = `${queue.type === 'stream' ? 'stream' : 'quorum queue'} ${queue.vhost === '/' ? '' : `${queue.vhost}/`}${queue.name}`;
    if (!queue.leader || !queue.online.includes(queue.leader)) reasons.push(`${where} has no running leader`);
    if (JSON.stringify(queue.members) !== JSON.stringify(expected))
      reasons.push(`${where} has replicas on ${JSON.stringify(queue.members)}, not on the InService nodes`);
    const notRunning = queue.members.filter((m) => !queue.online.includes(m));
    if (notRunning.length > 0) reasons.push(`${where} replicas not running: ${notRunning.join(', ')}`);
  }
  if (status.queue.depth > 0) reasons.push(`${status.queue.depth} events still queued`);
  return reasons;
}
