import type { EventOf } from '../../../shared/events/types';
import { DEADLINE_MARGIN_MS } from '../../../shared/workflows/invocation';
import { resetPolicyNotes } from '../../../shared/workflows/policy-choice';
import { reconcile } from '../../../shared/workflows/reconcile';
import { deployed } from '../../support/deployed';
import { testConfig } from '../../support/config';
import { FakeCloud } from '../../support/fake-cloud';

beforeEach(resetPolicyNotes);

describe('reconcile within the time the invocation has left', () => {
  it("asks for the members' statuses only until the deadline; a member that did not answer is a finding, never deregistered", async () => {
    // a node command bound as long as the heal function's own timeout: a wait bounded by it alone outlives the invocation
    const cloud = new FakeCloud(testConfig({ SSM_COMMAND_TIMEOUT_SECONDS: String(deployed.functionTimeoutSeconds.heal) }));
    for (const id of ['i-a', 'i-b', 'i-c']) cloud.addMember(id);
    cloud.policies.add('ha-all');
    cloud.get('i-c').silent = true;
    const deadline = cloud.clock.now() + deployed.functionTimeoutSeconds.heal! * 1000 - DEADLINE_MARGIN_MS;
    const tick: EventOf<'reconcile'> = { kind: 'reconcile', id: 'evt-tick', time: cloud.clock.now(), dryRun: false };

    await reconcile(tick, cloud.deps({ deadline }));

    expect(cloud.clock.now()).toBeLessThanOrEqual(deadline);
    expect(cloud.logs).toContainEqual(
      expect.objectContaining({ message: 'reconcile finding', extra: expect.objectContaining({ kind: 'unreachable', instanceId: 'i-c' }) }),
    );
    expect(cloud.indexOf('elb', 'deregister', 'i-c')).toBe(-1);
    expect(cloud.targets.get('i-c')).toBe('healthy');
  });
});
