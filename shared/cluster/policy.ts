import type { Config } from '../config';
import { majorVersion, type PolicyParams } from '../rabbitmq/operations';

export interface PolicyChoice {
  params: PolicyParams;
  /** why no policy is sent, for the log; absent when the configured policy is sent */
  omitted?: string;
}

// An empty name applies nothing; the other values are the documents' defaults, which their patterns accept.
const NO_POLICY: PolicyParams = { PolicyName: '', PolicyPattern: '', PolicyDefinition: '{}', PolicyApplyTo: 'queues', PolicyPriority: '0' };

/**
 * The policy to send with a join or apply-policy. Classic mirroring exists only on 3.x, so 4.x and
 * later never receive mirroring keys; an unknown version gets none either (reconcile adds it later).
 */
export function policyParamsFor(config: Config, version: string | undefined): PolicyChoice {
  const major = version === undefined ? 0 : majorVersion(version);
  if (major === 3) {
    const policy = config.haPolicy;
    return {
      params: {
        PolicyName: policy.name,
        PolicyPattern: policy.pattern,
        PolicyDefinition: JSON.stringify(policy.definition),
        PolicyApplyTo: policy.applyTo,
        PolicyPriority: String(policy.priority),
      },
    };
  }
  if (major >= 4) return { params: NO_POLICY, omitted: `RabbitMQ ${version} has no classic mirroring` };
  return { params: NO_POLICY, omitted: `RabbitMQ version unknown (${version ?? 'no status'})` };
}

/** The configured HA policy is missing on a 3.x cluster. */
export function policyMissing(config: Config, version: string, policies: string[]): boolean {
  return majorVersion(version) === 3 && !policies.includes(config.haPolicy.name);
}
