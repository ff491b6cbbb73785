import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  waitUntilTargetDeregistered,
  waitUntilTargetInService,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Config } from '../config';
import { WaitTimedOut } from '../errors';
import type { TargetGroupKey, TargetGroups, TargetState } from '../ports';
import { createElbv2Client } from './clients';
import { AwsRequestFailed, errorName, request } from './errors';

export interface Elbv2TargetGroupsOptions {
  /** polling of DescribeTargetHealth, in seconds (SDK waiter minDelay / maxDelay) */
  poll?: { minDelay: number; maxDelay: number };
}

const KEYS: TargetGroupKey[] = ['amqp', 'management'];

/**
 * The NLB's target groups over ELBv2. Instance targets without a port, so each group uses its
 * own port; every call goes to both groups.
 */
export class Elbv2TargetGroups implements TargetGroups {
  private readonly elbv2: ElasticLoadBalancingV2Client;
  private readonly poll: { minDelay: number; maxDelay: number };

  constructor(
    private readonly config: Pick<Config, 'targetGroups'>,
    clients: { elbv2?: ElasticLoadBalancingV2Client } = {},
    options: Elbv2TargetGroupsOptions = {},
  ) {
    this.elbv2 = clients.elbv2 ?? createElbv2Client();
    this.poll = options.poll ?? { minDelay: 5, maxDelay: 30 };
  }

  async register(instanceId: string): Promise<void> {
    await Promise.all(
      KEYS.map((key) =>
        request('RegisterTargets', () =>
          this.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: this.config.targetGroups[key], Targets: [{ Id: instanceId }] })),
        ),
      ),
    );
  }

  async deregister(instanceId: string): Promise<void> {
    await Promise.all(
      KEYS.map(async (key) => {
        try {
          await this.elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: this.config.targetGroups[key], Targets: [{ Id: instanceId }] }));
        } catch (error) {
          // an instance EC2 no longer knows cannot be a target: already deregistered
          if (errorName(error) === 'InvalidTargetException') return;
          throw new AwsRequestFailed('DeregisterTargets', error);
        }
      }),
    );
  }

  async waitHealthy(instanceId: string, timeoutSeconds: number): Promise<void> {
    await this.waitForAll(instanceId, timeoutSeconds, 'healthy', waitUntilTargetInService);
  }

  async waitDeregistered(instanceId: string, timeoutSeconds: number): Promise<void> {
    await this.waitForAll(instanceId, timeoutSeconds, 'deregistered', waitUntilTargetDeregistered);
  }

  async describe(): Promise<Record<TargetGroupKey, Map<string, TargetState>>> {
    const [amqp, management] = await Promise.all(
      KEYS.map(async (key) => {
        const answer = await request('DescribeTargetHealth', () =>
          this.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: this.config.targetGroups[key] })),
        );
        const states = new Map<string, TargetState>();
        for (const description of answer.TargetHealthDescriptions ?? []) {
          if (description.Target?.Id) states.set(description.Target.Id, toTargetState(description.TargetHealth?.State));
        }
        return states;
      }),
    );
    return { amqp: amqp!, management: management! };
  }

  private async waitForAll(instanceId: string, timeoutSeconds: number, goal: string, waiter: typeof waitUntilTargetInService): Promise<void> {
    // the SDK waiter refuses a maxWaitTime at or below minDelay; a shorter bound still gets its checks
    const maxWaitTime = Math.max(timeoutSeconds, this.poll.minDelay + 1);
    await Promise.all(
      KEYS.map(async (key) => {
        const input = { TargetGroupArn: this.config.targetGroups[key], Targets: [{ Id: instanceId }] };
        try {
          await waiter({ client: this.elbv2, maxWaitTime, ...this.poll }, input);
        } catch (error) {
          if (errorName(error) === 'TimeoutError') {
            throw new WaitTimedOut(`${instanceId} not ${goal} in the ${key} target group within ${timeoutSeconds}s`, { cause: error });
          }
          throw new AwsRequestFailed(`wait for ${goal} target`, error);
        }
      }),
    );
  }
}

/** 'unhealthy.draining' (a target leaving while unhealthy) counts as draining: it is on its way out. */
function toTargetState(state: string | undefined): TargetState {
  switch (state) {
    case 'initial':
    case 'healthy':
    case 'unhealthy':
    case 'unused':
    case 'draining':
    case 'unavailable':
      return state;
    case 'unhealthy.draining':
      return 'draining';
    default:
      return 'unavailable';
  }
}
