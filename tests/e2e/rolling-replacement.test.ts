import { join } from 'node:path';
import type { InstanceRefreshView } from '../../infra/sandbox/cloud/instance-refresh';
import { ConfirmedPublisher } from '../../infra/sandbox/cli/confirmed-publisher';
import { TrackingConsumer } from '../../infra/sandbox/chaos/consumer';
import { runProcess } from '../../infra/sandbox/nodes/process';
import { SANDBOX_CLUSTER, type Sandbox } from '../../infra/sandbox/sandbox';
import { everInstance, expectConvergedCluster, healsOf, inService, launchedSince, lifecyclePath, nodeName, sharedSandbox, waitFor } from './observed';

/*
 * Rolling replacement (#15), as an operator runs it: `warren roll --image-id` against the sandbox's
 * endpoint (the heal function's settings read from Lambda, the requests sent with the SDK), while a
 * client publishes with confirms to a quorum queue and another consumes, both through the load balancer.
 * Auto Scaling's Instance Refresh does the mechanics; warren's hooks decide when each step may go on.
 */

jest.setTimeout(1_200_000);

const QUEUE = 'e2e-roll';
const LAUNCHER = join(__dirname, '../../infra/sandbox/cli/warren.js');
/** a node setting the new image changes: visible on a node as rabbit's channel_max */
const CHANNEL_MAX = 1000;
/** a whole refresh: three replacements, each a join, a sync and a leave */
const ROLL_MS = 900_000;

let sandbox: Sandbox;
/*
 * With the scheduled reconcile on, as deployed (the sandbox's own pace: every minute): a launch whose join
 * fails on every attempt dead-letters after its last retry, before its launch bound; the next reconcile
 * takes over its hook and abandons it past the bound, which is what the launch-abandoned alarm counts.
 */
const RECONCILE_EVERY_MS = 60_000;
sharedSandbox('e2e rolling replacement', 3, (started) => (sandbox = started), '4.3', RECONCILE_EVERY_MS);

/** `warren roll` as a separate process, pointed at the sandbox as the AWS CLI would be. */
async function warrenRoll(args: string[]): Promise<Record<string, any>> {
  // a refresh starts only with its alarms OK; a sandbox younger than a minute has them INSUFFICIENT_DATA,
  // as CloudWatch has a new alarm until its first evaluation (a deployed cluster's are long past it)
  await waitFor('the refresh alarms to be evaluated OK', 180_000, () =>
    sandbox.config.refreshAlarmNames.every((name) => sandbox.group.instanceRefreshes.alarmState(name) === 'OK') ? true : undefined,
  );
  const { url, region } = { url: sandbox.aws.url, region: sandbox.aws.region };
  const { accessKeyId, secretAccessKey } = sandbox.aws.clientOptions().credentials!;
  const result = await runProcess(
    process.execPath,
    [LAUNCHER, 'roll', '--cluster', SANDBOX_CLUSTER, '--region', region, '--endpoint-url', url, '--json', ...args],
    { env: { ...process.env, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey }, timeoutMs: 180_000 },
  );
  if (result.exitCode !== 0) throw new Error(`warren roll ${args.join(' ')} failed (${result.exitCode}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/** The load balancer's AMQP listener with the sandbox's client user, as `sandbox status` prints it. */
function amqpUrl(): string {
  const { host, port } = sandbox.nlb.endpoints().amqp;
  return `amqp://${sandbox.credentials.user}:${sandbox.credentials.password}@${host}:${port}`;
}

function refresh(id: string): InstanceRefreshView {
  const [view] = sandbox.group.instanceRefreshes.describe([id]);
  if (!view) throw new Error(`instance refresh ${id} is unknown`);
  return view;
}

/** Members running as the management API through the load balancer reports them, every second; the fewest seen. */
function watchRunningMembers(): { stop: () => Promise<number> } {
  let fewest = Number.POSITIVE_INFINITY;
  let running = true;
  const { host, port } = sandbox.nlb.endpoints().management;
  const { user, password } = sandbox.credentials;
  const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const loop = (async () => {
    while (running) {
      try {
        const answer = await fetch(`http://${host}:${port}/api/nodes?columns=name,running`, {
          headers: { authorization: auth },
          signal: AbortSignal.timeout(3_000),
        });
        // a node answering while it stops can describe a cluster it is leaving; only whole answers count
        if (answer.ok) fewest = Math.min(fewest, ((await answer.json()) as Array<{ running: boolean }>).filter((node) => node.running).length);
      } catch {
        // the node behind the listener went away mid-request: the next sample asks another
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return fewest;
    },
  };
}

async function channelMax(instanceId: string): Promise<string> {
  const result = await sandbox.host.rabbitmqctl(instanceId, ['eval', 'application:get_env(rabbit, channel_max).']);
  return result.stdout.trim();
}

describe('rolling replacement through Instance Refresh', () => {
  it('every node is replaced once by the new image, under load, with no confirmed message missing', async () => {
    const before = everInstance(sandbox);
    const originals = inService(sandbox);
    const publisher = new ConfirmedPublisher(amqpUrl(), QUEUE);
    await publisher.start();
    const consumer = new TrackingConsumer(amqpUrl(), QUEUE, 'quorum');
    consumer.start();
    const members = watchRunningMembers();

    const dryRun = await warrenRoll(['--image-id', sandbox.launchTemplates.registerImage({ rabbitmqConf: `channel_max = ${CHANNEL_MAX}\n` }), '--dry-run']);
    expect(dryRun.request.Preferences).toMatchObject({ MinHealthyPercentage: 100, InstanceWarmup: 0, AutoRollback: true });
    expect(sandbox.group.instanceRefreshes.describe()).toHaveLength(0);
    const imageId = sandbox.launchTemplates.registerImage({ rabbitmqConf: `channel_max = ${CHANNEL_MAX}\n` });
    const started = await warrenRoll(['--image-id', imageId]);
    expect(started.request).toEqual(dryRun.request);

    const ended = await waitFor(
      'the refresh to end',
      ROLL_MS,
      () =>
        ['Successful', 'Failed', 'Cancelled', 'RollbackSuccessful', 'RollbackFailed'].includes(refresh(started.instanceRefreshId).status)
          ? refresh(started.instanceRefreshId)
          : undefined,
      () => ({ refresh: refresh(started.instanceRefreshId), members: sandbox.group.describe().instances }),
    );
    await expectConvergedCluster(sandbox);
    const fewest = await members.stop();
    await publisher.stop();
    const missing = await consumer.catchUp(publisher.confirmed, 15_000, 120_000);
    await consumer.stop();
    console.log(
      `roll: ${ended.status} in ${Math.round(((ended.endTime ?? Date.now()) - ended.startTime) / 1000)} s; confirmed ${publisher.confirmed.size}, consumed ${consumer.seen.size}, missing ${missing.length}, duplicates ${consumer.duplicates}; fewest running members ${fewest}`,
    );

    expect(ended.status).toBe('Successful');
    expect(missing).toEqual([]);
    expect(publisher.confirmed.size).toBeGreaterThan(100);
    expect(fewest).toBeGreaterThanOrEqual(2);
    // every original replaced exactly once: terminated once, three launches, all of the new image
    for (const id of originals) expect(lifecyclePath(sandbox, id).filter((state) => state === 'Terminated')).toHaveLength(1);
    const launched = launchedSince(sandbox, before);
    expect(launched).toHaveLength(originals.length);
    const now = inService(sandbox);
    expect(now.sort()).toEqual([...launched].sort());
    for (const id of now) {
      expect(sandbox.group.member(id)?.launchTemplate.imageId).toBe(imageId);
      expect(await channelMax(id)).toBe(`{ok,${CHANNEL_MAX}}`);
    }
    expect(sandbox.group.describe().launchTemplate?.version).toBe(String(ended.desiredConfiguration?.launchTemplate?.version));
    // each new member came into service through its launch hook (continued once its replicas had caught up),
    // each original left through its terminate hook, by its event or by a reconcile that took the hook over
    for (const id of now) expect(lifecyclePath(sandbox, id)).toEqual(expect.arrayContaining(['Pending:Wait', 'InService']));
    for (const id of originals) expect(lifecyclePath(sandbox, id)).toEqual(expect.arrayContaining(['Terminating:Wait', 'Terminating:Proceed', 'Terminated']));
    expect(sandbox.timeline.filter((h) => h.kind === 'launch' && h.outcome.startsWith('abandoned'))).toEqual([]);
    // then the leaders were rebalanced over the new members (NodeRebalance, on the refresh's Succeeded event)
    expect(sandbox.timeline.filter((h) => h.kind === 'refresh-succeeded').map((h) => h.outcome)).toContain('acted');
  });

  it('a new image whose nodes cannot join: the refresh stops at the first replacement, rolls back, and the cluster ends as it started', async () => {
    const before = everInstance(sandbox);
    const members = inService(sandbox);
    const names = members.map((id) => nodeName(sandbox, id)).sort();
    const version = sandbox.group.describe().launchTemplate?.version;
    const publisher = new ConfirmedPublisher(amqpUrl(), QUEUE);
    await publisher.start();

    const started = await warrenRoll(['--image-id', sandbox.launchTemplates.registerImage({ erlangCookie: 'NOTTHECLUSTERSCOOKIE' })]);
    const ended = await waitFor(
      'the refresh to roll back',
      ROLL_MS,
      () =>
        ['RollbackSuccessful', 'RollbackFailed', 'Successful', 'Cancelled'].includes(refresh(started.instanceRefreshId).status)
          ? refresh(started.instanceRefreshId)
          : undefined,
      () => ({ refresh: refresh(started.instanceRefreshId), members: sandbox.group.describe().instances }),
    );
    const status = await expectConvergedCluster(sandbox);
    await publisher.stop();
    const drained = await publisher.drain();
    console.log(`broken roll: ${ended.status} (${ended.statusReason}); confirmed ${publisher.confirmed.size}, lost ${drained.lost.length}`);

    expect(ended.status).toBe('RollbackSuccessful');
    expect(drained.lost).toEqual([]);
    // the same members as before: no original was replaced, the group is on its old version
    expect(inService(sandbox).sort()).toEqual([...members].sort());
    expect(status.members.running.sort()).toEqual(names);
    expect(sandbox.group.describe().launchTemplate?.version).toBe(version);
    // what was launched with the broken image was abandoned, never continued, and is gone
    const launched = launchedSince(sandbox, before);
    expect(launched.length).toBeGreaterThan(0);
    for (const id of launched) {
      expect(healsOf(sandbox, id, 'launch').map((h) => h.outcome)).not.toContain('continued');
      expect(lifecyclePath(sandbox, id)).toContain('Terminated');
    }
  });
});
