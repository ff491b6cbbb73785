import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { EventOf } from './types';
import { DETAIL_TYPES, SOURCES, eventId, eventTime, parseOrSkip } from './kinds';

/** Where a reconcile without an EventBridge id and time gets them. Injected by tests. */
export interface Stamp {
  now(): number;
  newId(): string;
}
export const systemStamp: Stamp = { now: () => Date.now(), newId: () => `manual-${randomUUID()}` };

/** A person or script invoking the function directly: `{}` or `{"dryRun": true}`, nothing else. */
export const directInvocation = z.strictObject({ dryRun: z.boolean().optional() });

/**
 * aws.events "Scheduled Event"; the minimal `{"detail-type":"Scheduled Event","source":"aws.events"}` counts too.
 * AWS always sends an empty detail: one with content (a dryRun, an instance) was written by someone
 * who expects warren to honour it, and warren does not, so it is refused rather than silently run.
 */
export const scheduledEvent = z.looseObject({
  id: eventId.optional(),
  time: eventTime.optional(),
  source: z.literal(SOURCES.schedule),
  'detail-type': z.literal(DETAIL_TYPES.scheduledEvent),
  detail: z.strictObject({}).optional(),
});

/** What HealQueue.enqueueReconcile puts on the queue; build it with reconcileRequest(). */
export const reconcileRequestedEvent = z.strictObject({
  id: eventId,
  time: eventTime,
  source: z.literal(SOURCES.warren),
  'detail-type': z.literal(DETAIL_TYPES.reconcileRequested),
  detail: z.strictObject({
    reason: z.string().regex(/^[A-Za-z0-9 _.,:/#+=@()-]{1,500}$/, 'reason has characters warren does not accept'),
    dryRun: z.boolean().optional(),
  }),
});
export type ReconcileRequest = z.infer<typeof reconcileRequestedEvent>;

export function toDirectReconcile(raw: unknown, stamp: Stamp = systemStamp): EventOf<'reconcile'> {
  const invocation = parseOrSkip(directInvocation, raw, 'direct invocation (expected {} or {"dryRun": true|false})');
  return { kind: 'reconcile', id: stamp.newId(), time: stamp.now(), dryRun: invocation.dryRun ?? false };
}

export function toScheduledReconcile(raw: unknown, stamp: Stamp = systemStamp): EventOf<'reconcile'> {
  const event = parseOrSkip(scheduledEvent, raw, 'scheduled event');
  return {
    kind: 'reconcile',
    id: event.id ?? stamp.newId(),
    time: event.time === undefined ? stamp.now() : Date.parse(event.time),
    dryRun: false,
  };
}

export function toRequestedReconcile(raw: unknown): EventOf<'reconcile'> {
  const event = parseOrSkip(reconcileRequestedEvent, raw, 'reconcile request');
  return { kind: 'reconcile', id: event.id, time: Date.parse(event.time), dryRun: event.detail.dryRun ?? false };
}

/** The queue message for a reconcile asked for by warren itself (an alarm runbook, a workflow). */
export function reconcileRequest(reason: string, stamp: Stamp = systemStamp, dryRun = false): ReconcileRequest {
  return reconcileRequestedEvent.parse({
    id: stamp.newId(),
    time: new Date(stamp.now()).toISOString(),
    source: SOURCES.warren,
    'detail-type': DETAIL_TYPES.reconcileRequested,
    detail: { reason: reason.replace(/[^A-Za-z0-9 _.,:/#+=@()-]/g, '_').slice(0, 500) || 'unspecified', dryRun },
  });
}
