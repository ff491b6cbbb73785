import { BudgetExhausted, EventSkipped } from '../../../shared/errors';
import { launch } from '../../../shared/workflows/launch';
import { resetPolicyNotes } from '../../../shared/workflows/policy-choice';
import { testConfig } from '../../support/config';
import { FakeCloud } from '../../support/fake-cloud';

beforeEach(resetPolicyNotes);

describe('launch workflow', () => {
  /** tags 'node-name': the members were joined before warren wrote the version tag */
  function clusterOfTwoAndANewcomer(config = testConfig(), tags: 'both' | 'node-name' = 'both') {
    const cloud = new FakeCloud(config);
    cloud.addMember('i-a', '3.10.8', tags);
    cloud.addMember('i-b', '3.10.8', tags);
    cloud.addLaunching('i-new');
    return cloud;
  }

  it('joins the newcomer with the running members as peers, then serves it and continues', async () => {
    const cloud = clusterOfTwoAndANewcomer();

    const outcome = await launch(cloud.launchEvent('i-new'), cloud.deps());

    expect(outcome.result).toBe('continued');
    const node = cloud.get('i-new').node.name;
    expect(cloud.runningMembers()).toContain(node);
    expect(cloud.get('i-new').nodeTag).toBe(node);
    expect(cloud.targets.get('i-new')).toBe('healthy');
    expect(cloud.actions.get('i-new')!.state).toBe('CONTINUE');
    const join = cloud.commands('join');
    expect(join).toHaveLength(1);
    expect(join[0]!.args).toMatchObject({
      Peers: [cloud.get('i-a').node.name, cloud.get('i-b').node.name].join(','),
      GrowQuorum: 'true',
      PolicyName: 'ha-all',
    });
  });

  it('names the peers and the version from the tags: one command, on the new node, none elsewhere', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a', '4.0.5', 'both');
    cloud.addMember('i-b', '4.0.5', 'both');
    cloud.addLaunching('i-new', 0, '4.0.5');

    const outcome = await launch(cloud.launchEvent('i-new'), cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.commands().map((c) => `${c.op}@${c.instanceId}`)).toEqual(['join@i-new']);
    expect(cloud.commands('join')[0]!.args).toMatchObject({
      Peers: `${cloud.get('i-a').node.name},${cloud.get('i-b').node.name}`,
      PolicyName: 'warren-quorum',
      DefaultQueueType: 'quorum',
    });
  });

  it('abandons at once, changing nothing, a node whose release series cannot join the cluster (4.0 into 4.3)', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a', '4.3.6', 'both');
    cloud.addMember('i-b', '4.3.6', 'both');
    cloud.addLaunching('i-new', 0, '4.0.5');

    const outcome = await launch(cloud.launchEvent('i-new'), cloud.deps());

    expect(outcome).toMatchObject({ result: 'abandoned', reason: expect.stringContaining('RabbitMQ 4.0.5 cannot join') });
    expect(cloud.commands('join')[0]!.args).toMatchObject({ JoinableSeries: '4.2,4.3,4.4' });
    expect(cloud.commands('join')).toHaveLength(1);
    expect(cloud.actions.get('i-new')!.state).toBe('ABANDON');
    expect(cloud.runningMembers()).not.toContain(cloud.get('i-new').node.name);
    expect(cloud.targets.has('i-new')).toBe(false);
  });

  it('holds a join, changing nothing, while Khepri has no running majority, and joins on the retry once it is recovered', async () => {
    const cloud = new FakeCloud();
    cloud.metadataStore = 'khepri';
    for (const id of ['i-a', 'i-b', 'i-c']) cloud.addMember(id, '4.3.6', 'both');
    cloud.addLaunching('i-new', 0, '4.3.6');
    cloud.get('i-b').node.running = false;
    cloud.get('i-c').node.running = false;

    await expect(launch(cloud.launchEvent('i-new'), cloud.deps())).rejects.toThrow(/no running majority/);

    expect(cloud.metric('JoinHeldMajorityLost')).toBe(1);
    expect(cloud.get('i-new').node.member).toBe(false);
    expect(cloud.indexOf('elb', 'register', 'i-new')).toBe(-1);
    expect(cloud.actions.get('i-new')!.state).toBe('open');

    // a majority back (here a lost member restarts; in AWS, the recovery): the retry joins
    cloud.get('i-b').node.running = true;
    await expect(launch(cloud.launchEvent('i-new'), cloud.deps())).resolves.toMatchObject({ result: 'continued' });
    expect(cloud.runningMembers()).toContain(cloud.get('i-new').node.name);
  });

  it('joins a node one series away: the rolling upgrade 4.2 → 4.3', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a', '4.2.1', 'both');
    cloud.addMember('i-b', '4.2.1', 'both');
    cloud.addLaunching('i-new', 0, '4.3.6');

    expect((await launch(cloud.launchEvent('i-new'), cloud.deps())).result).toBe('continued');
  });

  it('asks a seed for the members and the version when no member carries the version tag yet', async () => {
    const cloud = clusterOfTwoAndANewcomer(testConfig(), 'node-name');

    const outcome = await launch(cloud.launchEvent('i-new'), cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.commands().map((c) => `${c.op}@${c.instanceId}`)).toEqual(['status@i-a', 'join@i-new']);
    expect(cloud.commands('join')[0]!.args).toMatchObject({
      Peers: cloud
        .runningMembers()
        .filter((n) => n !== cloud.get('i-new').node.name)
        .join(','),
      PolicyName: 'ha-all',
    });
  });

  it('asks a seed while the tagged versions differ in major (an upgrade under way)', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a', '3.13.7', 'both');
    cloud.addMember('i-b', '4.0.5', 'both');
    cloud.addLaunching('i-new', 0, '3.13.7');

    await launch(cloud.launchEvent('i-new'), cloud.deps());

    expect(cloud.commands().map((c) => `${c.op}@${c.instanceId}`)).toEqual(['status@i-a', 'join@i-new']);
  });

  it('leaves an instance never proven a member out of the tag-named peers', async () => {
    const cloud = clusterOfTwoAndANewcomer();
    const stranger = cloud.addInstance('i-stranger', 'InService');
    stranger.node.running = true;

    await launch(cloud.launchEvent('i-new'), cloud.deps());

    expect(String((cloud.commands('join')[0]!.args as { Peers: string }).Peers)).not.toContain(stranger.node.name);
    expect(cloud.commands('status')).toHaveLength(0);
  });

  it('writes the version the verified join reported next to the node name, in one call', async () => {
    const cloud = clusterOfTwoAndANewcomer(testConfig(), 'node-name');

    await launch(cloud.launchEvent('i-new'), cloud.deps());

    const tags = cloud.calls.filter((c) => c.op === 'tagNodeName');
    expect(tags).toEqual([expect.objectContaining({ instanceId: 'i-new', args: { nodeName: cloud.get('i-new').node.name, rabbitmqVersion: '3.10.8' } })]);
    expect(cloud.get('i-new').versionTag).toBe('3.10.8');
  });

  it('registers the target only after the join was verified and the node tagged (invariant 4)', async () => {
    const cloud = clusterOfTwoAndANewcomer();

    await launch(cloud.launchEvent('i-new'), cloud.deps());

    const join = cloud.indexOf('ssm', 'join', 'i-new');
    const tag = cloud.indexOf('ec2', 'tagNodeName', 'i-new');
    const register = cloud.indexOf('elb', 'register', 'i-new');
    expect(join).toBeGreaterThanOrEqual(0);
    expect(tag).toBeGreaterThan(join);
    expect(register).toBeGreaterThan(tag);
  });

  it('never registers a node whose join did not make it a running member, and abandons at the bound (invariant 4)', async () => {
    const cloud = clusterOfTwoAndANewcomer();
    cloud.get('i-new').joinFailsSilently = true;
    const event = cloud.launchEvent('i-new');

    await expect(launch(event, cloud.deps())).rejects.toThrow(/not among the running members/);
    cloud.clock.advance(cloud.config.bounds.launchSeconds * 1000);
    const outcome = await launch(event, cloud.deps());

    expect(outcome.result).toBe('abandoned');
    expect(cloud.indexOf('elb', 'register', 'i-new')).toBe(-1);
    expect(cloud.actions.get('i-new')!.state).toBe('ABANDON');
    expect(cloud.metric('LaunchAbandoned')).toBe(1);
  });

  /** The newcomer as an earlier attempt left it (tagged after a verified join), its bound now passed. */
  function taggedNewcomerPastItsBound(target: 'healthy' | 'unhealthy') {
    const cloud = clusterOfTwoAndANewcomer();
    const newcomer = cloud.get('i-new');
    Object.assign(newcomer.node, { running: true, member: true });
    Object.assign(newcomer, { nodeTag: newcomer.node.name, versionTag: '3.10.8' });
    cloud.targets.set('i-new', target);
    const event = cloud.launchEvent('i-new');
    cloud.clock.advance(cloud.config.bounds.launchSeconds * 1000);
    return { cloud, event };
  }

  it('past the bound, continues a verified member that serves (an earlier CONTINUE failed) instead of abandoning it', async () => {
    const { cloud, event } = taggedNewcomerPastItsBound('healthy');

    const outcome = await launch(event, cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.actions.get('i-new')!.state).toBe('CONTINUE');
    expect(cloud.indexOf('elb', 'deregister', 'i-new')).toBe(-1);
    expect(cloud.commands()).toHaveLength(0);
  });

  it('past the bound, finishes the health wait of a registered verified member instead of abandoning it', async () => {
    const { cloud, event } = taggedNewcomerPastItsBound('unhealthy');

    const outcome = await launch(event, cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.actions.get('i-new')!.state).toBe('CONTINUE');
    expect(cloud.targets.get('i-new')).toBe('healthy');
    expect(cloud.commands()).toHaveLength(0);
  });

  it('past the bound, abandons a tagged instance that was never registered', async () => {
    const { cloud, event } = taggedNewcomerPastItsBound('unhealthy');
    cloud.targets.delete('i-new');

    const outcome = await launch(event, cloud.deps());

    expect(outcome.result).toBe('abandoned');
    expect(cloud.actions.get('i-new')!.state).toBe('ABANDON');
  });

  it('abandons even when deregistering the instance fails, so the hook does not wait for its timeout (invariant 5)', async () => {
    const cloud = clusterOfTwoAndANewcomer();
    const event = cloud.launchEvent('i-new');
    cloud.clock.advance(cloud.config.bounds.launchSeconds * 1000);
    const targets = { ...cloud.targetGroups, deregister: async () => Promise.reject(new Error('Throttling: Rate exceeded')) };

    const outcome = await launch(event, cloud.deps({ targets }));

    expect(outcome.result).toBe('abandoned');
    expect(cloud.actions.get('i-new')!.state).toBe('ABANDON');
  });

  it('treats a repeated event as a no-op once the action is completed (invariants 5 and 6)', async () => {
    const cloud = clusterOfTwoAndANewcomer();
    const event = cloud.launchEvent('i-new');
    await launch(event, cloud.deps());
    const callsAfterFirst = cloud.calls.length;

    const outcome = await launch(event, cloud.deps());

    expect(outcome.result).toBe('done');
    const repeated = cloud.calls.slice(callsAfterFirst).map((c) => c.op);
    expect(repeated).toEqual(['heartbeat']);
    expect(cloud.actions.get('i-new')!.state).toBe('CONTINUE');
  });

  it('falls back to the next seed when the first does not answer', async () => {
    const cloud = clusterOfTwoAndANewcomer(testConfig(), 'node-name');
    cloud.failCommand('i-a', 'status');

    const outcome = await launch(cloud.launchEvent('i-new'), cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.commands('status').map((c) => c.instanceId)).toEqual(['i-a', 'i-b']);
    expect(cloud.runningMembers()).toHaveLength(3);
  });

  it('founds the cluster when the group has no other member, and applies the 3.x policy it could not send', async () => {
    const cloud = new FakeCloud();
    cloud.addLaunching('i-first');

    const outcome = await launch(cloud.launchEvent('i-first'), cloud.deps());

    expect(outcome.result).toBe('continued');
    const own = cloud.get('i-first').node.name;
    expect(cloud.commands('join')[0]!.args).toMatchObject({ Peers: own, PolicyName: '' });
    expect(cloud.commands('status')).toHaveLength(0);
    expect(cloud.commands('applyPolicy')[0]!.args).toMatchObject({ PolicyName: 'ha-all', DefaultQueueType: '' });
    expect(cloud.policies.has('ha-all')).toBe(true);
    expect(cloud.runningMembers()).toEqual([own]);
  });

  it('does not found a second cluster when members exist but none answers (no split brain)', async () => {
    const cloud = clusterOfTwoAndANewcomer(testConfig(), 'node-name');
    cloud.get('i-a').reachable = false;
    cloud.get('i-b').reachable = false;

    await expect(launch(cloud.launchEvent('i-new'), cloud.deps())).rejects.toThrow(/not founding a new cluster/);

    expect(cloud.commands('join')).toHaveLength(0);
    expect(cloud.actions.get('i-new')!.state).toBe('open');
  });

  it('does not found a second cluster when the tagged members are down: the join names only them, fails, and is retried', async () => {
    const cloud = clusterOfTwoAndANewcomer();
    cloud.get('i-a').node.running = false;
    cloud.get('i-b').node.running = false;

    await expect(launch(cloud.launchEvent('i-new'), cloud.deps())).rejects.toThrow(/no peer/);

    expect(cloud.commands('join')[0]!.args).toMatchObject({ Peers: `${cloud.get('i-a').node.name},${cloud.get('i-b').node.name}` });
    expect(cloud.get('i-new').node.member).toBe(false);
    expect(cloud.indexOf('elb', 'register', 'i-new')).toBe(-1);
    expect(cloud.actions.get('i-new')!.state).toBe('open');
  });

  it('abandons when the agent never comes online within its bound', async () => {
    const cloud = new FakeCloud(testConfig({ AGENT_ONLINE_TIMEOUT_SECONDS: '120' }));
    cloud.addMember('i-a');
    cloud.addLaunching('i-new', 3_600_000);
    const event = cloud.launchEvent('i-new');

    const outcome = await launch(event, cloud.deps());

    expect(outcome.result).toBe('abandoned');
    expect(cloud.clock.now() - event.time).toBeGreaterThanOrEqual(120_000);
    expect(cloud.commands('join')).toHaveLength(0);
    expect(cloud.indexOf('elb', 'deregister', 'i-new')).toBeGreaterThanOrEqual(0);
    expect(cloud.actions.get('i-new')!.state).toBe('ABANDON');
  });

  it('sends the HA policy and no default queue type with a join to a 3.x cluster', async () => {
    const cloud = clusterOfTwoAndANewcomer();

    await launch(cloud.launchEvent('i-new'), cloud.deps());

    expect(cloud.commands('join')[0]!.args).toMatchObject({
      PolicyName: 'ha-all',
      PolicyDefinition: '{"ha-mode":"all","ha-sync-mode":"automatic"}',
      DefaultQueueType: '',
    });
    expect(cloud.defaultQueueType).toBe('');
  });

  it('sends the quorum policy and the default queue type with a join to a 4.x cluster, and no mirroring key', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a', '4.0.5');
    cloud.addLaunching('i-new', 0, '4.0.5');

    const outcome = await launch(cloud.launchEvent('i-new'), cloud.deps());

    expect(outcome.result).toBe('continued');
    const join = cloud.commands('join')[0]!.args;
    expect(join).toMatchObject({
      PolicyName: 'warren-quorum',
      PolicyPattern: '.*',
      PolicyDefinition: '{"queue-leader-locator":"balanced"}',
      DefaultQueueType: 'quorum',
    });
    expect(JSON.stringify(join)).not.toContain('ha-');
    expect([...cloud.policies]).toEqual(['warren-quorum']);
    expect(cloud.defaultQueueType).toBe('quorum');
  });

  it('warns once per process that the HA mirroring keys are ignored on 4.x, with the version', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a', '4.0.5');
    cloud.addLaunching('i-new', 0, '4.0.5');
    cloud.addLaunching('i-next', 0, '4.0.5');

    await launch(cloud.launchEvent('i-new'), cloud.deps());
    await launch(cloud.launchEvent('i-next'), cloud.deps());

    expect(cloud.commands('join')).toHaveLength(2);
    const warnings = cloud.logs.filter((l) => l.level === 'warn' && /mirroring keys/.test(String(l.extra?.note)));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.extra).toMatchObject({ version: '4.0.5', note: expect.stringMatching(/ha-mode, ha-sync-mode\) are ignored on RabbitMQ 4\.0\.5/) });
  });

  it('founds a 4.x cluster and applies the quorum policy and default queue type it could not send', async () => {
    const cloud = new FakeCloud();
    cloud.addLaunching('i-first', 0, '4.0.5');

    const outcome = await launch(cloud.launchEvent('i-first'), cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.commands().map((c) => c.op)).toEqual(['join', 'applyPolicy']);
    expect(cloud.commands('applyPolicy')[0]!.args).toMatchObject({ PolicyName: 'warren-quorum', DefaultQueueType: 'quorum' });
    expect([...cloud.policies]).toEqual(['warren-quorum']);
    expect(cloud.defaultQueueType).toBe('quorum');
  });

  it('founds a 4.x cluster with no extra command when nothing is configured for 4.x', async () => {
    const cloud = new FakeCloud(testConfig({ QUORUM_POLICY_NAME: '', DEFAULT_QUEUE_TYPE: '' }));
    cloud.addLaunching('i-first', 0, '4.0.5');

    await launch(cloud.launchEvent('i-first'), cloud.deps());

    expect(cloud.commands().map((c) => c.op)).toEqual(['join']);
  });

  it('heartbeats the hook while a slow join runs', async () => {
    const cloud = clusterOfTwoAndANewcomer();
    cloud.joinMs = 200_000;

    await launch(cloud.launchEvent('i-new'), cloud.deps());

    const joinAt = cloud.calls[cloud.indexOf('ssm', 'join', 'i-new')]!.at;
    const beatsDuringJoin = cloud.calls.filter((c) => c.op === 'heartbeat' && c.at > joinAt && c.at <= joinAt + 200_000);
    expect(beatsDuringJoin.length).toBeGreaterThanOrEqual(3);
  });

  it('stops without registering when the hook was completed elsewhere mid-join', async () => {
    const cloud = clusterOfTwoAndANewcomer();
    cloud.joinMs = 200_000;
    void cloud.clock.sleep(100_000).then(() => {
      cloud.actions.get('i-new')!.state = 'CONTINUE';
    });

    const outcome = await launch(cloud.launchEvent('i-new'), cloud.deps());

    expect(outcome.result).toBe('done');
    expect(cloud.indexOf('elb', 'register', 'i-new')).toBe(-1);
  });

  it('gives the event back when the invocation runs out of time, and the retry resumes within the same bound', async () => {
    const cloud = clusterOfTwoAndANewcomer();
    cloud.get('i-new').agentOnlineAt = cloud.clock.now() + 200_000;
    const event = cloud.launchEvent('i-new');

    await expect(launch(event, cloud.deps({ deadline: cloud.clock.now() + 60_000 }))).rejects.toBeInstanceOf(BudgetExhausted);
    cloud.clock.advance(100_000);
    const outcome = await launch(event, cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.clock.now() - event.time).toBeLessThan(cloud.config.bounds.launchSeconds * 1000);
  });

  it('skips a lifecycle action of another group without touching anything', async () => {
    const cloud = clusterOfTwoAndANewcomer();

    await expect(launch(cloud.launchEvent('i-new', 'other-asg'), cloud.deps())).rejects.toBeInstanceOf(EventSkipped);

    expect(cloud.calls).toHaveLength(0);
  });
});
