import { randomUUID } from 'node:crypto';
import { SANDBOX_GROUP, type Sandbox } from '../../infra/sandbox/sandbox';
import { DETAIL_TYPES } from '../../shared/events';
import {
  CONVERGE_MS,
  clusterSeenFrom,
  everInstance,
  expectConvergedCluster,
  healsOf,
  inService,
  launchedSince,
  lifecyclePath,
  nodeName,
  targetStates,
  waitFor,
  sharedSandbox,
} from './observed';
import { membershipStories } from './membership-stories';

// One sandbox for the file: each story starts from the converged cluster the previous one left.
jest.setTimeout(360_000);

let sandbox: Sandbox;

sharedSandbox('e2e healing', 3, (started) => (sandbox = started));

describe('the sandbox heals membership changes end to end', () => {
  membershipStories(() => sandbox);

  it('an alarm on a node replaces its instance through the terminate hook', async () => {
    const before = everInstance(sandbox);
    const victim = inService(sandbox)[0]!;
    const victimNode = nodeName(sandbox, victim);

    sandbox.raiseAlarm('warren-sandbox-node-status-check', victim);
    await waitFor(
      'victim terminated',
      CONVERGE_MS,
      () => (sandbox.ec2.get(victim)?.state === 'terminated' ? true : undefined),
      () => lifecyclePath(sandbox, victim),
    );
    await expectConvergedCluster(sandbox);

    expect(lifecyclePath(sandbox, victim)).toContain('Terminating:Wait');
    expect(healsOf(sandbox, victim, 'alarm').map((h) => h.outcome)).toEqual(['acted']);
    expect(healsOf(sandbox, victim, 'terminate').map((h) => h.outcome)).toContain('continued');
    const seen = await clusterSeenFrom(sandbox, inService(sandbox)[0]!);
    expect(seen.all).not.toContain(victimNode);
    const [replacement, ...more] = launchedSince(sandbox, before);
    expect(more).toEqual([]);
    expect(seen.running).toContain(nodeName(sandbox, replacement!));
    expect(inService(sandbox)).toHaveLength(4);
  });

  it('duplicate lifecycle events and late state-change events still converge; a replayed event changes nothing', async () => {
    const before = everInstance(sandbox);
    const lateMs = 20_000;
    sandbox.bus.faults = {
      duplicate: (event) => event['detail-type'] === DETAIL_TYPES.launchLifecycleAction || event['detail-type'] === DETAIL_TYPES.terminateLifecycleAction,
      delayMs: (event) => (event['detail-type'] === DETAIL_TYPES.instanceStateChange ? lateMs : 0),
    };
    let added: string;
    let victim: string;
    let terminatedAt: number;
    try {
      sandbox.group.setDesiredCapacity(5);
      [added] = launchedSince(sandbox, before) as [string];
      await waitFor(
        'added instance in service',
        CONVERGE_MS,
        () => (inService(sandbox).includes(added) ? true : undefined),
        () => lifecyclePath(sandbox, added),
      );
      victim = inService(sandbox).find((id) => id !== added)!;
      sandbox.group.terminateInstance(victim, true);
      await waitFor(
        'victim terminated',
        CONVERGE_MS,
        () => (sandbox.ec2.get(victim)?.state === 'terminated' ? true : undefined),
        () => lifecyclePath(sandbox, victim),
      );
      terminatedAt = Date.now();
      // the victim's own state changes arrive last, long after its hook was completed
      await waitFor('late terminated event handled', lateMs + 60_000, () =>
        sandbox.timeline.some((h) => h.kind === 'gone' && h.instanceId === victim && h.at >= terminatedAt + lateMs - 1_000) ? true : undefined,
      );
    } finally {
      sandbox.bus.faults = {};
    }
    await expectConvergedCluster(sandbox);

    const duplicated = sandbox.bus.published.filter(
      (e) => e['detail-type'].endsWith('Lifecycle Action') && [added, victim].includes(String(e.detail.EC2InstanceId)),
    );
    expect(duplicated.length).toBeGreaterThanOrEqual(2);
    expect(healsOf(sandbox, added, 'launch').map((h) => h.outcome)).toEqual(['continued']);
    expect(healsOf(sandbox, victim, 'terminate').map((h) => h.outcome)).toEqual(['continued']);
    expect(healsOf(sandbox, victim).filter((h) => h.outcome.startsWith('failed'))).toEqual([]);
    const seen = await clusterSeenFrom(sandbox, added);
    expect(seen.all).not.toContain(nodeName(sandbox, victim));
    expect(seen.running).toContain(nodeName(sandbox, added));

    // at-least-once delivery past the FIFO's deduplication window: the same launch again, under a new id
    const launchEvent = sandbox.bus.published.find((e) => e['detail-type'] === DETAIL_TYPES.launchLifecycleAction && e.detail.EC2InstanceId === added)!;
    sandbox.deliver({ ...launchEvent, id: randomUUID() });
    await sandbox.queue.idle();

    expect(healsOf(sandbox, added, 'launch').map((h) => h.outcome)).toEqual(['continued', 'done: lifecycle action already completed']);
    await expectConvergedCluster(sandbox);
    expect(inService(sandbox)).toHaveLength(4);
    expect(sandbox.queue.deadLetters).toEqual([]);
  });

  it('a launch whose event was lost and whose hook someone else completed is joined by reconcile', async () => {
    const storyStarted = Date.now();
    const before = everInstance(sandbox);
    sandbox.bus.faults = { drop: (event) => event['detail-type'] === DETAIL_TYPES.launchLifecycleAction };
    let added: string;
    try {
      sandbox.group.setDesiredCapacity(5);
      [added] = launchedSince(sandbox, before) as [string];
      await waitFor('launch hook open', CONVERGE_MS, () => sandbox.group.activeActions().find((a) => a.instanceId === added && a.transition === 'launching'));
    } finally {
      sandbox.bus.faults = {};
    }
    sandbox.group.completeLifecycleAction({ groupName: SANDBOX_GROUP, hookName: sandbox.group.launchHook!.name, instanceId: added, result: 'CONTINUE' });

    expect(sandbox.group.member(added)?.lifecycleState).toBe('InService');
    const member = inService(sandbox).find((id) => id !== added)!;
    expect((await clusterSeenFrom(sandbox, member)).all).not.toContain(nodeName(sandbox, added));
    expect(targetStates(sandbox, added)).toEqual({ amqp: 'unused', management: 'unused' });
    expect(healsOf(sandbox, added, 'launch')).toEqual([]);

    // the design registers a reconcile's new joiner on the following tick, once a status verified it
    sandbox.reconcileNow();
    await sandbox.queue.idle();
    expect((await clusterSeenFrom(sandbox, member)).running).toContain(nodeName(sandbox, added));
    sandbox.reconcileNow();
    await sandbox.queue.idle();
    await waitFor(
      'added targets healthy',
      60_000,
      () => (targetStates(sandbox, added).amqp === 'healthy' && targetStates(sandbox, added).management === 'healthy' ? true : undefined),
      () => targetStates(sandbox, added),
    );

    await expectConvergedCluster(sandbox);
    expect(sandbox.timeline.filter((h) => h.kind === 'reconcile' && h.at >= storyStarted).map((h) => h.outcome)).toEqual(['acted', 'acted']);
    expect(sandbox.queue.deadLetters).toEqual([]);
  });

  it('a launch whose first join fails is sent again by the function and joins seconds later, the queue at its deployed settings', async () => {
    const before = everInstance(sandbox);
    const { firstDelaySeconds } = sandbox.config.retry;
    sandbox.runCommand.injectFault({ document: 'NodeJoin', times: 1, effect: { kind: 'fail', stderr: 'e2e: the first join fails' } });
    sandbox.group.setDesiredCapacity(inService(sandbox).length + 1);
    const [added] = launchedSince(sandbox, before) as [string];
    await waitFor(
      'added instance in service',
      CONVERGE_MS,
      () => (inService(sandbox).includes(added) ? true : undefined),
      () => lifecyclePath(sandbox, added),
    );
    await expectConvergedCluster(sandbox);

    const [failed, retried, ...more] = healsOf(sandbox, added, 'launch');
    expect(failed!.outcome).toMatch(/^failed: .*e2e: the first join fails/);
    expect(retried!.outcome).toBe('continued');
    expect(more).toEqual([]);
    // the queue would have held it for its visibility timeout (960 s deployed); the function's own retry is due after the first delay
    const waited = retried!.at - (failed!.at + failed!.durationMs);
    expect(waited).toBeGreaterThanOrEqual(firstDelaySeconds * 1000 - 1_000);
    expect(waited).toBeLessThan(firstDelaySeconds * 1000 + 10_000);
    expect(sandbox.queue.deadLetters).toEqual([]);
  });
});
