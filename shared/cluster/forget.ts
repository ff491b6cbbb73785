import type { Ec2State } from '../ports';

export interface ForgetFacts {
  /** the node to forget */
  node: string;
  /** what EC2 reports for its instance; undefined when EC2 does not know the instance */
  ec2State?: Ec2State;
  /** the ASG's lifecycle state of its instance, when the group still lists it */
  asgLifecycleState?: string;
  /** the node left the cluster itself (leave reported left:true) */
  leftCleanly?: boolean;
  /**
   * The running members as the cluster reports them. Where no peer status was taken (terminate,
   * gone), the running peers the forget would run on; the forget document re-checks on the peer.
   */
  runningMembers: string[];
}

export type ForgetDecision = { allowed: true } | { allowed: false; reason: string };

const GONE_STATES: ReadonlySet<Ec2State> = new Set(['shutting-down', 'terminated']);

/** EC2 reports the instance going or gone: the only proof that a node is dead rather than unreachable. */
export const isGoneInEc2 = (state: Ec2State | undefined): boolean => state !== undefined && GONE_STATES.has(state);

/**
 * The forget document's Departed parameter: only a terminated instance (not one still shutting down,
 * whose RabbitMQ may be stopping cleanly) lets a peer disconnect a node that does not answer.
 */
export const departedParam = (state: Ec2State | undefined): 'true' | 'false' => (state === 'terminated' ? 'true' : 'false');

/** Invariants 1 and 2: forget only a node that is gone for sure, and never the last running member. */
export function mayForget(facts: ForgetFacts): ForgetDecision {
  if (facts.runningMembers.includes(facts.node)) {
    return { allowed: false, reason: 'node is a running member' };
  }
  const leftBeforeTermination = facts.leftCleanly === true && (facts.asgLifecycleState ?? '').startsWith('Terminating:');
  if (!isGoneInEc2(facts.ec2State) && !leftBeforeTermination) {
    return { allowed: false, reason: `instance is not gone (EC2 ${facts.ec2State ?? 'unknown'}, ASG ${facts.asgLifecycleState ?? 'absent'})` };
  }
  if (facts.runningMembers.filter((member) => member !== facts.node).length === 0) {
    return { allowed: false, reason: 'no other running member would remain' };
  }
  return { allowed: true };
}
