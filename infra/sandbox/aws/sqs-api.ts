import { createHash } from 'node:crypto';
import type { LocalQueue } from '../queue';
import { ApiError, type ServiceApi } from './protocol';
import { messageMoveTasks } from './sqs-move-tasks';

/**
 * SQS over the sandbox's queues as the awsJson1_0 API the SDK's SQSClient and `aws sqs` speak:
 * SendMessage, SendMessageBatch, ChangeMessageVisibility, GetQueueUrl, GetQueueAttributes, ListQueues,
 * ReceiveMessage / DeleteMessage on a queue no Lambda event source consumes (a dead-letter queue an
 * operator reads; infra/sandbox/queue.ts), and the dead-letter redrive's message move tasks (sqs-move-tasks.ts). The API checks what SQS checks before a queue sees a message
 * (attributes, sizes, FIFO's MessageGroupId and MessageDeduplicationId or content-based deduplication)
 * and answers the MD5 digests the SDK verifies (MD5OfMessageBody) and those AWS documents for attributes.
 */

export interface MessageAttribute {
  DataType: string;
  StringValue?: string;
}

export interface ReceivedMessage {
  MessageId: string;
  ReceiptHandle: string;
  Body: string;
  MessageAttributes?: Record<string, MessageAttribute>;
  /** system attributes: ApproximateReceiveCount, SentTimestamp, MessageGroupId, SequenceNumber ... */
  Attributes?: Record<string, string>;
}

/** SQS's limits (Amazon SQS quotas; API reference). */
const MAX_MESSAGE_BYTES = 262_144;
const MAX_ATTRIBUTES = 10;
const ENTRIES_PER_BATCH = 10;
const MAX_VISIBILITY_SECONDS = 43_200;
const MAX_WAIT_SECONDS = 20;
const LONG_POLL_INTERVAL_MS = 50;
const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;
/** MessageGroupId and MessageDeduplicationId: 1 to 128 alphanumeric or punctuation characters */
const FIFO_ID = /^[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]{1,128}$/;
const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]{1,256}$/;
const DATA_TYPE = /^(String|Number|Binary)(\..+)?$/;
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
/** what a message body may hold: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF */
// biome-ignore lint/suspicious/noControlCharactersInRegex: SQS's own allowed characters, which name tab, newline and carriage return
const INVALID_CHARACTER = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const QUEUE_ATTRIBUTE_NAMES = new Set([
  'Policy',
  'VisibilityTimeout',
  'MaximumMessageSize',
  'MessageRetentionPeriod',
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
  'QueueArn',
  'ApproximateNumberOfMessagesDelayed',
  'DelaySeconds',
  'ReceiveMessageWaitTimeSeconds',
  'RedrivePolicy',
  'FifoQueue',
  'ContentBasedDeduplication',
  'KmsMasterKeyId',
  'KmsDataKeyReusePeriodSeconds',
  'DeduplicationScope',
  'FifoThroughputLimit',
  'RedriveAllowPolicy',
  'SqsManagedSseEnabled',
]);

export function sqsApi(queues: LocalQueue[]): ServiceApi {
  const queueAt = (url: unknown): LocalQueue => {
    if (typeof url !== 'string' || url === '') throw missing('QueueUrl');
    // by its URL, or by its path (/<account>/<name>) for a client that addresses the endpoint itself
    const queue = queues.find((candidate) => candidate.url === url) ?? queues.find((candidate) => pathOf(candidate.url) === pathOf(url));
    if (!queue) throw new ApiError('QueueDoesNotExist', 'The specified queue does not exist.');
    return queue;
  };

  return {
    service: 'sqs',
    protocol: 'awsJson1_0',
    targetPrefix: 'AmazonSQS',
    operations: {
      ...messageMoveTasks(queues),
      GetQueueUrl: (input) => {
        if (!input.QueueName) throw missing('QueueName');
        const queue = queues.find((candidate) => candidate.name === input.QueueName);
        if (!queue || (input.QueueOwnerAWSAccountId !== undefined && queue.arn.split(':')[4] !== input.QueueOwnerAWSAccountId)) {
          throw new ApiError('QueueDoesNotExist', 'The specified queue does not exist.');
        }
        return { QueueUrl: queue.url };
      },

      ListQueues: (input) => {
        const prefix = String(input.QueueNamePrefix ?? '');
        const named = queues.filter((queue) => queue.name.startsWith(prefix)).map((queue) => queue.url);
        const max = input.MaxResults === undefined ? 1000 : Number(input.MaxResults);
        if (!Number.isInteger(max) || max < 1 || max > 1000) throw invalidValue('MaxResults', input.MaxResults, 'Must be between 1 and 1000, if provided.');
        const start = input.NextToken === undefined ? 0 : Number(input.NextToken);
        if (!Number.isInteger(start) || start < 0 || start > named.length) throw new ApiError('InvalidParameterValue', 'Invalid NextToken value.');
        const end = Math.min(named.length, start + max);
        return {
          ...(end > start ? { QueueUrls: named.slice(start, end) } : {}),
          ...(input.MaxResults !== undefined && end < named.length ? { NextToken: String(end) } : {}),
        };
      },

      SendMessage: (input) => sendChecked(queueAt(input.QueueUrl), input),

      SendMessageBatch: (input) => {
        const queue = queueAt(input.QueueUrl);
        const entries = (input.Entries ?? []) as Array<Record<string, any>>;
        if (!Array.isArray(entries) || entries.length === 0)
          throw new ApiError('EmptyBatchRequest', 'There should be at least one SendMessageBatchRequestEntry in the request.');
        if (entries.length > ENTRIES_PER_BATCH)
          throw new ApiError(
            'TooManyEntriesInBatchRequest',
            `Maximum number of entries per request are ${ENTRIES_PER_BATCH}. You have sent ${entries.length}.`,
          );
        const ids = new Set<string>();
        for (const entry of entries) {
          if (typeof entry.Id !== 'string' || !BATCH_ENTRY_ID.test(entry.Id)) {
            throw new ApiError(
              'InvalidBatchEntryId',
              'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
            );
          }
          if (ids.has(entry.Id)) throw new ApiError('BatchEntryIdsNotDistinct', `Id ${entry.Id} repeated.`);
          ids.add(entry.Id);
        }
        const total = entries.reduce((sum, entry) => sum + messageBytes(entry), 0);
        if (total > MAX_MESSAGE_BYTES)
          throw new ApiError('BatchRequestTooLong', `Batch requests cannot be longer than ${MAX_MESSAGE_BYTES} bytes. You have sent ${total} bytes.`);
        const Successful: Array<Record<string, string>> = [];
        const Failed: Array<{ Id: string; SenderFault: boolean; Code: string; Message: string }> = [];
        for (const entry of entries) {
          try {
            Successful.push({ Id: entry.Id, ...sendChecked(queue, entry) });
          } catch (error) {
            if (!(error instanceof ApiError)) throw error;
            Failed.push({ Id: entry.Id, SenderFault: error.fault === 'Sender', Code: error.code, Message: error.message });
          }
        }
        return { Successful, Failed };
      },

      ChangeMessageVisibility: (input) => {
        const queue = queueAt(input.QueueUrl);
        if (!input.ReceiptHandle) throw missing('ReceiptHandle');
        if (input.VisibilityTimeout === undefined) throw missing('VisibilityTimeout');
        queue.changeVisibility(String(input.ReceiptHandle), checkedVisibility(input.VisibilityTimeout)!);
        return {};
      },

      GetQueueAttributes: (input) => {
        const queue = queueAt(input.QueueUrl);
        const asked = (input.AttributeNames ?? []) as string[];
        for (const name of asked) {
          if (name !== 'All' && !QUEUE_ATTRIBUTE_NAMES.has(name)) throw new ApiError('InvalidAttributeName', `Unknown Attribute ${name}.`);
        }
        const Attributes = Object.fromEntries(Object.entries(queue.attributes()).filter(([name]) => asked.includes('All') || asked.includes(name)));
        return Object.keys(Attributes).length > 0 ? { Attributes } : {};
      },

      ReceiveMessage: async (input) => {
        const queue = queueAt(input.QueueUrl);
        const max = input.MaxNumberOfMessages === undefined ? 1 : input.MaxNumberOfMessages;
        if (!Number.isInteger(max) || max < 1 || max > ENTRIES_PER_BATCH)
          throw invalidValue('MaxNumberOfMessages', max, `Must be between 1 and ${ENTRIES_PER_BATCH}, if provided.`);
        const wait = input.WaitTimeSeconds ?? 0;
        if (!Number.isInteger(wait) || wait < 0 || wait > MAX_WAIT_SECONDS)
          throw invalidValue('WaitTimeSeconds', wait, `Must be >= 0 and <= ${MAX_WAIT_SECONDS}, if provided.`);
        const visibilityTimeoutSeconds = checkedVisibility(input.VisibilityTimeout);
        const receive = () => queue.receive(max, { visibilityTimeoutSeconds });
        // Lambda's event source consumes it: nobody else receives from it
        if (queue.options.eventSource) return {};
        const until = Date.now() + wait * 1000;
        let received = receive();
        // long polling: the answer waits for a message, up to WaitTimeSeconds
        while (received.length === 0 && Date.now() < until) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(LONG_POLL_INTERVAL_MS, until - Date.now())).unref());
          received = receive();
        }
        const attributeNames = [...((input.AttributeNames ?? []) as string[]), ...((input.MessageSystemAttributeNames ?? []) as string[])];
        const messageAttributeNames = (input.MessageAttributeNames ?? []) as string[];
        const Messages = received.map((message) => {
          const attributes = Object.fromEntries(Object.entries(message.MessageAttributes ?? {}).filter(([name]) => namedIn(messageAttributeNames, name)));
          const system = Object.fromEntries(
            Object.entries(message.Attributes ?? {}).filter(([name]) => attributeNames.includes('All') || attributeNames.includes(name)),
          );
          const hasAttributes = Object.keys(attributes).length > 0;
          return {
            MessageId: message.MessageId,
            ReceiptHandle: message.ReceiptHandle,
            MD5OfBody: md5OfBody(message.Body),
            Body: message.Body,
            ...(Object.keys(system).length > 0 ? { Attributes: system } : {}),
            ...(hasAttributes ? { MD5OfMessageAttributes: md5OfMessageAttributes(attributes), MessageAttributes: attributes } : {}),
          };
        });
        return Messages.length > 0 ? { Messages } : {};
      },

      DeleteMessage: (input) => {
        const queue = queueAt(input.QueueUrl);
        if (!input.ReceiptHandle) throw missing('ReceiptHandle');
        if (queue.options.eventSource)
          throw new ApiError('UnsupportedOperation', `${queue.name} is consumed by its Lambda event source mapping, which deletes what it handled.`);
        queue.delete(String(input.ReceiptHandle));
        return {};
      },
    },
  };
}

/** MD5OfMessageBody (and MD5OfBody): the hex MD5 of the body's UTF-8 bytes, as the SDK checks it. */
export function md5OfBody(body: string): string {
  return createHash('md5').update(body, 'utf8').digest('hex');
}

/**
 * MD5OfMessageAttributes as AWS documents it (Calculating the MD5 message digest for message
 * attributes): attributes sorted by name, each as its name, its data type (both as a 4-byte big-endian
 * length and UTF-8 bytes), a transport byte (1 for a string value) and its value (length and bytes
 * again), all through one MD5.
 */
function md5OfMessageAttributes(attributes: Record<string, MessageAttribute>): string {
  const hash = createHash('md5');
  const lengthAndBytes = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length).update(bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const attribute = attributes[name]!;
    lengthAndBytes(Buffer.from(name, 'utf8'));
    lengthAndBytes(Buffer.from(attribute.DataType, 'utf8'));
    // the local queues keep string values only
    hash.update(Buffer.from([1]));
    lengthAndBytes(Buffer.from(attribute.StringValue ?? '', 'utf8'));
  }
  return hash.digest('hex');
}

/** SendMessage of one message (or a batch entry) after the checks SQS makes of it, answered with its digests. */
function sendChecked(queue: LocalQueue, input: Record<string, any>): Record<string, string> {
  const body = input.MessageBody;
  if (typeof body !== 'string' || body === '') throw missing('MessageBody');
  if (INVALID_CHARACTER.test(body)) {
    throw new ApiError(
      'InvalidMessageContents',
      'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF',
    );
  }
  const attributes = checkedAttributes(input.MessageAttributes, 'user');
  const system = checkedAttributes(input.MessageSystemAttributes, 'system');
  for (const name of Object.keys(system)) {
    if (name !== 'AWSTraceHeader') throw new ApiError('InvalidParameterValue', `Message system attribute name '${name}' is invalid.`);
  }
  if (messageBytes(input) > MAX_MESSAGE_BYTES)
    throw new ApiError('InvalidParameterValue', `One or more parameters are invalid. Reason: Message must be shorter than ${MAX_MESSAGE_BYTES} bytes.`);
  if (input.DelaySeconds !== undefined && input.DelaySeconds !== 0) {
    if (queue.fifo) throw invalidValue('DelaySeconds', input.DelaySeconds, 'The request include parameter that is not valid for this queue type.');
    throw invalidValue('DelaySeconds', input.DelaySeconds, 'the local queues deliver no message late (DelaySeconds 0 only).');
  }

  const { MessageGroupId: groupId, MessageDeduplicationId: deduplicationId } = input as { MessageGroupId?: string; MessageDeduplicationId?: string };
  if (!queue.fifo && deduplicationId !== undefined)
    throw invalidValue('MessageDeduplicationId', deduplicationId, 'The request include parameter that is not valid for this queue type.');
  if (queue.fifo) {
    if (groupId === undefined || groupId === '') throw missing('MessageGroupId');
    if (!FIFO_ID.test(groupId))
      throw invalidValue('MessageGroupId', groupId, 'MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.');
    // without one, the queue derives it from the body (content-based deduplication)
    if (deduplicationId === undefined && !queue.options.contentBasedDeduplication) {
      throw new ApiError(
        'InvalidParameterValue',
        'The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly',
      );
    }
    if (deduplicationId !== undefined && !FIFO_ID.test(deduplicationId)) {
      throw invalidValue(
        'MessageDeduplicationId',
        deduplicationId,
        'MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.',
      );
    }
  }

  const digests: Record<string, string> = { MD5OfMessageBody: md5OfBody(body) };
  if (Object.keys(attributes).length > 0) digests.MD5OfMessageAttributes = md5OfMessageAttributes(attributes);
  if (Object.keys(system).length > 0) digests.MD5OfMessageSystemAttributes = md5OfMessageAttributes(system);
  const sent = queue.send({ body, attributes, groupId, deduplicationId });
  return { MessageId: sent.messageId, ...digests, ...(sent.sequenceNumber ? { SequenceNumber: sent.sequenceNumber } : {}) };
}

/** Message attributes as SQS checks them: at most 10, named and typed as documented, a value of their type. */
function checkedAttributes(value: unknown, kind: 'user' | 'system'): Record<string, MessageAttribute> {
  if (value === undefined) return {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ApiError('InvalidParameterValue', `Message (${kind}) attributes must be a map.`);
  const entries = Object.entries(value as Record<string, any>);
  if (entries.length > MAX_ATTRIBUTES)
    throw new ApiError('InvalidParameterValue', `Number of message attributes [${entries.length}] exceeds the allowed maximum [${MAX_ATTRIBUTES}].`);
  const checked: Record<string, MessageAttribute> = {};
  for (const [name, attribute] of entries) {
    if (!ATTRIBUTE_NAME.test(name) || /^(aws\.|amazon\.)/i.test(name) || name.startsWith('.') || name.endsWith('.') || name.includes('..')) {
      throw new ApiError('InvalidParameterValue', `Message (${kind}) attribute name '${name}' is invalid.`);
    }
    const dataType = attribute?.DataType;
    if (typeof dataType !== 'string' || !DATA_TYPE.test(dataType) || dataType.length > 256) {
      throw new ApiError(
        'InvalidParameterValue',
        `The message (${kind}) attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`,
      );
    }
    if (attribute.StringListValues?.length || attribute.BinaryListValues?.length) {
      throw new ApiError('InvalidParameterValue', `Message (${kind}) attribute '${name}': StringListValues and BinaryListValues are not implemented by SQS.`);
    }
    if (dataType.startsWith('Binary')) {
      // the local queues keep string values only
      throw new ApiError('InvalidParameterValue', `Message (${kind}) attribute '${name}': the local queues keep no Binary attributes.`);
    }
    const stringValue = attribute.StringValue;
    if (typeof stringValue !== 'string' || stringValue === '') {
      throw new ApiError(
        'InvalidParameterValue',
        `Message (${kind}) attribute '${name}' must contain a non-empty message attribute value for message attribute type '${dataType.split('.')[0]}'.`,
      );
    }
    if (dataType.startsWith('Number') && !NUMBER.test(stringValue)) {
      throw new ApiError('InvalidParameterValue', `Can't cast the value of message (${kind}) attribute '${name}' to a number.`);
    }
    if (INVALID_CHARACTER.test(stringValue))
      throw new ApiError('InvalidMessageContents', `Message (${kind}) attribute '${name}' holds characters SQS does not take.`);
    checked[name] = { DataType: dataType, StringValue: stringValue };
  }
  return checked;
}

/** A message's size as SQS counts it: the body, and each attribute's name, type and value. */
function messageBytes(input: Record<string, any>): number {
  const attributes = Object.entries((input.MessageAttributes ?? {}) as Record<string, any>);
  return (
    Buffer.byteLength(String(input.MessageBody ?? ''), 'utf8') +
    attributes.reduce(
      (sum, [name, attribute]) =>
        sum + Buffer.byteLength(name) + Buffer.byteLength(String(attribute?.DataType ?? '')) + Buffer.byteLength(String(attribute?.StringValue ?? '')),
      0,
    )
  );
}

/** ReceiveMessage's MessageAttributeNames: All or .*, a name, or a prefix ending in .* */
function namedIn(names: string[], name: string): boolean {
  return names.some((asked) => asked === 'All' || asked === '.*' || asked === name || (asked.endsWith('.*') && name.startsWith(asked.slice(0, -1))));
}

/** A VisibilityTimeout given: whole seconds up to 12 hours. */
function checkedVisibility(seconds: unknown): number | undefined {
  if (seconds === undefined || (Number.isInteger(seconds) && (seconds as number) >= 0 && (seconds as number) <= MAX_VISIBILITY_SECONDS))
    return seconds as number | undefined;
  throw invalidValue('VisibilityTimeout', seconds, `VisibilityTimeout must be an integer between 0 and ${MAX_VISIBILITY_SECONDS}`);
}

function missing(parameter: string): ApiError {
  return new ApiError('MissingParameter', `The request must contain the parameter ${parameter}.`);
}

function invalidValue(parameter: string, value: unknown, reason: string): ApiError {
  return new ApiError('InvalidParameterValue', `Value ${String(value)} for parameter ${parameter} is invalid. Reason: ${reason}`);
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname.replace(/\/+$/, '');
  } catch {
    return url;
  }
}

/** A queue's URL as SQS gives it, from its ARN: https://sqs.<region>.amazonaws.com/<account>/<name>. */
export function queueUrlOf(arn: string): string {
  const [, , , region, account, name] = arn.split(':');
  return `https://sqs.${region}.amazonaws.com/${account}/${name}`;
}

/** A queue's ARN from its URL (the region from an sqs.<region>.amazonaws.com host, else us-east-1). */
export function queueArnOf(url: string): string {
  const parsed = new URL(url);
  const [account, name] = parsed.pathname.split('/').filter(Boolean);
  const region = /^sqs\.([a-z0-9-]+)\.amazonaws\.com$/.exec(parsed.hostname)?.[1] ?? 'us-east-1';
  return `arn:aws:sqs:${region}:${account}:${name}`;
}
