import { InvalidTargetException } from '../../../infra/sandbox/cloud/elb';
import { LocalNetworkLoadBalancer, LocalTargetGroups } from '../../../infra/sandbox/cloud/local-target-groups';
import { WaitTimedOut } from '../../../shared/errors';
import type { TargetState } from '../../../shared/ports';
import { EchoServer, FAST_HEALTH_CHECKS, askOnce, closedPort } from './elb-echo';

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
  return { targets: new LocalTargetGroups(nlb), nlb, management };
}

afterEach(async () => {
  await nlb?.close();
  nlb = undefined;
  await Promise.all(echoes.splice(0).map((server) => server.destroy()));
});

describe('LocalTargetGroups', () => {
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
    const outcome = await targets.waitHealthy('i-b', 0.5).catch((error: unknown) => error);

    expect(outcome).toBeInstanceOf(WaitTimedOut);
    expect((outcome as Error).message).toBe('i-b not healthy in the management target group within 0.5s');
    expect((await targets.describe()).amqp.get('i-b')).toBe('healthy');
  });

  it('gives up on waitHealthy at its bound with WaitTimedOut when the node never listens', async () => {
    const { targets } = await cluster({ 'i-dead': { amqpPort: await closedPort(), managementPort: await closedPort() } });
    await targets.register('i-dead');

    const startedAt = Date.now();
    const outcome = await targets.waitHealthy('i-dead', 0.3).catch((error: unknown) => error);
    const waitedMs = Date.now() - startedAt;

    expect(outcome).toBeInstanceOf(WaitTimedOut);
    expect(waitedMs).toBeGreaterThanOrEqual(290);
    expect(waitedMs).toBeLessThan(1_500);
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
    const { targets } = await cluster();

    const outcome = await targets.register('i-gone').catch((error: unknown) => error);

    expect(outcome).toBeInstanceOf(InvalidTargetException);
    expect(outcome).toMatchObject({
      name: 'InvalidTargetException',
      message: "The following targets are not in a running state and cannot be registered: 'i-gone'",
    });
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

    const outcome = await targets.waitDeregistered('i-a', 0.2).catch((error: unknown) => error);

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
