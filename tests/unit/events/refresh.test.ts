import { DETAIL_TYPES, parseEvent, parseQueueMessage } from '../../../shared/events';
import { EventSkipped } from '../../../shared/errors';
import { skipReason } from '../../support/skipped';
import { runWorkflow } from '../../../shared/workflows';
import { fixtureText, loadFixture } from '../../events/load';
import { FakeCloud } from '../../support/fake-cloud';
import { testConfig } from '../../support/config';

const succeeded = {
  kind: 'refresh-succeeded',
  id: '12345678-1234-1234-1234-123456789012',
  time: Date.parse('2023-04-12T14:20:05Z'),
  autoScalingGroupName: 'my-asg',
  instanceRefreshId: 'c613620e-07e2-4ed2-a9e2-ef8258911ade',
};

describe('EC2 Auto Scaling Instance Refresh Succeeded', () => {
  it("converts AWS's sample, delivered directly and as an SQS record body", () => {
    expect(parseEvent(loadFixture('asg-instance-refresh-succeeded'))).toStrictEqual(succeeded);
    expect(parseQueueMessage(fixtureText('asg-instance-refresh-succeeded'))).toStrictEqual(succeeded);
  });

  it("carries a foreign group's name, and the workflow acknowledges it unacted", async () => {
    const cloud = new FakeCloud(testConfig());
    cloud.addMember('i-a');
    const event = parseEvent(loadFixture('asg-instance-refresh-succeeded'));

    await expect(runWorkflow(event, cloud.deps())).rejects.toThrow(EventSkipped);

    expect(cloud.calls).toEqual([]);
  });

  it.each([
    ['without a refresh id', (detail: Record<string, unknown>) => delete detail.InstanceRefreshId, /InstanceRefreshId/],
    ['without a group', (detail: Record<string, unknown>) => delete detail.AutoScalingGroupName, /AutoScalingGroupName/],
    ['with a refresh id that is not one', (detail: Record<string, unknown>) => (detail.InstanceRefreshId = '$(reboot)'), /not an instance refresh id/],
    [
      'with a group name that is not one',
      (detail: Record<string, unknown>) => (detail.AutoScalingGroupName = 'my-asg; reboot'),
      /not an Auto Scaling group name/,
    ],
  ])('refuses one %s', (_, change, reason) => {
    const raw = loadFixture('asg-instance-refresh-succeeded');
    change(raw.detail);

    expect(skipReason(() => parseEvent(raw))).toMatch(reason);
  });

  it('routes no other instance refresh event: a refresh that failed or was cancelled moves no leader', () => {
    for (const detailType of ['EC2 Auto Scaling Instance Refresh Failed', 'EC2 Auto Scaling Instance Refresh Cancelled']) {
      const raw = { ...loadFixture('asg-instance-refresh-succeeded'), 'detail-type': detailType };

      expect(skipReason(() => parseEvent(raw))).toMatch(/no converter/);
    }
    expect(DETAIL_TYPES.instanceRefreshSucceeded).toBe('EC2 Auto Scaling Instance Refresh Succeeded');
  });
});
