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
