import { parseEvent, parseQueueMessage, reconcileRequest, type Stamp } from '../../../shared/events';
import { EventSkipped } from '../../../shared/errors';

const stamp: Stamp = { now: () => Date.parse('2024-05-01T12:00:00Z'), newId: () => 'manual-0001' };

describe('reconcile requests', () => {
  it('turns an empty direct invocation into a real reconcile', () => {
    const converted = parseEvent({}, stamp);

    expect(converted).toStrictEqual({ kind: 'reconcile', id: 'manual-0001', time: Date.parse('2024-05-01T12:00:00Z'), dryRun: false });
  });

  it('honours dryRun from a person at the console', () => {
    const converted = parseEvent({ dryRun: true }, stamp);

    expect(converted).toMatchObject({ kind: 'reconcile', dryRun: true });
  });

  it('gives each direct invocation its own id when none is injected', () => {
    const first = parseEvent({});
    const second = parseEvent({});

    expect(first.id).toMatch(/^manual-[0-9a-f-]{36}$/);
    expect(second.id).not.toBe(first.id);
  });

  it('accepts the bare scheduled event the EventBridge console sends', () => {
    const converted = parseEvent({ 'detail-type': 'Scheduled Event', source: 'aws.events' }, stamp);

    expect(converted).toStrictEqual({ kind: 'reconcile', id: 'manual-0001', time: Date.parse('2024-05-01T12:00:00Z'), dryRun: false });
  });

  it('round-trips the message warren puts on its own queue', () => {
    const message = reconcileRequest('alarm ServerCpuTooHigh; replace i-0abc', stamp, true);

    const converted = parseQueueMessage(JSON.stringify(message), stamp);

    expect(message.detail.reason).toBe('alarm ServerCpuTooHigh_ replace i-0abc');
    expect(converted).toStrictEqual({ kind: 'reconcile', id: 'manual-0001', time: Date.parse('2024-05-01T12:00:00Z'), dryRun: true });
  });

  it('refuses a direct invocation with anything besides dryRun', () => {
    expect(() => parseEvent({ dryRun: true, instanceId: 'i-1234567890abcdef0' }, stamp)).toThrow(EventSkipped);
  });
});
