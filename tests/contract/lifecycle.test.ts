import { SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { AwsRequestFailed } from '../../shared/aws/errors';
import { Ec2AutoScalingInventory } from '../../shared/aws/inventory';
import { AutoScalingLifecycle } from '../../shared/aws/lifecycle';
import { DETAIL_TYPES } from '../../shared/events/kinds';
import type { LifecycleActionRef } from '../../shared/ports';
import { BACKENDS, startBackend, until, type Backend } from './backends';

/**
 * Calls of AutoScalingLifecycle that moto (5.2.1) lacks: its server answers each with an HTML error
 * page (HTTP 500), and its instances go InService at once, never waiting on a hook (Pending:Wait).
 * They are tested on the local AWS alone; the moto block below proves each is still lacking, so an
 * upgrade that adds one fails here and the call can join the shared assertions.
 */
const MOTO_LACKS = {
  CompleteLifecycleAction: 'not implemented by moto 5.x (HTTP 500)',
  RecordLifecycleActionHeartbeat: 'not implemented by moto 5.x (HTTP 500)',
} as const;

const GROUP = 'orders-rabbitmq';
const HOOK = 'warren-launch';

describe.each(BACKENDS)('%s', (name) => {
  let backend: Backend;
  let lifecycle: AutoScalingLifecycle;
  let inventory: Ec2AutoScalingInventory;

  beforeAll(async () => {
    backend = await startBackend(name, { group: { name: GROUP, minSize: 2, maxSize: 4, desiredCapacity: 2 } });
    lifecycle = new AutoScalingLifecycle(backend.clients);
    inventory = new Ec2AutoScalingInventory({ autoScalingGroupName: GROUP }, backend.clients);
  });

  afterAll(async () => backend?.stop());

  const ref = (instanceId: string, token?: string): LifecycleActionRef => ({
    autoScalingGroupName: GROUP,
    lifecycleHookName: HOOK,
    instanceId,
    ...(token ? { lifecycleActionToken: token } : {}),
  });

  if (name === 'moto') {
    describe(`on moto: still lacks ${Object.keys(MOTO_LACKS).join(', ')}`, () => {
      const calls: Record<keyof typeof MOTO_LACKS, () => Promise<unknown>> = {
        CompleteLifecycleAction: () => lifecycle.complete(ref(backend.groupInstanceIds[0]!), 'CONTINUE'),
        RecordLifecycleActionHeartbeat: () => lifecycle.heartbeat(ref(backend.groupInstanceIds[0]!)),
      };

      it.each(Object.keys(MOTO_LACKS) as Array<keyof typeof MOTO_LACKS>)('%s answers an error page, not an AWS answer', async (operation) => {
        const failure = await calls[operation]().then(
          (answer) => answer,
          (error: unknown) => error,
        );

        expect(failure).toBeInstanceOf(AwsRequestFailed);
        expect((failure as AwsRequestFailed).operation).toBe(operation);
        expect(((failure as Error).cause as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(500);
      });
    });
  }

  if (name === 'local AWS') {
    describe(`on the local AWS alone: ${Object.keys(MOTO_LACKS).join(', ')} (moto lacks them)`, () => {
      let launched: string[];

      beforeAll(async () => {
        // two more instances: each waits on the launch hook, as warren's group makes them
        await backend.clients.autoScaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: GROUP, DesiredCapacity: 4 }));
        let waiting: string[] = [];
        await until('two launches waiting on the hook', () => {
          waiting = backend
            .local!.group!.describe()
            .instances.filter((member) => member.lifecycleState === 'Pending:Wait')
            .map((member) => member.instanceId);
          return waiting.length === 2;
        });
        launched = waiting;
      });

      /** The token of the instance's launch, from the lifecycle event Auto Scaling published. */
      const launchToken = (instanceId: string): string => {
        const event = backend.local!.bus.published.find(
          (candidate) => candidate['detail-type'] === DETAIL_TYPES.launchLifecycleAction && candidate.detail.EC2InstanceId === instanceId,
        );
        return String(event!.detail.LifecycleActionToken);
      };
      const stateOf = async (instanceId: string) => (await inventory.describeGroup()).instances.find((instance) => instance.instanceId === instanceId);

      it("heartbeats and completes a launch by its event's token; once done, both say so", async () => {
        const action = ref(launched[0]!, launchToken(launched[0]!));
        expect(await stateOf(launched[0]!)).toMatchObject({ lifecycleState: 'Pending:Wait' });

        await expect(lifecycle.heartbeat(action)).resolves.toBe('recorded');
        await expect(lifecycle.complete(action, 'CONTINUE')).resolves.toBe('completed');

        expect(await stateOf(launched[0]!)).toMatchObject({ lifecycleState: 'InService', healthStatus: 'Healthy' });
        await expect(lifecycle.complete(action, 'CONTINUE')).resolves.toBe('no-active-action');
        await expect(lifecycle.heartbeat(action)).resolves.toBe('no-active-action');
      });

      it('completes a launch by instance id; ABANDON takes the instance out of the group', async () => {
        await expect(lifecycle.complete(ref(launched[1]!), 'ABANDON')).resolves.toBe('completed');

        const after = await stateOf(launched[1]!);
        expect(after?.lifecycleState).toMatch(/^Terminat/);
        expect(after?.healthStatus).toBe('Unhealthy');
        await expect(lifecycle.complete(ref(launched[1]!), 'ABANDON')).resolves.toBe('no-active-action');
      });

      it('fails with the operation named, not as done, when the call itself fails', async () => {
        const [member] = backend.groupInstanceIds;
        backend.armThrottling!('RecordLifecycleActionHeartbeat', 2);

        const attempt = lifecycle.heartbeat(ref(member!));

        await expect(attempt).rejects.toThrow(AwsRequestFailed);
        await expect(attempt).rejects.toThrow(/^RecordLifecycleActionHeartbeat failed: Throttling/);
      });
    });
  }
});
