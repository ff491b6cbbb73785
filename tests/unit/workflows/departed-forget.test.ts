import type { EventOf } from '../../../shared/events/types';
import { gone } from '../../../shared/workflows/gone';
import { reconcile } from '../../../shared/workflows/reconcile';
import { FakeCloud } from '../../support/fake-cloud';

// A peer may disconnect a silent node before forgetting it only when EC2 reports its instance terminated.

const goneEvent = (cloud: FakeCloud, instanceId: string, state: 'shutting-down' | 'terminated'): EventOf<'gone'> => ({
  kind: 'gone',
  id: `evt-gone-${instanceId}-${state}`,
  time: cloud.clock.now(),
  instanceId,
  state,
});
const forgetParams = (cloud: FakeCloud) => cloud.commands('forget').map((c) => (c.args as { NodeName: string; Departed: string }).Departed);

function threeMembers(): FakeCloud {
  const cloud = new FakeCloud();
  for (const id of ['i-a', 'i-b', 'i-c']) cloud.addMember(id);
  return cloud;
}

describe('the Departed parameter of the forget', () => {
  it('is true when the gone workflow finds the instance terminated', async () => {
    const cloud = threeMembers();
    cloud.terminateInEc2('i-c');

    await gone(goneEvent(cloud, 'i-c', 'terminated'), cloud.deps());

    expect(forgetParams(cloud)).toEqual(['true']);
  });

  it('is false while the instance only shuts down, and a node still counted running is left to the terminated event', async () => {
    const cloud = threeMembers();
    cloud.terminateInEc2('i-c', 'shutting-down', true);

    const outcome = await gone(goneEvent(cloud, 'i-c', 'shutting-down'), cloud.deps());

    expect(forgetParams(cloud)).toEqual(['false']);
    expect(outcome).toEqual({ result: 'refused', reason: 'node still counted running while its instance shuts down' });
    expect(cloud.allMembers()).toContain(cloud.get('i-c').node.name);
  });

  it('follows the EC2 state in reconcile', async () => {
    const cloud = threeMembers();
    cloud.terminateInEc2('i-c');

    await reconcile({ kind: 'reconcile', id: 'evt-reconcile', time: cloud.clock.now(), dryRun: false } as EventOf<'reconcile'>, cloud.deps());

    expect(forgetParams(cloud)).toEqual(['true']);
  });
});
