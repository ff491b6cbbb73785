import { NODE_NAME_PATTERN } from './operations';

/**
 * RabbitMQ node names of EC2 instances. The AMI runs RabbitMQ with short names, so the node of the
 * instance whose private DNS name is ip-10-0-1-5.ec2.internal is rabbit@ip-10-0-1-5.
 */

const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** `ip-10-0-1-5.ec2.internal` -> `rabbit@ip-10-0-1-5`; throws on anything that is not a DNS name. */
export function nodeNameFromPrivateDns(privateDnsName: string, prefix = 'rabbit'): string {
  const host = privateDnsName.trim().split('.')[0] ?? '';
  const name = `${prefix}@${host}`;
  if (!DNS_LABEL.test(host) || !NODE_NAME_PATTERN.test(name)) {
    throw new Error(`cannot derive a RabbitMQ node name from private DNS name "${privateDnsName}"`);
  }
  return name;
}

/** The host part of a node name: `rabbit@ip-10-0-1-5` -> `ip-10-0-1-5`. */
export function hostOfNodeName(nodeName: string): string {
  const at = nodeName.indexOf('@');
  if (at < 1 || !NODE_NAME_PATTERN.test(nodeName)) throw new Error(`not a RabbitMQ node name: "${nodeName}"`);
  return nodeName.slice(at + 1);
}

/** Peers parameter of NodeJoin: the names, comma-separated, without duplicates. */
export function peersParameter(nodeNames: string[]): string {
  const unique = [...new Set(nodeNames)];
  for (const name of unique) hostOfNodeName(name);
  return unique.join(',');
}
