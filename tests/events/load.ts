import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type FixtureName =
  | 'asg-instance-refresh-succeeded'
  | 'asg-launch-lifecycle-action'
  | 'asg-launch-lifecycle-action-warm-pool'
  | 'asg-terminate-lifecycle-action'
  | 'asg-test-notification'
  | 'asg-test-notification-eventbridge'
  | 'cloudwatch-alarm-anomaly-detection'
  | 'cloudwatch-alarm-composite'
  | 'cloudwatch-alarm-metric-math'
  | 'cloudwatch-alarm-single-metric'
  | 'ec2-instance-rebalance-recommendation'
  | 'ec2-instance-state-change-pending'
  | 'ec2-instance-state-change-terminated'
  | 'ec2-spot-instance-interruption-warning'
  | 'scheduled-event';

/** A fresh copy of a raw AWS payload, so a test may change it without touching the next one. */
export function loadFixture(name: FixtureName): Record<string, any> {
  return JSON.parse(fixtureText(name));
}

export function fixtureText(name: FixtureName): string {
  return readFileSync(join(__dirname, `${name}.json`), 'utf8');
}
