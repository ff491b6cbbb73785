import { BudgetExhausted } from '../../../shared/errors';
import type { EventOf } from '../../../shared/events/types';
import { gone } from '../../../shared/workflows/gone';
import { interruption } from '../../../shared/workflows/interruption';
import { resetPolicyNotes } from '../../../shared/workflows/policy-choice';
import { reconcile } from '../../../shared/workflows/reconcile';
import { terminate } from '../../../shared/workflows/terminate';
import { FakeCloud } from '../../support/fake-cloud';

beforeEach(resetPolicyNotes);

/** The node shell every workflow is given (shared/workflows/budgeted-shell.ts): no command goes out that the invocation cannot wait for. */
describe('node commands within the time the invocation has left', () => {
  function threeMembers() {
    const cloud = new FakeCloud();
    for (const id of ['i-a', 'i-b', 'i-c']) cloud.addMember(id);
    return cloud;
  }
  const commandMs = (cloud: FakeCloud) => cloud.config.bounds.ssmCommandSeconds * 1000;

  it.each([
    [
      'a forget of a crashed node',
      (cloud: FakeCloud) => {
        cloud.terminateInEc2('i-c');
        const event: EventOf<'gone'> = { kind: 'gone', id: 'evt-gone', time: cloud.clock.now(), instanceId: 'i-c', state: 'terminated' };
        return (deadline: number) => gone(event, cloud.deps({ deadline }));
      },
    ],
    [
      'a drain before a spot interruption',
      (cloud: FakeCloud) => {
        const event: EventOf<'interruption'> = { kind: 'interruption', id: 'evt-int', time: cloud.clock.now(), instanceId: 'i-c', reason: 'spot-interruption' };
        return (deadline: number) => interruption(event, cloud.deps({ deadline }));
      },
    ],
    [
      'a leave on scale-in',
      (cloud: FakeCloud) => {
        cloud.startTerminating('i-c');
        return (deadline: number) => terminate(cloud.terminateEvent('i-c'), cloud.deps({ deadline }));
      },
    ],
  ])('gives the event back before %s when one command would outlive the invocation, and sends it on the retry', async (_, prepare) => {
    const cloud = threeMembers();
    const run = prepare(cloud);

    await expect(run(cloud.clock.now() + commandMs(cloud) - 1)).rejects.toBeInstanceOf(BudgetExhausted);
    const before = cloud.commands().length;
    expect(cloud.commands().filter((c) => c.op !== 'status' && c.op !== 'runOnMany:status')).toEqual([]);

    await run(cloud.clock.now() + 3 * commandMs(cloud));
    expect(cloud.commands().length).toBeGreaterThan(before);
  });

  it("reads the members' statuses with a second left, but repairs nothing it could not wait for", async () => {
    const cloud = threeMembers();
    cloud.policies.add('ha-all');
    cloud.get('i-c').node.member = false; // running but alone: reconcile would join it
    const tick: EventOf<'reconcile'> = { kind: 'reconcile', id: 'evt-tick', time: cloud.clock.now(), dryRun: false };

    await expect(reconcile(tick, cloud.deps({ deadline: cloud.clock.now() + 1_000 - 1 }))).rejects.toBeInstanceOf(BudgetExhausted);
    expect(cloud.commands()).toEqual([]);

    await expect(reconcile(tick, cloud.deps({ deadline: cloud.clock.now() + 5_000 }))).rejects.toBeInstanceOf(BudgetExhausted);
    expect(cloud.commands().map((c) => c.op)).toEqual(['runOnMany:status']);

    const outcome = await reconcile(tick, cloud.deps());
    expect(outcome.details!.actions).toContainEqual(expect.objectContaining({ kind: 'join', instanceId: 'i-c' }));
    expect(cloud.commands('join')).toHaveLength(1);
  });
});
