import { EventSkipped } from '../errors';
import type { WarrenEvent } from './types';
import { DETAIL_TYPES, MAX_EVENT_BYTES, SOURCES } from './kinds';
import { isTestNotification } from './lifecycle';
import { toLaunchEvent } from './launch';
import { toTerminateEvent } from './terminate';
import { toGoneEvent } from './gone';
import { toRebalanceRecommendationEvent, toSpotInterruptionEvent } from './interruption';
import { toAlarmEvent } from './alarm';
import { toRefreshSucceededEvent } from './refresh';
import { type Stamp, systemStamp, toDirectReconcile, toRequestedReconcile, toScheduledReconcile } from './reconcile';

export { DETAIL_TYPES, SOURCES } from './kinds';
export { reconcileRequest, type ReconcileRequest, type Stamp } from './reconcile';
export type { EventKind, EventOf, WarrenEvent } from './types';

type Converter = (raw: unknown, stamp: Stamp) => WarrenEvent;

const route = (source: string, detailType: string) => `${source}\u0000${detailType}`;

/** The one table from (source, detail-type) to converter. */
const CONVERTERS = new Map<string, Converter>([
  [route(SOURCES.autoScaling, DETAIL_TYPES.launchLifecycleAction), toLaunchEvent],
  [route(SOURCES.autoScaling, DETAIL_TYPES.terminateLifecycleAction), toTerminateEvent],
  [route(SOURCES.autoScaling, DETAIL_TYPES.instanceRefreshSucceeded), toRefreshSucceededEvent],
  [route(SOURCES.ec2, DETAIL_TYPES.instanceStateChange), toGoneEvent],
  [route(SOURCES.ec2, DETAIL_TYPES.spotInterruptionWarning), toSpotInterruptionEvent],
  [route(SOURCES.ec2, DETAIL_TYPES.rebalanceRecommendation), toRebalanceRecommendationEvent],
  [route(SOURCES.cloudWatch, DETAIL_TYPES.alarmStateChange), toAlarmEvent],
  [route(SOURCES.schedule, DETAIL_TYPES.scheduledEvent), toScheduledReconcile],
  [route(SOURCES.warren, DETAIL_TYPES.reconcileRequested), toRequestedReconcile],
]);

/**
 * Turns a raw invocation payload into warren's internal event, or throws EventSkipped with the
 * reason when it is something warren must acknowledge and leave alone. It does not check that the
 * event concerns the configured group: the workflows know the configuration and do that.
 */
export function parseEvent(raw: unknown, stamp: Stamp = systemStamp): WarrenEvent {
  if (nestedDeeperThan(raw, MAX_NESTING)) {
    throw new EventSkipped(`payload is nested deeper than ${MAX_NESTING} levels; no AWS event is`);
  }
  const bytes = serialisedSize(raw);
  if (bytes > MAX_EVENT_BYTES) {
    throw new EventSkipped(`payload of ${bytes} bytes is above EventBridge's ${MAX_EVENT_BYTES}`, { bytes });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new EventSkipped(`payload is ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}, not an object`);
  }
  const fields = raw as Record<string, unknown>;
  // An Auto Scaling test message sent straight to a queue has no EventBridge envelope at all.
  if (isTestNotification(fields)) {
    throw new EventSkipped('Auto Scaling test notification');
  }
  if (!('source' in fields)) {
    return toDirectReconcile(raw, stamp);
  }
  const { source, 'detail-type': detailType } = fields;
  if (typeof source !== 'string' || typeof detailType !== 'string') {
    throw new EventSkipped('source and detail-type must both be strings', { source: typeof source, detailType: typeof detailType });
  }
  const convert = CONVERTERS.get(route(source, detailType));
  if (!convert) {
    throw new EventSkipped(`no converter for ${JSON.stringify(source.slice(0, 100))} / ${JSON.stringify(detailType.slice(0, 100))}`, {
      source: source.slice(0, 100),
      detailType: detailType.slice(0, 100),
    });
  }
  return convert(raw, stamp);
}

/** An SQS record body: the EventBridge event as JSON text. */
export function parseQueueMessage(body: string, stamp: Stamp = systemStamp): WarrenEvent {
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > MAX_EVENT_BYTES) {
    throw new EventSkipped(`message of ${bytes} bytes is above EventBridge's ${MAX_EVENT_BYTES}`, { bytes });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (error) {
    throw new EventSkipped(`message body is not JSON: ${(error as Error).message}`);
  }
  return parseEvent(raw, stamp);
}

/*
 * AWS events are a few levels deep (an alarm's metric dimensions are the deepest, at 6). A deeper
 * payload is refused before anything recursive (JSON.stringify, the schemas) walks it, so the
 * outcome does not depend on the stack size. Walked with an explicit stack for the same reason.
 */
const MAX_NESTING = 32;

function nestedDeeperThan(raw: unknown, limit: number): boolean {
  const pending: Array<[unknown, number]> = [[raw, 0]];
  while (pending.length > 0) {
    const [value, depth] = pending.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= limit) return true;
    for (const child of Object.values(value)) pending.push([child, depth + 1]);
  }
  return false;
}

function serialisedSize(raw: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(raw) ?? '', 'utf8');
  } catch (error) {
    // cycles and BigInts cannot have come through EventBridge's JSON
    throw new EventSkipped(`payload cannot be serialised: ${(error as Error).message}`);
  }
}
