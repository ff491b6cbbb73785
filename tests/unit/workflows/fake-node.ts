import { NodeCommandFailed } from '../../../shared/errors';
import { majorVersion, type NodeOperation, type NodeOperationParams, type NodeOperationResult, type NodeStatus, type PolicyParams } from '../../../shared/rabbitmq/operations';
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
      const wasMember = node.member && node.running;
      const peers = join.Peers.split(',').filter(Boolean);
      const founding = peers.length === 1 && peers[0] === node.name;
      const running = cloud.runningMembers();
      if (!wasMember && !instance.joinFailsSilently) {
        if (!founding && !peers.some((peer) => running.includes(peer))) {
          throw new NodeCommandFailed(instance.id, 'join', 'Failed', `no peer of ${join.Peers} reachable`);
        }
        Object.assign(node, { member: true, running: true });
      }
      const policy = applyPolicy(cloud, instance, join, 'join');
      const result: NodeOperationResult['join'] = {
        node: node.name, version: node.version, action: wasMember ? 'already-member' : 'booted-with-peers',
        members: membersSeenBy(cloud, instance), policy, quorumGrown: 0,
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
      if (target?.node.running) throw new NodeCommandFailed(instance.id, 'forget', 'Failed', `${NodeName} is running`);
      const wasMember = target?.node.member ?? false;
      if (target) target.node.member = false;
      return { peer: node.name, node: NodeName, result: wasMember ? 'forgotten' : 'absent', disconnected: false };
    }
    case 'applyPolicy':
      return { node: node.name, policy: applyPolicy(cloud, instance, params as NodeOperationParams['applyPolicy'], 'applyPolicy') };
    case 'drain':
      node.drained = true;
      return { node: node.name, drained: true };
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

function membersSeenBy(cloud: FakeCloud, instance: FakeInstance) {
  const node = instance.node;
  if (!node.running) return { all: [], running: [] };
  if (!node.member) return { all: [node.name], running: [node.name] };
  return { all: cloud.allMembers(), running: cloud.runningMembers() };
}

function status(cloud: FakeCloud, instance: FakeInstance): NodeStatus {
  const node = instance.node;
  return {
    node: node.name, version: node.version, running: node.running, members: membersSeenBy(cloud, instance),
    partitions: {}, alarms: [], cookieHash: 'c0ffee', policies: node.running ? [...cloud.policies] : [],
    defaultQueueType: node.running ? cloud.defaultQueueType : '', underMaintenance: node.running && node.drained,
  };
}
