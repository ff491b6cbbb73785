import { invalidTarget, type LocalTargetGroup, type TargetHealthDescription } from '../cloud/elb';
import { ApiError, listOf, required, type ServiceApi } from './protocol';

/**
 * Elastic Load Balancing v2's query API over the local target groups, each known by its ARN:
 * registering and deregistering instance targets and describing their health, with the answers the
 * SDK's waiters read (target_in_service: every description healthy; target_deregistered: every
 * description unused, or InvalidTarget).
 */

export const ELBV2_XMLNS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';

/** TargetHealth.Description for each reason code, in the API reference's words. */
const REASON_DESCRIPTIONS: Record<string, string> = {
  'Elb.RegistrationInProgress': 'Target registration is in progress',
  'Elb.InitialHealthChecking': 'Initial health checks in progress',
  'Target.FailedHealthChecks': 'Health checks failed',
  'Target.NotRegistered': 'Target is not registered to the target group',
  'Target.DeregistrationInProgress': 'Target deregistration is in progress',
  'Target.InvalidState': 'Target is in the stopped or terminated state',
};

interface TargetDescription {
  Id?: string;
  Port?: string;
}

export function elbv2Api(groups: Array<{ arn: string; group: LocalTargetGroup }>): ServiceApi {
  const byArn = new Map(groups.map(({ arn, group }) => [arn, group]));
  const groupOf = (input: Record<string, any>): LocalTargetGroup => {
    const arn = required(input.TargetGroupArn, 'targetGroupArn');
    const group = byArn.get(arn);
    if (!group) throw new ApiError('TargetGroupNotFound', `Target groups '${arn}' not found`);
    return group;
  };
  return {
    service: 'elasticloadbalancing',
    protocol: 'awsQuery',
    xmlns: ELBV2_XMLNS,
    operations: {
      RegisterTargets: async (input) => {
        const group = groupOf(input);
        const ids = targetIds(input);
        const outcomes = await Promise.allSettled(ids.map((id) => group.register(id)));
        const refused = ids.filter((_, n) => outcomes[n]!.status === 'rejected' && (outcomes[n] as PromiseRejectedResult).reason?.code === 'InvalidTarget');
        // AWS names every target it refused, in one InvalidTarget
        if (refused.length > 0) throw invalidTarget(refused.join(', '));
        const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
        if (failed) throw failed.reason;
        return {};
      },
      DeregisterTargets: (input) => {
        const group = groupOf(input);
        for (const id of targetIds(input)) group.deregister(id);
        return {};
      },
      DescribeTargetHealth: (input) => {
        const group = groupOf(input);
        const registered = group.describe();
        const asked = listOf<TargetDescription>(input.Targets);
        const descriptions =
          asked.length === 0
            ? registered.map(describeTarget)
            : asked.map((target) => {
                const id = required(target.Id, 'targets.member.id');
                const found = registered.find((candidate) => candidate.instanceId === id);
                // what target_deregistered waits for
                return describeTarget(found ?? { instanceId: id, port: target.Port, state: 'unused', reason: 'Target.NotRegistered' });
              });
        return { TargetHealthDescriptions: descriptions };
      },
    },
  };
}

function describeTarget(target: Pick<TargetHealthDescription, 'instanceId' | 'state' | 'reason'> & { port?: number | string }) {
  return {
    Target: { Id: target.instanceId, Port: target.port },
    HealthCheckPort: target.port === undefined ? undefined : String(target.port),
    TargetHealth: { State: target.state, Reason: target.reason, Description: target.reason ? REASON_DESCRIPTIONS[target.reason] : undefined },
  };
}

function targetIds(input: Record<string, any>): string[] {
  const targets = listOf<TargetDescription>(input.Targets);
  required(targets[0], 'targets');
  return [...new Set(targets.map((target) => required(target.Id, 'targets.member.id')))];
}
