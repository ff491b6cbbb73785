import { launch } from '../../../shared/workflows/launch';
import { resetPolicyNotes } from '../../../shared/workflows/policy-choice';
import { FakeCloud } from '../../support/fake-cloud';

beforeEach(resetPolicyNotes);

/** Scale-out: one launch event joins every instance waiting in Pending:Wait with its agent online. */
describe('launch workflow, several launches at once', () => {
  function clusterOfTwoAndTwoNewcomers() {
    const cloud = new FakeCloud();
    cloud.addMember('i-a', '3.10.8', 'both');
    cloud.addMember('i-b', '3.10.8', 'both');
    cloud.addLaunching('i-n1', 0);
    cloud.addLaunching('i-n2', 0);
    return cloud;
  }

  it('joins both with one event, side by side: one command on each new node, none elsewhere, both CONTINUE', async () => {
    const cloud = clusterOfTwoAndTwoNewcomers();

    const outcome = await launch(cloud.launchEvent('i-n1'), cloud.deps());

    expect(outcome).toMatchObject({ result: 'continued', details: { batch: { 'i-n2': 'continued' } } });
    expect(
      cloud
        .commands()
        .map((c) => `${c.op}@${c.instanceId}`)
        .sort(),
    ).toEqual(['join@i-n1', 'join@i-n2']);
    const [first, second] = cloud.commands('join');
    expect(first!.at).toBe(second!.at);
    for (const id of ['i-n1', 'i-n2']) {
      expect(cloud.actions.get(id)!.state).toBe('CONTINUE');
      expect(cloud.targets.get(id)).toBe('healthy');
      expect(cloud.get(id).versionTag).toBe('3.10.8');
    }
    expect(cloud.runningMembers()).toHaveLength(4);
    expect(cloud.metric('LaunchContinued')).toBe(2);
  });

  it("re-applies the cluster-wide policy once per batch, with the event's own join", async () => {
    const cloud = clusterOfTwoAndTwoNewcomers();

    await launch(cloud.launchEvent('i-n1'), cloud.deps());

    const policyOf = (id: string) => (cloud.commands('join').find((c) => c.instanceId === id)!.args as { PolicyName: string }).PolicyName;
    expect([policyOf('i-n1'), policyOf('i-n2')]).toEqual(['ha-all', '']);
    expect(cloud.policies.has('ha-all')).toBe(true);
  });

  it('registers each one only after its own verified join and tag (invariant 4)', async () => {
    const cloud = clusterOfTwoAndTwoNewcomers();

    await launch(cloud.launchEvent('i-n1'), cloud.deps());

    for (const id of ['i-n1', 'i-n2']) {
      const join = cloud.indexOf('ssm', 'join', id);
      const tag = cloud.indexOf('ec2', 'tagNodeName', id);
      const register = cloud.indexOf('elb', 'register', id);
      expect(join).toBeGreaterThanOrEqual(0);
      expect(tag).toBeGreaterThan(join);
      expect(register).toBeGreaterThan(tag);
    }
  });

  it('makes the later event of the batch a no-op (invariants 5 and 6)', async () => {
    const cloud = clusterOfTwoAndTwoNewcomers();
    const second = cloud.launchEvent('i-n2');
    await launch(cloud.launchEvent('i-n1'), cloud.deps());
    const callsAfterBatch = cloud.calls.length;

    const outcome = await launch(second, cloud.deps());

    expect(outcome.result).toBe('done');
    expect(cloud.calls.slice(callsAfterBatch).map((c) => c.op)).toEqual(['heartbeat']);
  });

  it('lets a failing join fail only its own instance: the other continues, the failing one is abandoned by its own bound', async () => {
    const cloud = clusterOfTwoAndTwoNewcomers();
    cloud.get('i-n2').joinFailsSilently = true;
    const second = cloud.launchEvent('i-n2');

    const outcome = await launch(cloud.launchEvent('i-n1'), cloud.deps());

    expect(outcome).toMatchObject({ result: 'continued', details: { batch: { 'i-n2': expect.stringMatching(/^left: .*not among the running members/) } } });
    expect(cloud.actions.get('i-n1')!.state).toBe('CONTINUE');
    expect(cloud.actions.get('i-n2')!.state).toBe('open');
    expect(cloud.indexOf('elb', 'register', 'i-n2')).toBe(-1);

    await expect(launch(second, cloud.deps())).rejects.toThrow(/not among the running members/);
    cloud.clock.advance(cloud.config.bounds.launchSeconds * 1000);
    const late = await launch(second, cloud.deps());

    expect(late.result).toBe('abandoned');
    expect(cloud.actions.get('i-n2')!.state).toBe('ABANDON');
    expect(cloud.actions.get('i-n1')!.state).toBe('CONTINUE');
    expect(cloud.indexOf('elb', 'register', 'i-n2')).toBe(-1);
    expect(cloud.metric('LaunchAbandoned')).toBe(1);
  });

  it('abandons a batched instance at once when its own bound has passed, and still continues the other', async () => {
    const cloud = clusterOfTwoAndTwoNewcomers();
    cloud.get('i-n2').joinFailsSilently = true;
    cloud.get('i-n2').launchedAt -= cloud.config.bounds.launchSeconds * 1000 - 5_000;

    const outcome = await launch(cloud.launchEvent('i-n1'), cloud.deps());

    expect(outcome).toMatchObject({ result: 'continued', details: { batch: { 'i-n2': expect.stringMatching(/^abandoned/) } } });
    expect(cloud.actions.get('i-n2')!.state).toBe('ABANDON');
    expect(cloud.indexOf('elb', 'register', 'i-n2')).toBe(-1);
    expect(cloud.actions.get('i-n1')!.state).toBe('CONTINUE');
  });

  it("continues the other one when the event's own join fails, and gives the event back for a retry", async () => {
    const cloud = clusterOfTwoAndTwoNewcomers();
    cloud.get('i-n1').joinFailsSilently = true;

    await expect(launch(cloud.launchEvent('i-n1'), cloud.deps())).rejects.toThrow(/not among the running members/);

    expect(cloud.actions.get('i-n2')!.state).toBe('CONTINUE');
    expect(cloud.targets.get('i-n2')).toBe('healthy');
    expect(cloud.actions.get('i-n1')!.state).toBe('open');
    expect(cloud.indexOf('elb', 'register', 'i-n1')).toBe(-1);
  });

  it('heartbeats every hook of the batch while the joins run', async () => {
    const cloud = clusterOfTwoAndTwoNewcomers();
    cloud.joinMs = 200_000;

    await launch(cloud.launchEvent('i-n1'), cloud.deps());

    const joinAt = cloud.calls[cloud.indexOf('ssm', 'join', 'i-n2')]!.at;
    for (const id of ['i-n1', 'i-n2']) {
      const beats = cloud.calls.filter((c) => c.op === 'heartbeat' && c.instanceId === id && c.at > joinAt && c.at <= joinAt + 200_000);
      expect(beats.length).toBeGreaterThanOrEqual(3);
    }
  });

  it('waits a moment for a launch whose agent is a few seconds late, and takes it along', async () => {
    const cloud = clusterOfTwoAndTwoNewcomers();
    cloud.get('i-n2').agentOnlineAt = cloud.clock.now() + 3_000;

    await launch(cloud.launchEvent('i-n1'), cloud.deps());

    expect(cloud.actions.get('i-n2')!.state).toBe('CONTINUE');
    expect(cloud.commands('join')).toHaveLength(2);
  });

  it('leaves a launch whose agent is still offline after the grace to its own event', async () => {
    const cloud = clusterOfTwoAndTwoNewcomers();
    cloud.get('i-n2').agentOnlineAt = cloud.clock.now() + 60_000;
    const second = cloud.launchEvent('i-n2');

    await launch(cloud.launchEvent('i-n1'), cloud.deps());

    expect(cloud.commands('join').map((c) => c.instanceId)).toEqual(['i-n1']);
    expect(cloud.actions.get('i-n2')!.state).toBe('open');
    expect(await launch(second, cloud.deps())).toMatchObject({ result: 'continued' });
    expect(cloud.commands('join')[1]!.args).toMatchObject({ Peers: expect.stringContaining(cloud.get('i-n1').node.name) });
  });

  it("founds the cluster with the event's instance and joins the others to it: one cluster", async () => {
    const cloud = new FakeCloud();
    for (const id of ['i-f1', 'i-f2', 'i-f3']) cloud.addLaunching(id, 0);
    const founder = cloud.get('i-f1').node.name;

    const outcome = await launch(cloud.launchEvent('i-f1'), cloud.deps());

    expect(outcome).toMatchObject({ result: 'continued', details: { batch: { 'i-f2': 'continued', 'i-f3': 'continued' } } });
    const joins = cloud.commands('join');
    expect(joins.map((c) => [c.instanceId, (c.args as { Peers: string }).Peers])).toEqual([
      ['i-f1', founder],
      ['i-f2', founder],
      ['i-f3', founder],
    ]);
    expect(joins[1]!.at).toBeGreaterThanOrEqual(joins[0]!.at + cloud.joinMs);
    expect(cloud.commands('applyPolicy').map((c) => c.instanceId)).toEqual(['i-f1']);
    expect(cloud.policies.has('ha-all')).toBe(true);
    expect(cloud.runningMembers()).toHaveLength(3);
    expect(cloud.commands('status')).toHaveLength(0);
  });
});
