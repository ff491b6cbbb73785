import { CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import { parseEvent } from '../../../shared/events';
import { aws, awsRequests, GROUP, invoke, resetAws, sqsBatch, withoutPowertoolsDevMode } from '../../support/handler-harness';
import { loadFixture } from '../../events/load';

/** AWS's example of a launch into a warm pool (tests/events/asg-launch-lifecycle-action-warm-pool.json). */
describe('a launch lifecycle action of a group with a warm pool', () => {
  it('converts with its Destination', () => {
    expect(parseEvent(loadFixture('asg-launch-lifecycle-action-warm-pool'))).toStrictEqual({
      kind: 'launch',
      id: '12345678-1234-1234-1234-123456789012',
      time: Date.parse('2021-01-13T00:12:37.214Z'),
      instanceId: 'i-1234567890abcdef0',
      action: {
        autoScalingGroupName: 'my-asg',
        lifecycleHookName: 'my-launch-lifecycle-hook',
        lifecycleActionToken: '71514b9d-6a40-4b26-8523-05e7e0000000',
        instanceId: 'i-1234567890abcdef0',
      },
      destination: 'WarmPool',
    });
  });

  it('goes to the group when the instance leaves the warm pool (Origin WarmPool, Destination AutoScalingGroup)', () => {
    const raw = loadFixture('asg-launch-lifecycle-action-warm-pool');
    Object.assign(raw.detail, { Origin: 'WarmPool', Destination: 'AutoScalingGroup' });

    expect(parseEvent(raw)).toMatchObject({ kind: 'launch', destination: 'AutoScalingGroup' });
  });

  it('is read as a launch into the group when the Destination is one warren does not know', () => {
    const raw = loadFixture('asg-launch-lifecycle-action-warm-pool');
    raw.detail.Destination = 'SomewhereNew';

    const event = parseEvent(raw);

    expect(event.kind).toBe('launch');
    expect(event).not.toHaveProperty('destination');
  });

  describe('through the deployed heal function', () => {
    withoutPowertoolsDevMode();
    beforeEach(() => resetAws());

    it('continues a launch into the warm pool, logs the skip with its reason, and sends nothing else', async () => {
      const raw = loadFixture('asg-launch-lifecycle-action-warm-pool');
      raw.detail.AutoScalingGroupName = GROUP;
      raw.detail.LifecycleHookName = 'warren-launch';

      const { result, error, lines } = await invoke('heal', sqsBatch(JSON.stringify(raw)));

      expect(error).toBeUndefined();
      expect(result).toEqual({ batchItemFailures: [] });
      expect(awsRequests()).toEqual(['CompleteLifecycleActionCommand']);
      expect(aws.autoScaling).toHaveReceivedCommandWith(CompleteLifecycleActionCommand, {
        AutoScalingGroupName: GROUP,
        LifecycleHookName: 'warren-launch',
        LifecycleActionToken: '71514b9d-6a40-4b26-8523-05e7e0000000',
        LifecycleActionResult: 'CONTINUE',
      });
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 'WARN',
          message: 'event skipped',
          reason: 'launch into the warm pool: its node joins when it leaves the pool for the group',
          instanceId: 'i-1234567890abcdef0',
          lifecycleAction: 'continued',
        }),
      );
    });
  });
});
