import { triageBatch, type TriageDeps } from '../../../shared/workflows/triage';
import { instanceEvent, sqsBatch } from '../../events/instance-events';
import { FakeCloud } from '../../support/fake-cloud';

const OURS = 'i-0aaaaaaaaaaaaaaa1';
const EKS_NODE = 'i-0eeeeeeeeeeeeeee1';
const GONE_LONG_AGO = 'i-0ddddddddddddddd1';

function cloudWithNeighbours(): FakeCloud {
  const cloud = new FakeCloud();
  cloud.addMember(OURS);
  cloud.addMember('i-0aaaaaaaaaaaaaaa2');
  // another fleet of the account: its instances carry another group's tag
  cloud.addInstance(EKS_NODE, 'InService').group = 'eks-nodes';
  return cloud;
}

const depsOf = (cloud: FakeCloud): TriageDeps => ({
  config: cloud.config,
  inventory: cloud.inventory,
  queue: cloud.queue,
  metrics: cloud.metrics,
  log: cloud.log,
});
const bodies = (...events: Array<Record<string, any>>) => events.map((event) => JSON.stringify(event));
const inventoryCalls = (cloud: FakeCloud) => cloud.calls.filter((call) => call.port === 'ec2' || call.port === 'asg');

describe('the triage step in front of the cluster FIFO group', () => {
  it("forwards the group's events and drops the foreign ones, with one inventory call for the batch", async () => {
    const cloud = cloudWithNeighbours();
    const batch = bodies(
      instanceEvent('spot-interruption', EKS_NODE, 'evt-1'),
      instanceEvent('terminated', OURS, 'evt-2'),
      instanceEvent('rebalance-recommendation', GONE_LONG_AGO, 'evt-3'),
      instanceEvent('shutting-down', EKS_NODE, 'evt-4'),
    );

    const answer = await triageBatch(sqsBatch(...batch).Records, depsOf(cloud));

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(cloud.forwarded).toEqual([{ id: 'evt-2', body: batch[1] }]);
    expect(inventoryCalls(cloud)).toEqual([expect.objectContaining({ op: 'groupMembersAmong', args: [EKS_NODE, OURS, GONE_LONG_AGO] })]);
    expect(cloud.metric('ForeignEventsDropped')).toBe(3);
    expect(cloud.metric('EventsForwarded')).toBe(1);
    const lines = cloud.logs.filter((line) => line.message === 'batch triaged');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'info',
        extra: expect.objectContaining({ records: 4, forwarded: 1, foreignDropped: 3, foreignInstances: [EKS_NODE, GONE_LONG_AGO] }),
      }),
    ]);
  });

  it('sends nothing to the heal queue when the whole batch is foreign', async () => {
    const cloud = cloudWithNeighbours();

    await triageBatch(sqsBatch(...bodies(instanceEvent('terminated', EKS_NODE, 'evt-1'))).Records, depsOf(cloud));

    expect(cloud.calls.filter((call) => call.port === 'queue')).toEqual([]);
    expect(cloud.metric('ForeignEventsDropped')).toBe(1);
  });

  it('skips a malformed record with its reason and triages the rest', async () => {
    const cloud = cloudWithNeighbours();
    const ours = JSON.stringify(instanceEvent('terminated', OURS, 'evt-2'));
    const forged = JSON.stringify(instanceEvent('terminated', 'i-$(reboot)', 'evt-1'));

    const answer = await triageBatch(sqsBatch(forged, 'not json', ours).Records, depsOf(cloud));

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(cloud.forwarded.map((event) => event.id)).toEqual(['evt-2']);
    expect(cloud.logs.filter((line) => line.message === 'event skipped').map((line) => line.extra?.messageId)).toEqual(['m-0', 'm-1']);
    expect(cloud.metric('EventsSkipped')).toBe(2);
  });

  it('forwards an event EventBridge delivered twice once, and drops other kinds the queue should never carry', async () => {
    const cloud = cloudWithNeighbours();
    const ours = JSON.stringify(instanceEvent('terminated', OURS, 'evt-2'));
    const scheduled = JSON.stringify({ ...instanceEvent('terminated', OURS, 'evt-9'), source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} });

    await triageBatch(sqsBatch(ours, ours, scheduled).Records, depsOf(cloud));

    expect(cloud.forwarded.map((event) => event.id)).toEqual(['evt-2']);
    expect(cloud.logs.find((line) => line.message === 'event skipped')?.extra?.reason).toMatch(/EC2 instance events only, not reconcile/);
  });

  it('reports the records of the events the heal queue refused, so they are received again, and only those', async () => {
    const cloud = cloudWithNeighbours();
    const second = 'i-0aaaaaaaaaaaaaaa2';
    cloud.refuseForwarding.add('evt-3');
    const batch = bodies(
      instanceEvent('terminated', OURS, 'evt-2'),
      instanceEvent('spot-interruption', second, 'evt-3'),
      instanceEvent('terminated', EKS_NODE, 'evt-4'),
      instanceEvent('spot-interruption', second, 'evt-3'),
    );

    const answer = await triageBatch(sqsBatch(...batch).Records, depsOf(cloud));

    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-1' }, { itemIdentifier: 'm-3' }] });
    expect(cloud.forwarded.map((event) => event.id)).toEqual(['evt-2']);
    expect(cloud.metric('EventsForwarded')).toBe(1);
    expect(cloud.logs.find((line) => line.level === 'warn')?.message).toMatch(/refused/);
  });

  it("forwards the whole batch when EC2 cannot say who is a member, rather than hold the group's own events back", async () => {
    const cloud = cloudWithNeighbours();
    const deps = depsOf(cloud);
    deps.inventory = { ...cloud.inventory, groupMembersAmong: async () => Promise.reject(new Error('DescribeInstances failed: RequestLimitExceeded')) };

    const answer = await triageBatch(
      sqsBatch(...bodies(instanceEvent('terminated', OURS, 'evt-2'), instanceEvent('terminated', EKS_NODE, 'evt-3'))).Records,
      deps,
    );

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(cloud.forwarded.map((event) => event.id)).toEqual(['evt-2', 'evt-3']);
    expect(cloud.metric('TriageFailedOpen')).toBe(1);
  });
});
