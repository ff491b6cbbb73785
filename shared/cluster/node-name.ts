import { NODE_NAME_PATTERN } from '../rabbitmq/operations';
import type { InstanceFacts } from '../ports';

/** `ip-10-0-1-5.ec2.internal` -> `rabbit@ip-10-0-1-5`; undefined when the DNS name gives no valid node name. */
export function nodeNameFromPrivateDns(privateDnsName: string | undefined): string | undefined {
  const host = privateDnsName?.trim().split('.')[0];
  if (!host) return undefined;
  const candidate = `rabbit@${host}`;
  return NODE_NAME_PATTERN.test(candidate) ? candidate : undefined;
}

/** The tag warren wrote at launch wins; the private DNS name is the fallback for untagged instances. */
export function nodeNameOf(instance: InstanceFacts): string | undefined {
  if (instance.nodeName && NODE_NAME_PATTERN.test(instance.nodeName)) return instance.nodeName;
  return nodeNameFromPrivateDns(instance.privateDnsName);
}
