import type { InstanceFacts } from '../ports';
import { NODE_NAME_PATTERN } from '../rabbitmq/operations';
import { nodeNameFromPrivateDns } from '../rabbitmq/names';

/** The tag warren wrote at launch wins; the private DNS name is the fallback for untagged instances. */
export function nodeNameOf(instance: InstanceFacts): string | undefined {
  if (instance.nodeName && NODE_NAME_PATTERN.test(instance.nodeName)) return instance.nodeName;
  if (!instance.privateDnsName) return undefined;
  try {
    return nodeNameFromPrivateDns(instance.privateDnsName);
  } catch {
    return undefined;
  }
}

/** A RabbitMQ version as the join reports it: 3.10.8, 4.0.5, 4.1.0-rc.1. */
const RABBITMQ_VERSION_PATTERN = /^\d{1,3}\.\d{1,3}(\.\d{1,3})?([-+][0-9A-Za-z.-]{1,64})?$/;

/** The version warren tagged after the instance's verified join; anything malformed counts as no tag. */
export function taggedVersionOf(instance: InstanceFacts): string | undefined {
  return instance.rabbitmqVersion && RABBITMQ_VERSION_PATTERN.test(instance.rabbitmqVersion) ? instance.rabbitmqVersion : undefined;
}
