import { createObservability } from '../../../shared/observability';
import { answerLambda, type Wiring } from '../../../shared/workflows/invocation';
import { gone } from '../../../shared/workflows/gone';
import { loadFixture } from '../../events/load';
import { GROUP } from '../../support/config';
import { FakeCloud } from '../../support/fake-cloud';
import { captured, sqsBatch, withoutPowertoolsDevMode } from '../../support/handler-harness';

/*
 * Bad input must not cost the good events around it: a skipped record is acknowledged on its own,
 * and a value refused as a node name never reaches a node command even when the event is healed.
 */

const NEW_ID = 'i-0aaaaaaaaaaaaaaa1';

const wire = (cloud: FakeCloud): Wiring => {
  const { log: _log, deadline: _deadline, ...ports } = cloud.deps();
  return { ...ports, telemetry: createObservability('rabbit', {}), accepts: ['launch', 'terminate', 'gone', 'interruption', 'reconcile'] };
};

function launchOf(instanceId: string, group = GROUP, id = '12345678-1234-1234-1234-123456789012') {
  const event = loadFixture('asg-launch-lifecycle-action');
  Object.assign(event, { id, time: new Date(Date.UTC(2024, 0, 1)).toISOString() });
  Object.assign(event.detail, { EC2InstanceId: instanceId, AutoScalingGroupName: group, LifecycleHookName: 'warren-launch' });
  return event;
}

describe('bad records among good ones', () => {
  withoutPowertoolsDevMode();

  it('acknowledges the bad records, heals the good one, and asks for no redelivery', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.addLaunching(NEW_ID, 0);
    const batch = sqsBatch(
      '{"source": "aws.autoscaling", "detail-type": ',
      JSON.stringify(launchOf(NEW_ID)),
      JSON.stringify(launchOf('i-0bbbbbbbbbbbbbbb2', 'someone-elses-asg', 'aaaaaaaa-1111-2222-3333-444444444444')),
    );

    const { result, lines } = await captured(() => answerLambda(batch, wire(cloud), () => 600_000));

    expect(result).toEqual({ batchItemFailures: [] });
    expect(cloud.actions.get(NEW_ID)!.state).toBe('CONTINUE');
    const skipped = lines.filter((line) => line.message === 'event skipped').map((line) => line.reason);
    expect(skipped).toEqual([expect.stringMatching(/not JSON/), expect.stringMatching(/another Auto Scaling group/)]);
  });
});

describe('a node-name tag that is not a node name never reaches a node command', () => {
  it('forgets a departed node under the name its private DNS name gives, not the tag', async () => {
    const cloud = new FakeCloud();
    cloud.addMember('i-a');
    cloud.addMember('i-b');
    const departed = cloud.addMember('i-c');
    cloud.terminateInEc2('i-c');
    departed.nodeTag = `${departed.node.name};reboot`;

    const outcome = await gone({ kind: 'gone', id: 'evt-gone', time: cloud.clock.now(), instanceId: 'i-c', state: 'terminated' }, cloud.deps());

    expect(outcome.result).toBe('acted');
    const forget = cloud.commands('forget');
    expect(forget).toHaveLength(1);
    expect(forget[0]!.args).toEqual({ NodeName: departed.node.name, Departed: 'true' });
    expect(JSON.stringify(cloud.calls)).not.toContain(';reboot');
  });
});
