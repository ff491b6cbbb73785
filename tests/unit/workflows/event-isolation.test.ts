import { deployed } from '../../support/deployed';
import { runTraffic } from '../../support/event-traffic';

/*
 * EventBridge cannot filter EC2 events by tag: in an account with other fleets every one of their
 * state changes, spot warnings and rebalance recommendations reaches warren. The story runs an hour of
 * them through the triage function and the heal function (the real workflows and invocation shell on
 * the fake cloud and clock), beside the group's own scale-outs and scale-ins.
 */
describe('an account whose other fleets churn', () => {
  it('10,000 foreign EC2 events in an hour delay no lifecycle action', async () => {
    const quiet = await runTraffic({ routing: 'triage', foreignPerHour: 0, seed: 42 });

    const busy = await runTraffic({ routing: 'triage', foreignPerHour: 10_000, seed: 42 });

    expect(busy.foreignSent).toBe(10_000);
    // foreign events never reach the cluster's FIFO group, so the heal function never runs for one
    expect(busy.foreignInFifo).toBe(0);
    expect(busy.heal.filter((invocation) => invocation.foreignOnly)).toEqual([]);
    // lifecycle actions go straight to the FIFO group: each ends as in a quiet hour, at the same moment
    expect(busy.lifecycle.length).toBeGreaterThan(50);
    expect(busy.lifecycle.map((action) => action.result)).toEqual(busy.lifecycle.map(() => 'CONTINUE'));
    expect(busy.lifecycle.map((action) => action.completedAt! - action.sentAt)).toEqual(quiet.lifecycle.map((action) => action.completedAt! - action.sentAt));
    // the group's own EC2 events still reach the heal function, after at most the batching window and the calls
    expect(busy.ownEc2.length).toBeGreaterThan(0);
    for (const event of busy.ownEc2) expect(event.handledAt! - event.sentAt).toBeLessThan(deployed.triage.batchingWindowSeconds * 1000 + 500);
    // each triage invocation took a batch, never more than the event source hands over
    expect(busy.triage.length).toBeLessThan(busy.foreignSent / 2);
    expect(Math.max(...busy.triage.map((invocation) => invocation.records))).toBeLessThanOrEqual(deployed.triage.batchSize);
  });
});
