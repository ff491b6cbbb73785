import type { Sandbox } from '../../infra/sandbox/sandbox';
import { membershipStories } from './membership-stories';
import { inService, sharedSandbox } from './observed';

// The same membership stories on real RabbitMQ 4.3 nodes (Debian 14's package, chrooted in the namespaces):
// Khepri instead of Mnesia, and the quorum replicas must follow every change (converged includes them).
jest.setTimeout(360_000);

let sandbox: Sandbox;

sharedSandbox('e2e on RabbitMQ 4.3', 3, (started) => (sandbox = started), '4.3');

describe('on RabbitMQ 4.3 the sandbox heals membership changes end to end', () => {
  it('runs 4.3 nodes with the 4.x policy and default queue type, and no mirroring policy', async () => {
    const status = await sandbox.nodeShell.run(inService(sandbox)[0]!, 'status', {});

    expect(status.version).toMatch(/^4\.3\./);
    expect(status.policies).toEqual([sandbox.config.quorumPolicy.name]);
    expect(status.defaultQueueType).toBe(sandbox.config.defaultQueueType);
  });

  membershipStories(() => sandbox);
});
