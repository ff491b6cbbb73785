import { loadFixture } from './load';

export type InstanceEventKind = 'shutting-down' | 'terminated' | 'spot-interruption' | 'rebalance-recommendation';

const FIXTURE = {
  'shutting-down': 'ec2-instance-state-change-terminated',
  terminated: 'ec2-instance-state-change-terminated',
  'spot-interruption': 'ec2-spot-instance-interruption-warning',
  'rebalance-recommendation': 'ec2-instance-rebalance-recommendation',
} as const;

const read = new Map<string, Record<string, any>>();

/** An EC2 event as EventBridge delivers it (the documented fixture), about another instance, with its own id and time. */
export function instanceEvent(kind: InstanceEventKind, instanceId: string, id: string, at = Date.UTC(2024, 0, 1)): Record<string, any> {
  // read once: the benchmark builds a hundred thousand of them
  if (!read.has(kind)) read.set(kind, loadFixture(FIXTURE[kind]));
  const event = structuredClone(read.get(kind)!);
  event.id = id;
  event.time = new Date(at).toISOString();
  event.resources = [`arn:aws:ec2:${event.region}:${event.account}:instance/${instanceId}`];
  event.detail['instance-id'] = instanceId;
  if (kind === 'shutting-down' || kind === 'terminated') event.detail.state = kind;
  return event;
}

/** The SQS event Lambda hands a function for these bodies (standard queue). */
export function sqsBatch(...bodies: string[]) {
  return { Records: bodies.map((body, n) => ({ messageId: `m-${n}`, receiptHandle: `r-${n}`, eventSource: 'aws:sqs', body })) };
}
