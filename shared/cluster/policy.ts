import { mirroringKeys, type Config, type PolicySettings } from '../config';
import { majorVersion, type NodeStatus, type PolicyParams } from '../rabbitmq/operations';

export interface PolicyChoice {
  params: PolicyParams;
  /** why nothing is sent, for the log; absent when a policy or a default queue type is sent */
  omitted?: string;
  /** configured HA settings this version cannot take, for a warning; absent when nothing is ignored */
  ignored?: string;
}

// An empty name applies nothing; the other values are the documents' defaults, which their patterns accept.
const NO_POLICY: PolicyParams = {
  PolicyName: '',
  PolicyPattern: '',
  PolicyDefinition: '{}',
  PolicyApplyTo: 'queues',
  PolicyPriority: '0',
  DefaultQueueType: '',
};

function policyParams(policy: PolicySettings): Omit<PolicyParams, 'DefaultQueueType'> {
  if (!policy.name) return NO_POLICY;
  return {
    PolicyName: policy.name,
    PolicyPattern: policy.pattern,
    PolicyDefinition: JSON.stringify(policy.definition),
    PolicyApplyTo: policy.applyTo,
    PolicyPriority: String(policy.priority),
  };
}

/** The params change something on the node: a policy, or the default queue type. */
export function appliesAnything(params: PolicyParams): boolean {
  return params.PolicyName !== '' || params.DefaultQueueType !== '';
}

/**
 * The policy to send with a join or apply-policy. 3.x gets the mirrored HA policy and no default
 * queue type (3.10 has none; mirroring is its HA mechanism). 4.0 removed classic mirroring and refuses
 * its keys, so 4.x and later get the quorum policy and the default queue type instead. An unknown
 * version gets nothing (reconcile adds it once a status tells the version).
 */
export function policyParamsFor(config: Config, version: string | undefined): PolicyChoice {
  const major = version === undefined ? 0 : majorVersion(version);
  if (major === 3) return { params: { ...policyParams(config.haPolicy), DefaultQueueType: '' } };
  if (major < 4) return { params: NO_POLICY, omitted: `RabbitMQ version unknown (${version || 'no status'})` };

  const params: PolicyParams = { ...policyParams(config.quorumPolicy), DefaultQueueType: config.defaultQueueType };
  const choice: PolicyChoice = { params };
  if (!appliesAnything(params)) choice.omitted = 'QUORUM_POLICY_NAME and DEFAULT_QUEUE_TYPE are empty';
  const ignoredKeys = mirroringKeys(config.haPolicy.definition);
  if (ignoredKeys.length > 0) {
    choice.ignored =
      `HA_POLICY_* mirroring keys (${ignoredKeys.join(', ')}) are ignored on RabbitMQ ${version}: classic mirroring was removed in 4.0; ` +
      'applying QUORUM_POLICY_* and DEFAULT_QUEUE_TYPE instead';
  }
  return choice;
}

/**
 * What the node reports lacks what its version should have: on 3.x the HA policy; on 4.x and later
 * the quorum policy (when configured) or the default queue type (when configured).
 */
export function policyMissing(config: Config, status: Pick<NodeStatus, 'version' | 'policies' | 'defaultQueueType'>): boolean {
  const major = majorVersion(status.version);
  if (major === 3) return !status.policies.includes(config.haPolicy.name);
  if (major < 4) return false;
  const { name } = config.quorumPolicy;
  return (name !== '' && !status.policies.includes(name)) || (config.defaultQueueType !== '' && status.defaultQueueType !== config.defaultQueueType);
}
