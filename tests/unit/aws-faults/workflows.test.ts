import { AwsRequestFailed } from '../../../shared/aws/errors';
import { launch } from '../../../shared/workflows/launch';
import { terminate } from '../../../shared/workflows/terminate';
import { FakeCloud } from '../../support/fake-cloud';

/*
 * The lifecycle workflows when AWS keeps failing after the SDK's retries (AwsRequestFailed from an
 * adapter). Each delivery before the workflow's bound gives the event back for a retry, leaving the
 * hook open; the first delivery past the bound completes the hook itself (ABANDON for a launch,
 * CONTINUE for a terminate). Deliveries are spaced like SQS redeliveries: the heal queue's
 * visibility timeout. The hooks' own heartbeat timeout (infra/cluster.yml: 2100 s, default ABANDON
 * for launch and CONTINUE for terminate) is the last resort when AWS never recovers; warren ends
 * the hook before it whenever AWS lets it.
 */

const VISIBILITY_TIMEOUT_MS = 960_000;
const HOOK_HEARTBEAT_TIMEOUT_MS = 2_100_000;

/** What an adapter throws once the SDK gave up on a throttled call. */
const throttled = (operation: string) =>
  new AwsRequestFailed(operation, Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400, attempts: 5 } }));

/** `port` with `method` failing like AWS throttling `times` times (then working again). */
function failing<P extends object, K extends keyof P>(port: P, method: K, operation: string, times = Number.POSITIVE_INFINITY): P {
  let left = times;
  const original = port[method] as unknown as (...args: unknown[]) => Promise<unknown>;
  return {
    ...port,
    [method]: async (...args: unknown[]) => {
      if (left-- > 0) throw throttled(operation);
      return original(...args);
    },
  };
}

/** SQS delivering the same event again after the visibility timeout, until the workflow stops throwing (at most `receives`). */
async function deliverUntilHandled<T>(cloud: FakeCloud, run: () => Promise<T>, receives = 5): Promise<{ outcome?: T; failures: unknown[] }> {
  const failures: unknown[] = [];
  for (let receive = 1; receive <= receives; receive++) {
    try {
      return { outcome: await run(), failures };
    } catch (error) {
      failures.push(error);
      cloud.clock.advance(VISIBILITY_TIMEOUT_MS);
    }
  }
  return { failures };
}

describe('launch hook while AWS keeps failing', () => {
  function newcomer() {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.addMember('i-b');
    cloud.addLaunching('i-new', 0);
    return cloud;
  }

  it('gives the event back while Auto Scaling throttles, then abandons past the launch bound, before the hook times out', async () => {
    const cloud = newcomer();
    const event = cloud.launchEvent('i-new');
    const inventory = failing(cloud.inventory, 'describeGroup', 'DescribeAutoScalingGroups');

    const { outcome, failures } = await deliverUntilHandled(cloud, () => launch(event, cloud.deps({ inventory })));

    expect(failures).toEqual([expect.any(AwsRequestFailed)]);
    expect(outcome).toMatchObject({ result: 'abandoned' });
    expect(cloud.actions.get('i-new')!.state).toBe('ABANDON');
    const completed = cloud.calls.find((c) => c.op === 'complete')!;
    expect(completed.args).toBe('ABANDON');
    expect(completed.at - event.time).toBeLessThan(HOOK_HEARTBEAT_TIMEOUT_MS);
    expect(cloud.indexOf('elb', 'register', 'i-new')).toBe(-1);
    expect(cloud.metric('LaunchAbandoned')).toBe(1);
  });

  it('never registers nor continues a joined node whose registration keeps failing; abandons it past the bound', async () => {
    const cloud = newcomer();
    const event = cloud.launchEvent('i-new');
    const targets = failing(cloud.targetGroups, 'register', 'RegisterTargets');

    const { outcome, failures } = await deliverUntilHandled(cloud, () => launch(event, cloud.deps({ targets })));

    expect(failures).toHaveLength(1);
    expect(outcome).toMatchObject({ result: 'abandoned' });
    expect(cloud.actions.get('i-new')!.state).toBe('ABANDON');
    expect(cloud.targets.has('i-new')).toBe(false);
  });

  it('retries the completion itself when CompleteLifecycleAction is throttled, and the retry completes', async () => {
    const cloud = newcomer();
    const event = cloud.launchEvent('i-new');
    const lifecycle = failing(cloud.lifecycle, 'complete', 'CompleteLifecycleAction', 1);

    const { outcome, failures } = await deliverUntilHandled(cloud, () => launch(event, cloud.deps({ lifecycle })));

    expect(failures).toEqual([expect.any(AwsRequestFailed)]);
    expect(outcome).toMatchObject({ result: expect.stringMatching(/^(continued|abandoned)$/) });
    expect(cloud.actions.get('i-new')!.state).not.toBe('open');
  });

  it('abandons at the bound even while AWS keeps failing the target calls, and never continues it', async () => {
    const cloud = newcomer();
    const event = cloud.launchEvent('i-new');
    const targets = failing(failing(cloud.targetGroups, 'register', 'RegisterTargets'), 'deregister', 'DeregisterTargets');

    const { outcome, failures } = await deliverUntilHandled(cloud, () => launch(event, cloud.deps({ targets })));

    // the failing deregister no longer keeps the hook open until its heartbeat timeout
    expect(failures.length).toBeGreaterThanOrEqual(1);
    for (const failure of failures) expect(failure).toBeInstanceOf(AwsRequestFailed);
    expect(outcome).toMatchObject({ result: 'abandoned' });
    expect(cloud.calls.filter((c) => c.op === 'complete' && c.args === 'CONTINUE')).toEqual([]);
    expect(cloud.actions.get('i-new')!.state).toBe('ABANDON');
  });
});

describe('terminate hook while AWS keeps failing', () => {
  function oneLeaving() {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.addMember('i-b');
    cloud.addMember('i-c');
    cloud.startTerminating('i-c');
    return cloud;
  }

  it('gives the event back while ELB throttles DeregisterTargets, then continues past the leave bound, before the hook times out', async () => {
    const cloud = oneLeaving();
    const event = cloud.terminateEvent('i-c');
    const targets = failing(cloud.targetGroups, 'deregister', 'DeregisterTargets');

    const { outcome, failures } = await deliverUntilHandled(cloud, () => terminate(event, cloud.deps({ targets })));

    // 1800 s leave bound: deliveries at 0 s and 960 s are retried, the one at 1920 s completes
    expect(failures).toHaveLength(2);
    expect(outcome).toMatchObject({ result: 'continued', reason: expect.stringMatching(/unreachable/) });
    expect(cloud.actions.get('i-c')!.state).toBe('CONTINUE');
    const completed = cloud.calls.find((c) => c.op === 'complete')!;
    expect(completed.at - event.time).toBeLessThan(HOOK_HEARTBEAT_TIMEOUT_MS);
    expect(cloud.metric('LeaveUnreachable')).toBe(1);
    // nothing was stopped or forgotten: the gone path forgets the node once EC2 reports it terminated
    expect(cloud.commands('leave')).toEqual([]);
    expect(cloud.commands('forget')).toEqual([]);
  });

  it('does the same when SSM throttles SendCommand for the leave', async () => {
    const cloud = oneLeaving();
    const event = cloud.terminateEvent('i-c');
    const run = cloud.nodes.run;
    const nodes = {
      ...cloud.nodes,
      run: (async (id: string, operation: string, params: unknown) => {
        if (operation === 'leave') throw throttled('SendCommand');
        return (run as (...args: unknown[]) => Promise<unknown>)(id, operation, params);
      }) as typeof cloud.nodes.run,
    };

    const { outcome, failures } = await deliverUntilHandled(cloud, () => terminate(event, cloud.deps({ nodes })));

    expect(failures).toHaveLength(2);
    expect(outcome).toMatchObject({ result: 'continued' });
    expect(cloud.actions.get('i-c')!.state).toBe('CONTINUE');
    expect(cloud.get('i-c').node.member).toBe(true);
  });

  it('retries the completion itself when CompleteLifecycleAction is throttled; the retry finds the node gone and completes', async () => {
    const cloud = oneLeaving();
    const event = cloud.terminateEvent('i-c');
    const leaving = cloud.get('i-c').node.name;
    const lifecycle = failing(cloud.lifecycle, 'complete', 'CompleteLifecycleAction', 1);

    const { outcome, failures } = await deliverUntilHandled(cloud, () => terminate(event, cloud.deps({ lifecycle })));

    expect(failures).toEqual([expect.any(AwsRequestFailed)]);
    expect(outcome).toMatchObject({ result: 'continued' });
    expect(cloud.actions.get('i-c')!.state).toBe('CONTINUE');
    expect(cloud.allMembers()).not.toContain(leaving);
  });
});
