import type { EventOf } from '../../../shared/events/types';
import { launch } from '../../../shared/workflows/launch';
import { reconcile } from '../../../shared/workflows/reconcile';
import { testConfig } from '../../support/config';
import { FakeCloud } from '../../support/fake-cloud';

// The administrator credential (#16): the founder creates it, reconcile re-creates it where it is missing
// and changes its password after a rotation, comparing the secret's AWSCURRENT version (DescribeSecret)
// with the version the cluster recorded. The secret's value never reaches warren: only its id is sent.
const SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:warren/orders/admin-AbCdEf';
const tick = (cloud: FakeCloud): EventOf<'reconcile'> => ({ kind: 'reconcile', id: 'evt-tick', time: cloud.clock.now(), dryRun: false });

function clusterWithSecret(version = 'v1') {
  const cloud = new FakeCloud(testConfig({ ADMIN_SECRET_ID: SECRET }));
  cloud.adminSecretVersion = version;
  cloud.addMember('i-a');
  cloud.addMember('i-b');
  return cloud;
}
const adminCommands = (cloud: FakeCloud) => cloud.commands('applyPolicy').filter((c) => (c.args as { AdminSecretId?: string }).AdminSecretId);

describe('the administrator credential', () => {
  it('is created by the founder, with the secret id alone and no policy in the same command', async () => {
    const cloud = new FakeCloud(testConfig({ ADMIN_SECRET_ID: SECRET }));
    cloud.adminSecretVersion = 'v1';
    cloud.addLaunching('i-first');

    const outcome = await launch(cloud.launchEvent('i-first'), cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(adminCommands(cloud).map((c) => c.args)).toEqual([expect.objectContaining({ AdminSecretId: SECRET, PolicyName: '', DefaultQueueType: '' })]);
    expect(cloud.adminApplied).toBe('v1');
  });

  it('holds no launch back when the secret cannot be read: the founder serves, reconcile retries', async () => {
    const cloud = new FakeCloud(testConfig({ ADMIN_SECRET_ID: SECRET }));
    cloud.addLaunching('i-first');

    const outcome = await launch(cloud.launchEvent('i-first'), cloud.deps());

    expect(outcome.result).toBe('continued');
    expect(cloud.adminApplied).toBeNull();
    expect(cloud.logs).toContainEqual(expect.objectContaining({ level: 'warn', message: 'the administrator was not created; reconcile tries again' }));
  });

  it('is re-created by reconcile on a cluster that has none (founded again), then left alone', async () => {
    const cloud = clusterWithSecret();

    await reconcile(tick(cloud), cloud.deps());
    expect(adminCommands(cloud)).toHaveLength(1);
    expect(cloud.adminApplied).toBe('v1');

    await reconcile(tick(cloud), cloud.deps());
    expect(adminCommands(cloud)).toHaveLength(1);
  });

  it("follows a rotation: the secret's new current version is applied on the next reconcile", async () => {
    const cloud = clusterWithSecret();
    await reconcile(tick(cloud), cloud.deps());
    cloud.adminSecretVersion = 'v2';

    await reconcile(tick(cloud), cloud.deps());

    expect(adminCommands(cloud)).toHaveLength(2);
    expect(cloud.adminApplied).toBe('v2');
    expect(cloud.metricLog.filter((m) => m.name === 'AdministratorSet')).toHaveLength(2);
  });

  it('is not touched without ADMIN_SECRET_ID, and a secret that cannot be described holds back nothing else', async () => {
    const plain = new FakeCloud();
    plain.adminSecretVersion = 'v1';
    plain.addMember('i-a');
    await reconcile(tick(plain), plain.deps());
    expect(adminCommands(plain)).toEqual([]);

    const unreadable = clusterWithSecret();
    unreadable.adminSecretVersion = undefined;
    unreadable.addInstance('i-outsider', 'InService').node.running = true;
    const outcome = await reconcile(tick(unreadable), unreadable.deps());

    expect(outcome.result).toBe('acted');
    expect(adminCommands(unreadable)).toEqual([]);
    expect(unreadable.runningMembers()).toContain(unreadable.get('i-outsider').node.name);
    expect(unreadable.metricLog).toContainEqual(expect.objectContaining({ name: 'AdminSecretUnreadable' }));
  });
});
