import { seriesOf } from '../../shared/cluster/versions';
import { NodeCommandFailed } from '../../shared/errors';
import {
  majorVersion,
  type NodeOperation,
  type NodeOperationParams,
  type NodeOperationResult,
  type NodeStatus,
  type PolicyParams,
} from '../../shared/rabbitmq/operations';
import type { FakeCloud, FakeInstance } from './fake-cloud';

/**
 * What the SSM documents do on a node, over the fake cloud's single membership view. It keeps the
 * documents' own refusals (forget refuses a running node, leave refuses while critical or last).
 */
export async function runNodeOperation(cloud: FakeCloud, instance: FakeInstance, operation: NodeOperation, params: unknown): Promise<unknown> {
  const node = instance.node;
  switch (operation) {
    case 'status':
      return status(cloud, instance);
    case 'join': {
      const join = params as NodeOperationParams['join'];
      await cloud.clock.sleep(cloud.joinMs);
      // the document's version gate: refused before anything changes
      if (join.JoinableSeries && !join.JoinableSeries.split(',').includes(seriesOf(node.version) ?? '')) {
        return {
          node: node.name,
          joined: false,
          reason: 'version-incompatible',
          version: node.version,
          detail: `RabbitMQ ${node.version} cannot join this cluster`,
        };
      }
      const wasMember = node.member && node.running;
      const peers = join.Peers.split(',').filter(Boolean);
      const founding = peers.length === 1 && peers[0] === node.name;
      const running = cloud.runningMembers();
      // the document asks a peer first: Khepri without a running majority takes no member
      if (!wasMember && !founding && cloud.metadataStore === 'khepri' && running.length <= cloud.allMembers().length / 2) {
        return { node: node.name, joined: false, reason: 'majority-lost', version: node.version, detail: 'no running majority' };
      }
      if (!wasMember && !instance.joinFailsSilently) {
        if (!founding && !peers.some((peer) => running.includes(peer))) {
          throw new NodeCommandFailed(instance.id, 'join', 'Failed', `no peer of ${join.Peers} reachable`);
        }
        Object.assign(node, { member: true, running: true });
      }
      const policy = applyPolicy(cloud, instance, join, 'join');
      const result: NodeOperationResult['join'] = {
        node: node.name,
        joined: true,
        version: node.version,
        action: wasMember ? 'already-member' : 'booted-with-peers',
        members: membersSeenBy(cloud, instance),
        policy,
        quorumGrown: 0,
        streamsGrown: 0,
        replicasRecreated: 0,
      };
      return result;
    }
    case 'leave': {
      if (node.critical && cloud.clock.now() < node.critical.until) {
        return { node: node.name, left: false, reason: node.critical.reason, detail: 'queues would lose their last synchronised replica' };
      }
      if (node.running && cloud.runningMembers().filter((n) => n !== node.name).length === 0) {
        return { node: node.name, left: false, reason: 'last-running-member', detail: 'no other running member' };
      }
      const alreadyStopped = !node.running;
      node.running = false;
      return { node: node.name, left: true, drained: true, quorumShrunk: 0, alreadyStopped };
    }
    case 'forget': {
      const { NodeName } = params as NodeOperationParams['forget'];
      if (!(node.running && node.member)) throw new NodeCommandFailed(instance.id, 'forget', 'Failed', 'peer is not a running member');
      const target = [...cloud.instances.values()].find((i) => i.node.name === NodeName);
      if (target?.node.running) return { peer: node.name, node: NodeName, result: 'still-running', disconnected: false, replicasRemoved: 0 };
      // the document holds the forget on Khepri while no majority of the members runs
      if (cloud.metadataStore === 'khepri' && cloud.runningMembers().length <= cloud.allMembers().length / 2) {
        return { peer: node.name, node: NodeName, result: 'majority-lost', disconnected: false, replicasRemoved: 0 };
      }
      const wasMember = target?.node.member ?? false;
      if (target) target.node.member = false;
      return { peer: node.name, node: NodeName, result: wasMember ? 'forgotten' : 'absent', disconnected: false };
    }
    case 'applyPolicy': {
      const apply = params as NodeOperationParams['applyPolicy'];
      const policy = applyPolicy(cloud, instance, apply, 'applyPolicy');
      const admin = apply.AdminSecretId ? keepAdministrator(cloud) : ('skipped' as const);
      if (apply.EnableFeatureFlags !== 'true') return { node: node.name, policy, featureFlags: 'skipped', admin };
      const featureFlags = cloud.featureFlagsDisabled > 0 ? 'enabled' : 'unchanged';
      cloud.featureFlagsDisabled = 0;
      return { node: node.name, policy, featureFlags, admin };
    }
    case 'drain':
      node.drained = true;
      return { node: node.name, drained: true };
    case 'restart':
      return restart(cloud, instance, params as NodeOperationParams['restart']);
    case 'recover': {
      // NodeRecover's checks in its order, then force_standalone_khepri_boot: the lost members are no longer members
      const { DryRun } = params as NodeOperationParams['recover'];
      if (!node.running) return { node: node.name, recovered: false, reason: 'app-not-running', detail: 'app not running' };
      if (cloud.metadataStore !== 'khepri') return { node: node.name, recovered: false, reason: 'not-khepri', detail: 'Mnesia' };
      const members = cloud.allMembers();
      if (2 * cloud.runningMembers().length > members.length) return { node: node.name, recovered: false, reason: 'majority-present', detail: 'a majority' };
      const lost = [...cloud.instances.values()].filter((i) => i.node.member && !i.node.running);
      const drops = lost.map((i) => i.node.name).sort();
      if (DryRun === 'true') return { node: node.name, recovered: false, reason: 'dry-run', detail: 'would recover', drops, members, quorumQueues: 0 };
      for (const instance of lost) instance.node.member = false;
      return { node: node.name, recovered: true, drops, quorumQueues: 0, messages: 0 };
    }
    case 'rebalance':
      return rebalance(cloud, instance);
  }
}

/** The documents' policy step: the policy when named, the default queue type when set; 4.x refuses mirroring keys like RabbitMQ 4.0. */
function applyPolicy(cloud: FakeCloud, instance: FakeInstance, params: PolicyParams, operation: 'join' | 'applyPolicy'): 'applied' | 'unchanged' | 'skipped' {
  const mirroring = Object.keys(JSON.parse(params.PolicyDefinition) as object).filter((key) => key.startsWith('ha-'));
  if (params.PolicyName && majorVersion(instance.node.version) >= 4 && mirroring.length > 0) {
    throw new NodeCommandFailed(instance.id, operation, 'Failed', `Validation failed: ${mirroring.join(', ')} are not recognised policy settings`);
  }
  let policy: 'applied' | 'unchanged' | 'skipped' = 'skipped';
  if (params.PolicyName) {
    policy = cloud.policies.has(params.PolicyName) ? 'unchanged' : 'applied';
    cloud.policies.add(params.PolicyName);
  }
  if (params.DefaultQueueType) {
    if (cloud.defaultQueueType !== params.DefaultQueueType) policy = 'applied';
    else if (policy === 'skipped') policy = 'unchanged';
    cloud.defaultQueueType = params.DefaultQueueType;
  }
  return policy;
}

/** NodeRestart: stops only while a survivor runs (as seen from outside any partition), never starts a paused node. */
function restart(cloud: FakeCloud, instance: FakeInstance, params: NodeOperationParams['restart']): NodeOperationResult['restart'] {
  const node = instance.node;
  const step = params.Step;
  const survivors = params.Survivors.split(',');
  const survivorRuns =
    !instance.partition?.cutLasts && [...cloud.instances.values()].some((i) => survivors.includes(i.node.name) && i.node.running && i.node.member);
  if (step !== 'start' && node.running) {
    if (!survivorRuns) return { node: node.name, step, done: false, reason: 'no-survivor-running', detail: `none of ${params.Survivors} answers` };
    cloud.restartSteps.push({ instanceId: instance.id, step: 'stop' });
    node.running = false;
    // RabbitMQ forgets a partition once no node of the other side runs: the loser leaves every report
    for (const other of cloud.instances.values()) {
      if (!other.partition) continue;
      other.partition.view = other.partition.view.filter((name) => name !== node.name);
      other.partition.unreachable = other.partition.unreachable.filter((name) => name !== node.name);
      if (other.partition.unreachable.length === 0) delete other.partition;
    }
    delete instance.partition;
  }
  if (step !== 'stop' && !node.running) {
    if (instance.paused) return { node: node.name, step, done: false, reason: 'paused', detail: 'held by pause_minority' };
    cloud.restartSteps.push({ instanceId: instance.id, step: 'start' });
    node.running = true;
  }
  return { node: node.name, step, done: true, running: node.running, members: membersSeenBy(cloud, instance), partitions: partitionsOf(instance) };
}

const partitionsOf = (instance: FakeInstance): Record<string, string[]> => (instance.partition ? { [instance.node.name]: instance.partition.unreachable } : {});

function membersSeenBy(cloud: FakeCloud, instance: FakeInstance) {
  const node = instance.node;
  if (!node.running) return { all: [], running: [] };
  if (!node.member) return { all: [node.name], running: [node.name] };
  if (instance.partition) return { all: cloud.allMembers(), running: instance.partition.view };
  return { all: cloud.allMembers(), running: cloud.runningMembers() };
}

/** NodeApplyPolicy's AdminSecretId: the secret's current version becomes the cluster's administrator */
function keepAdministrator(cloud: FakeCloud): 'created' | 'updated' | 'unchanged' {
  if (!cloud.adminSecretVersion) throw new Error('GetSecretValue failed: ResourceNotFoundException');
  const before = cloud.adminApplied;
  cloud.adminApplied = cloud.adminSecretVersion;
  return before === null ? 'created' : before === cloud.adminSecretVersion ? 'unchanged' : 'updated';
}

function status(cloud: FakeCloud, instance: FakeInstance): NodeStatus {
  const node = instance.node;
  return {
    node: node.name,
    version: node.version,
    running: node.running,
    paused: !node.running && !!instance.paused,
    members: membersSeenBy(cloud, instance),
    partitions: partitionsOf(instance),
    alarms: [],
    cookieHash: 'c0ffee',
    policies: node.running ? [...cloud.policies] : [],
    defaultQueueType: node.running ? cloud.defaultQueueType : '',
    underMaintenance: node.running && node.drained,
    metadataStore: node.running ? cloud.metadataStore : '',
    featureFlagsDisabled: node.running ? cloud.featureFlagsDisabled : 0,
    metadataLeader: node.running && cloud.metadataStore === 'khepri' ? (cloud.runningMembers()[0] ?? null) : null,
    deprecatedFeaturesUsed: [],
    adminSecretVersion: node.running ? cloud.adminApplied : null,
    // judged by the first running member of the node's own view, as NodeStatus does
    replicas: node.running && membersSeenBy(cloud, instance).running[0] === node.name ? cloud.replicas : null,
  };
}

/** NodeRebalance: the app must run (else the document fails); leaders end spread as evenly as RabbitMQ's rebalance leaves them. */
function rebalance(cloud: FakeCloud, instance: FakeInstance): NodeOperationResult['rebalance'] {
  const node = instance.node;
  if (!node.running) throw new NodeCommandFailed(instance.id, 'rebalance', 'Failed', `NodeRebalance: the app does not run on ${node.name}`);
  if (cloud.rebalanceInProgress) return { node: node.name, rebalanced: false, reason: 'in-progress', detail: '{error,rebalance_in_progress}' };
  const before = { ...cloud.quorumLeaders };
  const total = Object.values(before).reduce((sum, count) => sum + count, 0);
  const running = cloud.runningMembers();
  const after: Record<string, number> = {};
  running.forEach((member, index) => {
    const share = Math.floor(total / running.length) + (index < total % running.length ? 1 : 0);
    if (share > 0) after[member] = share;
  });
  const moved = Object.entries(before).reduce((sum, [member, count]) => sum + Math.max(0, count - (after[member] ?? 0)), 0);
  cloud.quorumLeaders = after;
  return { node: node.name, rebalanced: true, moved, before, after };
}
