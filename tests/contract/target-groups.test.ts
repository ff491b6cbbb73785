import { WaitTimedOut } from '../../shared/errors';
import { Elbv2TargetGroups } from '../../shared/aws/target-groups';
import { BACKENDS, startBackend, type Backend } from './backends';

describe.each(BACKENDS)('%s', (name) => {
  let backend: Backend;
  let groups: Elbv2TargetGroups;
  let instanceIds: string[];

  beforeAll(async () => {
    backend = await startBackend(name, { instances: 2, targetGroups: { amqp: 'orders-amqp', management: 'orders-mgmt' } });
    instanceIds = backend.looseInstanceIds;
    groups = new Elbv2TargetGroups({ targetGroups: backend.targetGroupArns! }, backend.clients, { poll: { minDelay: 0.05, maxDelay: 0.1 } });
  });

  afterAll(async () => backend?.stop());

  it('registers on both groups and waits until healthy', async () => {
    await groups.register(instanceIds[0]!);
    await groups.waitHealthy(instanceIds[0]!, 2);

    const described = await groups.describe();
    expect(described.amqp.get(instanceIds[0]!)).toBe('healthy');
    expect(described.management.get(instanceIds[0]!)).toBe('healthy');
    expect(described.amqp.has(instanceIds[1]!)).toBe(false);
  });

  it('deregisters from both groups, and deregistering again is harmless', async () => {
    await groups.register(instanceIds[1]!);

    await groups.deregister(instanceIds[1]!);
    await groups.waitDeregistered(instanceIds[1]!, 2);
    await groups.deregister(instanceIds[1]!);

    const described = await groups.describe();
    expect(described.amqp.has(instanceIds[1]!)).toBe(false);
    expect(described.management.has(instanceIds[1]!)).toBe(false);
  });

  /*
   * moto reports every registered instance healthy at once and a deregistered one gone at once: it has
   * no health checks and no deregistration delay. The local AWS checks its targets over TCP (every
   * 50 ms, healthy after three passes) and lets a deregistered one drain for 200 ms, so only it can
   * show the waits waiting.
   */
  if (name === 'local AWS') {
    describe('on the local AWS alone: health checks and draining (moto has neither)', () => {
      it('reports a target initial until its checks pass', async () => {
        await groups.register(instanceIds[1]!);

        const first = await groups.describe();
        expect(first.amqp.get(instanceIds[1]!)).toBe('initial');
        expect(first.management.get(instanceIds[1]!)).toBe('initial');
        await groups.waitHealthy(instanceIds[1]!, 2);
        expect((await groups.describe()).amqp.get(instanceIds[1]!)).toBe('healthy');
      });

      it('reports a deregistered target draining until its delay passed', async () => {
        await groups.deregister(instanceIds[1]!);

        expect((await groups.describe()).amqp.get(instanceIds[1]!)).toBe('draining');
        await groups.waitDeregistered(instanceIds[1]!, 2);
        expect((await groups.describe()).amqp.has(instanceIds[1]!)).toBe(false);
      });

      it('turns a target unhealthy once its machine is gone, and the wait for health times out', async () => {
        // a registered instance whose machine died fails its checks: nothing listens any more
        await backend.local!.ec2.terminate(instanceIds[0]!);

        let states = await groups.describe();
        const stillHealthy = () => states.amqp.get(instanceIds[0]!) === 'healthy' || states.management.get(instanceIds[0]!) === 'healthy';
        for (let polls = 0; stillHealthy() && polls < 40; polls++) {
          await new Promise((resolve) => setTimeout(resolve, 25));
          states = await groups.describe();
        }
        expect(states.amqp.get(instanceIds[0]!)).toBe('unhealthy');
        expect(states.management.get(instanceIds[0]!)).toBe('unhealthy');
        await expect(groups.waitHealthy(instanceIds[0]!, 0.3)).rejects.toThrow(WaitTimedOut);
      });
    });
  }
});
