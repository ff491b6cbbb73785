import { LocalNetworkLoadBalancer, type NetworkLoadBalancerOptions } from '../../../infra/sandbox/cloud/elb';
import type { TargetState } from '../../../shared/ports';
import { Client, EchoServer, FAST_HEALTH_CHECKS, addressBook, askOnce, closedPort, reachState } from './elb-echo';

jest.setTimeout(15_000);

const echoes: EchoServer[] = [];
let nlb: LocalNetworkLoadBalancer | undefined;

async function echo(name: string, port?: number): Promise<EchoServer> {
  const server = await EchoServer.start(name, port);
  echoes.push(server);
  return server;
}

async function startNlb(ports: Record<string, number>, settings: NetworkLoadBalancerOptions['settings'] = {}) {
  nlb = await LocalNetworkLoadBalancer.start({
    resolve: addressBook(ports),
    settings: { deregistrationDelayMs: 300, ...settings, healthCheck: { ...FAST_HEALTH_CHECKS, ...settings.healthCheck } },
  });
  return { group: nlb.groups.amqp, port: nlb.endpoints().amqp.port };
}

afterEach(async () => {
  await nlb?.close();
  nlb = undefined;
  await Promise.all(echoes.splice(0).map((server) => server.destroy()));
});

/** Two echo targets, a and b, registered and healthy behind one listener. */
async function twoHealthyTargets() {
  const a = await echo('a');
  const b = await echo('b');
  const { group, port } = await startNlb({ 'i-a': a.port, 'i-b': b.port });
  await group.register('i-a');
  await group.register('i-b');
  await Promise.all([reachState(group, 'i-a', 'healthy'), reachState(group, 'i-b', 'healthy')]);
  return { a, b, group, port };
}

describe('LocalTargetGroup health checks', () => {
  it('turns a target healthy while its port accepts connections and unhealthy once it stops', async () => {
    const a = await echo('a');
    const { group } = await startNlb({ 'i-a': a.port });
    const seen: TargetState[] = [];
    group.onChange((change) => seen.push(change.to));

    await group.register('i-a');
    await reachState(group, 'i-a', 'healthy');
    await a.stop();
    await reachState(group, 'i-a', 'unhealthy');

    expect(seen).toEqual(['initial', 'healthy', 'unhealthy']);
    expect(group.describe()).toEqual([{ instanceId: 'i-a', ip: '127.0.0.1', port: a.port, state: 'unhealthy', reason: 'Target.FailedHealthChecks' }]);
  });

  it('needs the healthy threshold of consecutive passes before a target is healthy', async () => {
    const a = await echo('a');
    const { group } = await startNlb({ 'i-a': a.port }, { healthCheck: { intervalMs: 200, healthyThreshold: 3 } });

    await group.register('i-a');
    await new Promise((resolve) => setTimeout(resolve, 250));
    const early = group.stateOf('i-a');
    await reachState(group, 'i-a', 'healthy');

    expect(early).toBe('initial');
  });
});

describe('LocalTargetGroup listener', () => {
  it('forwards every connection to the healthy target, never to an unhealthy or an unregistered one', async () => {
    const a = await echo('a');
    const unregistered = await echo('c');
    const { group, port } = await startNlb({ 'i-a': a.port, 'i-b': await closedPort(), 'i-c': unregistered.port });
    await group.register('i-a');
    await group.register('i-b');
    await Promise.all([reachState(group, 'i-a', 'healthy'), reachState(group, 'i-b', 'unhealthy')]);

    const replies: string[] = [];
    for (let i = 0; i < 6; i += 1) replies.push(await askOnce(port, `m${i}`));

    expect(replies).toEqual(['a:m0', 'a:m1', 'a:m2', 'a:m3', 'a:m4', 'a:m5']);
  });

  it('spreads new connections round robin over two healthy targets', async () => {
    const { port } = await twoHealthyTargets();

    const servedBy: string[] = [];
    for (let i = 0; i < 4; i += 1) servedBy.push((await askOnce(port)).split(':')[0]!);

    expect(servedBy.filter((name) => name === 'a')).toHaveLength(2);
    expect(servedBy.filter((name) => name === 'b')).toHaveLength(2);
  });

  it('resets a connection when the group has no target at all', async () => {
    const { port } = await startNlb({});

    const reply = await askOnce(port);

    expect(reply).toBe('closed');
  });

  it('resets the connections of a target that turns unhealthy while another is healthy', async () => {
    const { a, group, port } = await twoHealthyTargets();
    const first = new Client(port);
    const second = new Client(port);
    const onA = (await first.ask('x')).startsWith('a:') ? first : second;
    await second.ask('x');

    // a's listener dies but the connection it already accepted stays open: only the NLB can cut it
    await a.stop(true);
    await reachState(group, 'i-a', 'unhealthy');
    await onA.waitClosed();

    expect(await onA.ask('again')).toBe('closed');
    expect(await (onA === first ? second : first).ask('again')).toBe('b:again');
    first.end();
    second.end();
  });

  it.each([
    { failOpen: true, expected: 'a:ping' },
    { failOpen: false, expected: 'closed' },
  ])('with only unhealthy targets routes to them when failOpen is $failOpen', async ({ failOpen, expected }) => {
    const aPort = await closedPort();
    const { group, port } = await startNlb({ 'i-a': aPort }, { failOpen, healthCheck: { healthyThreshold: 1_000 } });
    await group.register('i-a');
    await reachState(group, 'i-a', 'unhealthy');
    // the node is back but has not yet passed enough checks to be healthy again
    await echo('a', aPort);

    const reply = await askOnce(port);

    expect(group.stateOf('i-a')).toBe('unhealthy');
    expect(reply).toBe(expected);
  });
});

describe('LocalTargetGroup deregistration', () => {
  it('drains a target for the delay, keeping its open connections, then removes it and closes them', async () => {
    const a = await echo('a');
    const { group, port } = await startNlb({ 'i-a': a.port });
    await group.register('i-a');
    await reachState(group, 'i-a', 'healthy');
    const open = new Client(port);
    await open.ask('before');

    const startedAt = Date.now();
    group.deregister('i-a');
    const whileDraining = { state: group.stateOf('i-a'), existing: await open.ask('during'), fresh: await askOnce(port) };
    await reachState(group, 'i-a', 'unused');
    const drainedAfterMs = Date.now() - startedAt;
    await open.waitClosed();

    expect(whileDraining).toEqual({ state: 'draining', existing: 'a:during', fresh: 'closed' });
    expect(drainedAfterMs).toBeGreaterThanOrEqual(280);
    expect(group.describe()).toEqual([]);
  });

  it('keeps connections past the delay when connection termination on deregistration is off', async () => {
    const a = await echo('a');
    const { group, port } = await startNlb({ 'i-a': a.port }, { terminateConnectionsAfterDrain: false, deregistrationDelayMs: 100 });
    await group.register('i-a');
    await reachState(group, 'i-a', 'healthy');
    const open = new Client(port);
    await open.ask('before');

    group.deregister('i-a');
    await reachState(group, 'i-a', 'unused');

    expect(await open.ask('after')).toBe('a:after');
    open.end();
  });
});
