import { WaitTimedOut } from '../../../shared/errors';
import type { Log, TargetGroupKey, TargetGroups, TargetState } from '../../../shared/ports';
import { LocalTargetGroup, SANDBOX_TARGET_GROUP_SETTINGS, type HealthCheckSettings, type TargetGroupSettings, type TargetResolver } from './elb';

const KEYS: TargetGroupKey[] = ['amqp', 'management'];

export interface NetworkLoadBalancerOptions {
  resolve: TargetResolver;
  settings?: Partial<Omit<TargetGroupSettings, 'healthCheck'>> & { healthCheck?: Partial<HealthCheckSettings> };
  /** listener ports on 127.0.0.1; 0 (the default) picks free ones */
  listenerPorts?: Partial<Record<TargetGroupKey, number>>;
  log?: Log;
}

/** The cluster's NLB: one TCP listener and target group for AMQP, one for the management API. */
export class LocalNetworkLoadBalancer {
  readonly groups: Record<TargetGroupKey, LocalTargetGroup>;

  private constructor(groups: Record<TargetGroupKey, LocalTargetGroup>) {
    this.groups = groups;
  }

  static async start(options: NetworkLoadBalancerOptions): Promise<LocalNetworkLoadBalancer> {
    const settings: TargetGroupSettings = {
      ...SANDBOX_TARGET_GROUP_SETTINGS,
      ...options.settings,
      healthCheck: { ...SANDBOX_TARGET_GROUP_SETTINGS.healthCheck, ...options.settings?.healthCheck },
    };
    const nlb = new LocalNetworkLoadBalancer({
      amqp: new LocalTargetGroup('amqp', options.resolve, settings, options.log),
      management: new LocalTargetGroup('management', options.resolve, settings, options.log),
    });
    try {
      await nlb.groups.amqp.listen(options.listenerPorts?.amqp ?? 0);
      await nlb.groups.management.listen(options.listenerPorts?.management ?? 0);
    } catch (error) {
      await nlb.close();
      throw error;
    }
    return nlb;
  }

  /** Where clients connect: the NLB's DNS name and listener ports, here 127.0.0.1. */
  endpoints(): Record<TargetGroupKey, { host: string; port: number }> {
    return { amqp: this.groups.amqp.listenerAddress(), management: this.groups.management.listenerAddress() };
  }

  async close(): Promise<void> {
    await Promise.all([this.groups.amqp.close(), this.groups.management.close()]);
  }
}

/**
 * The TargetGroups port over the local NLB, with the semantics of shared/aws/target-groups.ts: every call
 * goes to both groups, register / deregister are idempotent, and the waits end like the SDK waiters
 * (target_in_service: every group says healthy; target_deregistered: every group says unused) or throw
 * WaitTimedOut at their bound.
 */
export class LocalTargetGroups implements TargetGroups {
  constructor(private readonly nlb: Pick<LocalNetworkLoadBalancer, 'groups'>) {}

  async register(instanceId: string): Promise<void> {
    await Promise.all(KEYS.map((key) => this.nlb.groups[key].register(instanceId)));
  }

  async deregister(instanceId: string): Promise<void> {
    for (const key of KEYS) this.nlb.groups[key].deregister(instanceId);
  }

  async waitHealthy(instanceId: string, timeoutSeconds: number): Promise<void> {
    await this.waitForAll(instanceId, timeoutSeconds, 'healthy', (state) => state === 'healthy');
  }

  async waitDeregistered(instanceId: string, timeoutSeconds: number): Promise<void> {
    await this.waitForAll(instanceId, timeoutSeconds, 'deregistered', (state) => state === 'unused');
  }

  async describe(): Promise<Record<TargetGroupKey, Map<string, TargetState>>> {
    const states = (group: LocalTargetGroup) => new Map(group.describe().map(({ instanceId, state }) => [instanceId, state]));
    return { amqp: states(this.nlb.groups.amqp), management: states(this.nlb.groups.management) };
  }

  private async waitForAll(instanceId: string, timeoutSeconds: number, goal: string, reached: (state: TargetState) => boolean): Promise<void> {
    await Promise.all(KEYS.map((key) => waitForState(this.nlb.groups[key], instanceId, timeoutSeconds, goal, reached)));
  }
}

/** Resolves as soon as the target's state satisfies `reached`; the group reports every change, so nothing polls. */
function waitForState(
  group: LocalTargetGroup,
  instanceId: string,
  timeoutSeconds: number,
  goal: string,
  reached: (state: TargetState) => boolean,
): Promise<void> {
  if (reached(group.stateOf(instanceId))) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const stop = () => {
      clearTimeout(timer);
      unsubscribe();
    };
    const timer = setTimeout(() => {
      stop();
      reject(new WaitTimedOut(`${instanceId} not ${goal} in the ${group.key} target group within ${timeoutSeconds}s`));
    }, Math.max(0, timeoutSeconds * 1000));
    const unsubscribe = group.onChange((change) => {
      if (change.instanceId !== instanceId || !reached(change.to)) return;
      stop();
      resolve();
    });
  });
}
