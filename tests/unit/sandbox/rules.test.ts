import { matches, routeOf } from '../../../infra/sandbox/rules';
import { loadFixture } from '../../events/load';

describe('the sandbox EventBridge rules', () => {
  it('sends the managed group lifecycle actions to the heal queue, and no other group', () => {
    const launch = loadFixture('asg-launch-lifecycle-action');

    expect(routeOf(launch, 'my-asg', 'warren-')).toBe('heal-queue');
    expect(routeOf(launch, 'another-asg', 'warren-')).toBeUndefined();
  });

  it('takes only shutting-down and terminated state changes, into the triage queue: no pattern can tell the group by them', () => {
    const terminated = loadFixture('ec2-instance-state-change-terminated');
    const pending = loadFixture('ec2-instance-state-change-pending');

    expect(routeOf(terminated, 'g', 'warren-')).toBe('triage-queue');
    expect(routeOf(pending, 'g', 'warren-')).toBeUndefined();
  });

  it('sends spot interruption warnings and rebalance recommendations into the triage queue', () => {
    expect(routeOf(loadFixture('ec2-spot-instance-interruption-warning'), 'g', 'warren-')).toBe('triage-queue');
    expect(routeOf(loadFixture('ec2-instance-rebalance-recommendation'), 'g', 'warren-')).toBe('triage-queue');
  });

  it('sends alarms in ALARM whose name has the prefix to the heal queue, into the cluster group', () => {
    const alarm = loadFixture('cloudwatch-alarm-single-metric');
    alarm.detail.alarmName = 'warren-node-status';
    alarm.detail.state.value = 'ALARM';

    expect(routeOf(alarm, 'g', 'warren-')).toBe('heal-queue');
    alarm.detail.state.value = 'OK';
    expect(routeOf(alarm, 'g', 'warren-')).toBeUndefined();
    alarm.detail.state.value = 'ALARM';
    alarm.detail.alarmName = 'other-team-alarm';
    expect(routeOf(alarm, 'g', 'warren-')).toBeUndefined();
  });

  it('matches nested fields, exact values and prefixes the way EventBridge does', () => {
    const pattern = { detail: { name: [{ prefix: 'ab' }], state: { value: ['X'] } } };

    expect(matches(pattern, { detail: { name: 'abc', state: { value: 'X' } } })).toBe(true);
    expect(matches(pattern, { detail: { name: 'zab', state: { value: 'X' } } })).toBe(false);
    expect(matches(pattern, { detail: { name: 'abc' } })).toBe(false);
    expect(matches(pattern, null)).toBe(false);
  });
});
