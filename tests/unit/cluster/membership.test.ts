import { unverifiedJoin } from '../../../shared/cluster/membership';
import { nodeJoinResult, type NodeJoined } from '../../../shared/rabbitmq/operations';

/** NodeJoin's answer as the document prints it, parsed by its own schema. */
function joined(node: string, running: string[]): NodeJoined {
  return nodeJoinResult.parse({
    node,
    joined: true,
    version: '4.3.6',
    action: 'booted-with-peers',
    members: { all: [...new Set([node, ...running])], running },
    policy: 'skipped',
    quorumGrown: 0,
  }) as NodeJoined;
}

const A = 'rabbit@ip-10-0-1-10';
const B = 'rabbit@ip-10-0-2-10';

describe('a verified member after NodeJoin (launch and reconcile alike)', () => {
  it('is among the running members it reports, with a peer beside it', () => {
    expect(unverifiedJoin(joined(B, [A, B]), false)).toBeUndefined();
  });

  it('is not when it does not see itself running', () => {
    expect(unverifiedJoin(joined(B, [A]), false)).toBe(`join of ${B} ended but it is not among the running members`);
    expect(unverifiedJoin(joined(B, []), true)).toBe(`join of ${B} ended but it is not among the running members`);
  });

  it('is not when it runs alone but should have joined others: a cluster of its own', () => {
    expect(unverifiedJoin(joined(B, [B]), false)).toBe(`join of ${B} ended alone: no peer among the running members`);
  });

  it('may run alone when it founds the cluster, or no other member runs', () => {
    expect(unverifiedJoin(joined(A, [A]), true)).toBeUndefined();
  });
});
