import { loadFixture } from '../../events/load';
import { deployed, deployedConfig } from '../../support/deployed';
import { healFunctionOn } from '../../support/heal-function';
import { GROUP } from '../../support/config';
import { FakeCloud } from '../../support/fake-cloud';

/*
 * The heal function behind its FIFO queue at the settings serverless.yml and infra/cluster.yml deploy
 * (visibility timeout, redrive, function timeout, retry delays, launch bound, health checks, hook
 * heartbeat timeout), on virtual time: what a real account would do with a failure, a slow load
 * balancer or a burst of alarms.
 */

const MEMBERS = ['i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa2', 'i-0aaaaaaaaaaaaaaa3'];
const NEW = 'i-0bbbbbbbbbbbbbbb1';
const RUNBOOK = JSON.stringify([{ alarm: 'warren-node-', match: 'prefix', action: 'replace-instance' }]);

function deployedCluster() {
  const cloud = new FakeCloud(
    deployedConfig({ ASG_NAME: GROUP, ALARM_RUNBOOK: RUNBOOK, HEAL_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/heal.fifo' }),
  );
  for (const id of MEMBERS) cloud.addMember(id, '3.10.8', 'both');
  return cloud;
}

function launchEvent(cloud: FakeCloud, instanceId: string) {
  const event = loadFixture('asg-launch-lifecycle-action');
  Object.assign(event, { id: `launch-${instanceId}`, time: new Date(cloud.clock.now()).toISOString() });
  Object.assign(event.detail, { EC2InstanceId: instanceId, AutoScalingGroupName: GROUP, LifecycleHookName: cloud.config.lifecycleHooks.launch });
  return event;
}

function terminateEvent(cloud: FakeCloud, instanceId: string) {
  const event = loadFixture('asg-terminate-lifecycle-action');
  Object.assign(event, { id: `terminate-${instanceId}`, time: new Date(cloud.clock.now()).toISOString() });
  Object.assign(event.detail, { EC2InstanceId: instanceId, AutoScalingGroupName: GROUP, LifecycleHookName: cloud.config.lifecycleHooks.terminate });
  return event;
}

function alarmEvent(cloud: FakeCloud, instanceId: string, n: number) {
  const event = loadFixture('cloudwatch-alarm-single-metric');
  Object.assign(event, { id: `alarm-${n}`, time: new Date(cloud.clock.now()).toISOString() });
  event.detail.alarmName = `warren-node-status-${n}`;
  event.detail.state.value = 'ALARM';
  event.detail.configuration.metrics[0].metricStat.metric.dimensions.InstanceId = instanceId;
  return event;
}

const joinsOf = (cloud: FakeCloud, id: string) => cloud.calls.filter((c) => c.port === 'ssm' && c.op === 'join' && c.instanceId === id);
const retryDelayMs = (attempt: number, cloud: FakeCloud) => cloud.config.retry.firstDelaySeconds * 2 ** (attempt - 1) * 1000;

describe('healing at the deployed settings', () => {
  it('reads settings under which a redelivery by the visibility timeout alone would come after the launch bound', () => {
    // the premise of the stories below: without warren's own retries a failed launch could never be retried in time
    expect(deployed.queue.visibilityTimeoutSeconds).toBeGreaterThan(deployedConfig().bounds.launchSeconds);
    expect(deployed.queue.visibilityTimeoutSeconds).toBeGreaterThan(deployed.functionTimeoutSeconds.heal!);
  });

  it('retries a launch whose join failed once within seconds, and continues it', async () => {
    const cloud = deployedCluster();
    cloud.addLaunching(NEW, 5_000);
    cloud.failCommand(NEW, 'join', 1);
    const heal = healFunctionOn(cloud);
    const start = cloud.clock.now();

    heal.deliver(launchEvent(cloud, NEW));
    await heal.queue.idle();

    expect(cloud.actions.get(NEW)!.state).toBe('CONTINUE');
    const [first, second] = joinsOf(cloud, NEW);
    expect(second!.at - first!.at).toBeLessThanOrEqual(retryDelayMs(1, cloud) + 1_000);
    expect(cloud.clock.now() - start).toBeLessThan(cloud.config.bounds.launchSeconds * 1000);
    expect(cloud.metric('HealRetries')).toBe(1);
    expect(heal.queue.deadLetters).toEqual([]);
  });

  it("delivers the cluster's other events while one event waits for its retry", async () => {
    const cloud = deployedCluster();
    cloud.addLaunching(NEW, 0);
    cloud.failCommand(NEW, 'join', 2);
    cloud.startTerminating(MEMBERS[2]!);
    const heal = healFunctionOn(cloud);

    heal.deliver(launchEvent(cloud, NEW));
    heal.deliver(terminateEvent(cloud, MEMBERS[2]!));
    await heal.queue.idle();

    expect(heal.handled.map((h) => `${JSON.parse(h.body).id} ${h.outcome.split(':')[0]}`)).toEqual([
      `launch-${NEW} failed`,
      `terminate-${MEMBERS[2]} continued`,
      `launch-${NEW} failed`,
      `launch-${NEW} continued`,
    ]);
    expect(cloud.actions.get(MEMBERS[2]!)!.state).toBe('CONTINUE');
    expect(cloud.actions.get(NEW)!.state).toBe('CONTINUE');
  });

  it('dead-letters a poisoned event after its attempts, each retry seconds apart, without holding the others back', async () => {
    const cloud = deployedCluster();
    cloud.addLaunching(NEW, 0);
    cloud.failCommand(NEW, 'join');
    cloud.startTerminating(MEMBERS[2]!);
    const heal = healFunctionOn(cloud);
    const start = cloud.clock.now();

    heal.deliver(launchEvent(cloud, NEW));
    heal.deliver(terminateEvent(cloud, MEMBERS[2]!));
    await heal.queue.idle();

    const { maxAttempts } = cloud.config.retry;
    expect(joinsOf(cloud, NEW)).toHaveLength(maxAttempts);
    expect(heal.queue.deadLetters).toEqual([expect.objectContaining({ receiveCount: maxAttempts, error: expect.stringContaining('NodeCommandFailed') })]);
    expect(cloud.metric('HealDeadLettered')).toBe(1);
    const allDelays = Array.from({ length: maxAttempts - 1 }, (_, n) => retryDelayMs(n + 1, cloud)).reduce((a, b) => a + b, 0);
    expect(cloud.clock.now() - start).toBeLessThan(allDelays + maxAttempts * 60_000);
    expect(heal.handled.findIndex((h) => JSON.parse(h.body).id.startsWith('terminate'))).toBe(1);
  });

  it('continues a member whose registration takes minutes to turn healthy, past its launch bound, heartbeating meanwhile', async () => {
    const cloud = deployedCluster();
    const { amqp } = deployed.targetGroups;
    // NLB: "a few minutes for the registration process to complete and health checks to start"
    cloud.healthyAfterMs = 180_000 + amqp.intervalSeconds * amqp.healthyThreshold * 1000;
    // a slow first boot: the join is verified shortly before the launch bound
    cloud.joinMs = cloud.config.bounds.launchSeconds * 1000 - 60_000;
    cloud.addLaunching(NEW, 0);
    const heal = healFunctionOn(cloud);
    const start = cloud.clock.now();

    heal.deliver(launchEvent(cloud, NEW));
    await heal.queue.idle();

    expect(cloud.actions.get(NEW)!.state).toBe('CONTINUE');
    expect(cloud.targets.get(NEW)).toBe('healthy');
    const completed = cloud.calls.find((c) => c.op === 'complete' && c.instanceId === NEW)!;
    expect(completed.at - start).toBeGreaterThan(cloud.config.bounds.launchSeconds * 1000);
    const beats = [start, ...cloud.calls.filter((c) => c.op === 'heartbeat' && c.instanceId === NEW).map((c) => c.at), completed.at];
    const longestSilence = Math.max(...beats.slice(1).map((at, n) => at - beats[n]!));
    expect(longestSilence).toBeLessThanOrEqual(cloud.config.bounds.heartbeatIntervalSeconds * 1000);
    expect(longestSilence).toBeLessThan(deployed.hooks.launch.heartbeatTimeoutSeconds * 1000);
    expect(cloud.metric('LaunchContinuedNotHealthy')).toBe(0);
  });

  it('continues, with a metric, a verified member whose targets are still not healthy at the end of its health bound', async () => {
    const cloud = deployedCluster();
    cloud.healthyAfterMs = (cloud.config.bounds.targetHealthySeconds + 60) * 1000;
    cloud.addLaunching(NEW, 0);
    const heal = healFunctionOn(cloud);

    heal.deliver(launchEvent(cloud, NEW));
    await heal.queue.idle();

    expect(cloud.actions.get(NEW)!.state).toBe('CONTINUE');
    expect(cloud.targets.get(NEW)).toBe('initial');
    expect(cloud.metric('LaunchContinuedNotHealthy')).toBe(1);
    expect(cloud.metric('LaunchAbandoned')).toBe(0);
  });

  it('replaces one instance for a burst of alarms: runbook decisions run one at a time in the cluster group', async () => {
    const cloud = deployedCluster();
    const heal = healFunctionOn(cloud);

    heal.deliver(alarmEvent(cloud, MEMBERS[0]!, 1));
    heal.deliver(alarmEvent(cloud, MEMBERS[1]!, 2));
    await heal.queue.idle();

    expect(cloud.calls.filter((c) => c.op === 'markUnhealthy').map((c) => c.instanceId)).toEqual([MEMBERS[0]]);
    expect(heal.handled.map((h) => h.outcome)).toEqual(['acted', 'refused']);
  });
});
