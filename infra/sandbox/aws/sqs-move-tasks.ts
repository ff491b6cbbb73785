import { randomUUID } from 'node:crypto';
import type { LocalQueue } from '../queue';
import { ApiError, type Operation } from './protocol';

/**
 * SQS's dead-letter queue redrive, StartMessageMoveTask / ListMessageMoveTasks / CancelMessageMoveTask,
 * over the sandbox's queues: a task moves the messages a dead-letter queue holds when it starts, into the
 * queue named or, without one, each back to the queue its redrive policy took it from (a message sent
 * into the dead-letter queue directly has none: the task fails, CouldNotDetermineMessageSource). One task
 * per source queue runs at a time; at MaxNumberOfMessagesPerSecond when given, else at once. Errors,
 * codes and statuses are those AWS answers (recorded in LocalStack's snapshot tests against AWS); the
 * FIFO-into-standard refusal and the cancel of a task no longer running are worded here.
 */

type MoveStatus = 'RUNNING' | 'COMPLETED' | 'CANCELLED' | 'FAILED';

interface MoveTask {
  handle: string;
  source: LocalQueue;
  destination?: LocalQueue;
  rate?: number;
  status: MoveStatus;
  toMove: number;
  moved: number;
  startedAt: number;
  failureReason?: string;
  cancelTimer?: () => void;
}

const MAX_RATE = 500;
const MAX_LISTED = 10;

export function messageMoveTasks(queues: LocalQueue[]): Record<string, Operation> {
  const tasks: MoveTask[] = [];
  const queueOf = (arn: unknown, parameter: string): LocalQueue => {
    const queue = queues.find((candidate) => candidate.arn === arn);
    if (!queue) throw new ApiError('ResourceNotFoundException', `The resource that you specified for the ${parameter} parameter doesn't exist.`, 404);
    return queue;
  };
  const sourceOf = (input: Record<string, any>): LocalQueue => {
    if (typeof input.SourceArn !== 'string' || input.SourceArn === '')
      throw new ApiError('MissingParameter', 'The request must contain the parameter SourceArn.');
    return queueOf(input.SourceArn, 'SourceArn');
  };

  /** Moves the next message (every one left, without a rate); ends the task when none is left or it cannot go on. */
  const step = (task: MoveTask): void => {
    task.cancelTimer = undefined;
    if (task.status !== 'RUNNING') return;
    do {
      const message = task.moved < task.toMove ? task.source.nextToMove() : undefined;
      if (!message) {
        task.status = 'COMPLETED';
        return;
      }
      const destination = task.destination ?? queues.find((candidate) => candidate.arn === message.sourceArn);
      if (!destination) {
        task.status = 'FAILED';
        task.failureReason = message.sourceArn ? 'AWS.SimpleQueueService.NonExistentQueue' : 'CouldNotDetermineMessageSource';
        return;
      }
      const { body, attributes, groupId, deduplicationId } = message;
      destination.send({ body, attributes, ...(destination.fifo ? { groupId, deduplicationId } : {}) });
      task.source.moved(message.messageId);
      task.moved += 1;
    } while (task.rate === undefined);
    task.cancelTimer = task.source.scheduler.after(1000 / task.rate, () => step(task));
  };

  return {
    StartMessageMoveTask: (input) => {
      const source = sourceOf(input);
      const destination = input.DestinationArn === undefined || input.DestinationArn === '' ? undefined : queueOf(input.DestinationArn, 'DestinationArn');
      const rate = input.MaxNumberOfMessagesPerSecond;
      if (rate !== undefined && (!Number.isInteger(rate) || rate < 1 || rate > MAX_RATE)) {
        throw new ApiError(
          'InvalidParameterValue',
          `Value ${String(rate)} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and ${MAX_RATE}, if provided.`,
        );
      }
      if (!queues.some((queue) => queue.deadLetterQueue === source))
        throw new ApiError('InvalidParameterValue', 'Source queue must be configured as a Dead Letter Queue.');
      if (destination && destination.fifo !== source.fifo) {
        throw new ApiError(
          'InvalidParameterValue',
          `Messages of a ${source.fifo ? 'FIFO' : 'standard'} queue move only into a ${source.fifo ? 'FIFO' : 'standard'} queue.`,
        );
      }
      if (tasks.some((task) => task.source === source && task.status === 'RUNNING')) {
        throw new ApiError('InvalidParameterValue', 'There is already a task running. Only one active task is allowed for a source queue arn at a given time.');
      }
      const handle = Buffer.from(JSON.stringify({ taskId: randomUUID(), sourceArn: source.arn })).toString('base64');
      const task: MoveTask = {
        handle,
        source,
        destination,
        rate,
        status: 'RUNNING',
        toMove: Number(source.attributes().ApproximateNumberOfMessages),
        moved: 0,
        startedAt: source.scheduler.now(),
      };
      tasks.push(task);
      task.cancelTimer = source.scheduler.after(0, () => step(task));
      return { TaskHandle: handle };
    },

    ListMessageMoveTasks: (input) => {
      const source = sourceOf(input);
      const max = input.MaxResults === undefined ? 1 : input.MaxResults;
      if (!Number.isInteger(max) || max < 1 || max > MAX_LISTED) {
        throw new ApiError(
          'InvalidParameterValue',
          `Value ${String(max)} for parameter MaxResults is invalid. Reason: Must be between 1 and ${MAX_LISTED}, if provided.`,
        );
      }
      const newestFirst = tasks
        .filter((task) => task.source === source)
        .reverse()
        .slice(0, max);
      return {
        Results: newestFirst.map((task) => ({
          ...(task.status === 'RUNNING' ? { TaskHandle: task.handle } : {}),
          Status: task.status,
          SourceArn: task.source.arn,
          ...(task.destination ? { DestinationArn: task.destination.arn } : {}),
          ...(task.rate !== undefined ? { MaxNumberOfMessagesPerSecond: task.rate } : {}),
          ApproximateNumberOfMessagesMoved: task.moved,
          ApproximateNumberOfMessagesToMove: task.toMove,
          ...(task.failureReason ? { FailureReason: task.failureReason } : {}),
          StartedTimestamp: task.startedAt,
        })),
      };
    },

    CancelMessageMoveTask: (input) => {
      if (typeof input.TaskHandle !== 'string' || input.TaskHandle === '')
        throw new ApiError('MissingParameter', 'The request must contain the parameter TaskHandle.');
      const named = handleOf(input.TaskHandle);
      queueOf(named.sourceArn, 'SourceArn');
      const task = tasks.find((candidate) => candidate.handle === input.TaskHandle);
      if (!task) throw new ApiError('ResourceNotFoundException', 'Task does not exist.', 404);
      if (task.status !== 'RUNNING') throw new ApiError('InvalidParameterValue', `Only a RUNNING task can be cancelled; this one is ${task.status}.`);
      task.cancelTimer?.();
      task.status = 'CANCELLED';
      return { ApproximateNumberOfMessagesMoved: task.moved };
    },
  };
}

/** A TaskHandle names its task and source queue: base64 of {"taskId", "sourceArn"}. */
function handleOf(handle: string): { taskId: string; sourceArn: string } {
  try {
    const named = JSON.parse(Buffer.from(handle, 'base64').toString('utf8')) as { taskId?: unknown; sourceArn?: unknown };
    if (typeof named.taskId === 'string' && typeof named.sourceArn === 'string') return { taskId: named.taskId, sourceArn: named.sourceArn };
  } catch {
    // not base64 JSON: answered below
  }
  throw new ApiError('InvalidParameterValue', 'Value for parameter TaskHandle is invalid.');
}
