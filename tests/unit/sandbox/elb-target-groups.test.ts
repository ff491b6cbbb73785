import { elbv2Api } from '../../../infra/sandbox/aws/elbv2-api';
import { LocalNetworkLoadBalancer } from '../../../infra/sandbox/cloud/elb';
import { AwsRequestFailed } from '../../../shared/aws/errors';
import { Elbv2TargetGroups } from '../../../shared/aws/target-groups';
import { WaitTimedOut } from '../../../shared/errors';
import type { TargetState } from '../../../shared/ports';
import { clientsFor, closeAll, eventually, FAST_POLL, startEndpoint, TARGET_GROUP_ARNS } from './aws-endpoint-helpers';
import { EchoServer, FAST_HEALTH_CHECKS, askOnce, closedPort } from './elb-echo';

/*
 * The TargetGroups port as the sandbox serves it: warren's ELBv2 adapter over the local endpoint,
 * whose two target groups are the local NLB's. Its waits are the SDK's waiters, which bound a wait
 * by at least minDelay + 1 s in the adapter (the SDK refuses a bound at or below minDelay): the
 * timeouts below are 1.1 s for that reason.
 */

jest.setTimeout(15_000);

const echoes: EchoServer[] = [];
let nlb: LocalNetworkLoadBalancer | undefined;

/** i-a answers on both of its ports; the management port is a second echo so the groups are told apart. */
async function cluster(extra: Record<string, { amqpPort: number; managementPort: number }> = {}) {
  const amqp = await EchoServer.start('amqp');
  const management = await EchoServer.start('management');
  echoes.push(amqp, management);
  const book: Record<string, { amqpPort: number; managementPort: number }> = {
    'i-a': { amqpPort: amqp.port, managementPort: management.port },
    ...extra,
  };
  nlb = await LocalNetworkLoadBalancer.start({
    resolve: (instanceId) => (book[instanceId] ? { ip: '127.0.0.1', ...book[instanceId]! } : undefined),
    settings: { deregistrationDelayMs: 300, healthCheck: FAST_HEALTH_CHECKS },
  });
  const endpoint = await startEndpoint([
    elbv2Api([
      { arn: TARGET_GROUP_ARNS.amqp, group: nlb.groups.amqp },
      { arn: TARGET_GROUP_ARNS.management, group: nlb.groups.management },
    ]),
  ]);
  const clients = clientsFor(endpoint);
  const targets = new Elbv2TargetGroups({ targetGroups: TARGET_GROUP_ARNS }, clients, { poll: FAST_POLL });
  return { targets, nlb, endpoint, management };
}

afterEach(async () => {
  await closeAll();
  await nlb?.close();
  nlb = undefined;
  await Promise.all(echoes.splice(0).map((server) => server.destroy()));
});

describe('Elbv2TargetGroups over the local endpoint', () => {
  it('registers an instance in both groups, each on its own port, and waits until both say healthy', async () => {
    const { targets, nlb } = await cluster();

    await targets.register('i-a');
    await targets.waitHealthy('i-a', 3);

    const states = await targets.describe();
    expect(states.amqp).toEqual(new Map([['i-a', 'healthy']]));
    expect(states.management).toEqual(new Map([['i-a', 'healthy']]));
    expect(await askOnce(nlb.endpoints().amqp.port)).toBe('amqp:ping');
    expect(await askOnce(nlb.endpoints().management.port)).toBe('management:ping');
  });

  it('waits for the slowest group: healthy in one group only is not healthy', async () => {
    const b = await EchoServer.start('b');
    echoes.push(b);
    const { targets } = await cluster({ 'i-b': { amqpPort: b.port, managementPort: await closedPort() } });

    await targets.register('i-b');
    const outcome = await targets.waitHealthy('i-b', 1.1).catch((error: unknown) => error);

    expect(outcome).toBeInstanceOf(WaitTimedOut);
    expect((outcome as Error).message).toBe('i-b not healthy in the management target group within 1.1s');
    expect((await targets.describe()).amqp.get('i-b')).toBe('healthy');
  });

  it('gives up on waitHealthy at its bound with WaitTimedOut when the node never listens', async () => {
    const { targets } = await cluster({ 'i-dead': { amqpPort: await closedPort(), managementPort: await closedPort() } });
    await targets.register('i-dead');

    const startedAt = Date.now();
    const outcome = await targets.waitHealthy('i-dead', 1.1).catch((error: unknown) => error);
    const waitedMs = Date.now() - startedAt;

    expect(outcome).toBeInstanceOf(WaitTimedOut);
    expect(waitedMs).toBeGreaterThanOrEqual(1_050);
    expect(waitedMs).toBeLessThan(2_500);
    expect((await targets.describe()).amqp.get('i-dead')).toBe('unhealthy');
  });

  it('is idempotent: a second register restarts nothing, deregistering an unknown instance does nothing', async () => {
    const { targets, nlb } = await cluster();
    const changes: TargetState[] = [];
    nlb.groups.amqp.onChange((change) => changes.push(change.to));
    await targets.register('i-a');
    await targets.waitHealthy('i-a', 3);

    await targets.register('i-a');
    await targets.deregister('i-unknown');

    expect(changes).toEqual(['initial', 'healthy']);
    expect((await targets.describe()).amqp).toEqual(new Map([['i-a', 'healthy']]));
  });

  it('refuses an instance that is not running with the ELBv2 error', async () => {
    const { targets, endpoint } = await cluster();

    const outcome = await targets.register('i-gone').catch((error: unknown) => error);

    expect(outcome).toBeInstanceOf(AwsRequestFailed);
    expect((outcome as Error).cause).toMatchObject({
      name: 'InvalidTargetException',
      message: "The following targets are not in a running state and cannot be registered: 'i-gone'",
    });
    // InvalidTarget on RegisterTargets is retried (an instance not yet known as running): twice per group with
    // maxAttempts 2; the adapter fails with the first group, while the other one's retry may still be under way
    await eventually(() => endpoint.count('RegisterTargets') === 4, 'both groups asked twice');
    const asked = endpoint.calls.filter((call) => call.operation === 'RegisterTargets');
    expect(asked.map((call) => call.error)).toEqual(['InvalidTarget', 'InvalidTarget', 'InvalidTarget', 'InvalidTarget']);
    expect(asked.filter((call) => call.input.TargetGroupArn === TARGET_GROUP_ARNS.management)).toHaveLength(2);
    expect((await targets.describe()).amqp.size).toBe(0);
  });

  it('drains on deregister and waitDeregistered resolves only once the target is gone from both groups', async () => {
    const { targets } = await cluster();
    await targets.register('i-a');
    await targets.waitHealthy('i-a', 3);

    await targets.deregister('i-a');
    const whileDraining = await targets.describe();
    const startedAt = Date.now();
    await targets.waitDeregistered('i-a', 3);
    const waitedMs = Date.now() - startedAt;

    expect(whileDraining.amqp.get('i-a')).toBe('draining');
    expect(whileDraining.management.get('i-a')).toBe('draining');
    expect(waitedMs).toBeGreaterThanOrEqual(250);
    const after = await targets.describe();
    expect([after.amqp.size, after.management.size]).toEqual([0, 0]);
  });

  it('times out waitDeregistered for a target that is still registered', async () => {
    const { targets } = await cluster();
    await targets.register('i-a');

    const outcome = await targets.waitDeregistered('i-a', 1.1).catch((error: unknown) => error);

    expect(outcome).toBeInstanceOf(WaitTimedOut);
  });

  it('cancels the drain when a draining instance is registered again', async () => {
    const { targets } = await cluster();
    await targets.register('i-a');
    await targets.waitHealthy('i-a', 3);
    await targets.deregister('i-a');

    await targets.register('i-a');
    await targets.waitHealthy('i-a', 3);
    await new Promise((resolve) => setTimeout(resolve, 400));

    expect((await targets.describe()).amqp).toEqual(new Map([['i-a', 'healthy']]));
  });
});
