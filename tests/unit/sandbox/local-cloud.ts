import { LocalAutoScalingGroup, type AutoScalingGroupOptions } from '../../../infra/sandbox/cloud/autoscaling';
import { LocalEc2, type BootedInstance, type Ec2Instance, type InstanceHost } from '../../../infra/sandbox/cloud/ec2';
import { type AwsEvent, LocalEventBus } from '../../../infra/sandbox/cloud/event-bus';
import { schedulerOn } from '../../../infra/sandbox/cloud/scheduler';
import { FakeClock } from '../../support/fake-clock';

/** Machines without RabbitMQ: each boot takes bootMs of virtual time and gets the next address. */
export class RecordingHost implements InstanceHost {
  readonly boots: string[] = [];
  readonly kills: Array<{ instanceId: string; at: number }> = [];
  /** ids (or every id, with '*') whose boot fails */
  readonly failing = new Set<string>();
  /** called as a kill starts, to look at the world the moment the machine dies */
  onKill?: (instanceId: string) => void;
  private next = 10;

  constructor(
    private readonly clock: FakeClock,
    private readonly bootMs = 5_000,
  ) {}

  async boot(instance: Readonly<Ec2Instance>): Promise<BootedInstance> {
    this.boots.push(instance.instanceId);
    await this.clock.sleep(this.bootMs);
    if (this.failing.has('*') || this.failing.has(instance.instanceId)) throw new Error('kernel panic');
    const ip = `10.0.${instance.availabilityZone.slice(-1).charCodeAt(0) - 96}.${this.next++}`;
    return { privateIp: ip, hostname: `ip-${ip.replace(/\./g, '-')}` };
  }

  async kill(instanceId: string): Promise<void> {
    this.onKill?.(instanceId);
    this.kills.push({ instanceId, at: this.clock.now() });
  }
}

export const GROUP_NAME = 'orders-rabbitmq';

/** The whole local control plane on virtual time, with every delivered event collected. */
export function localCloud(options: Partial<AutoScalingGroupOptions> = {}) {
  const clock = new FakeClock();
  const scheduler = schedulerOn(clock);
  const bus = new LocalEventBus(scheduler);
  const host = new RecordingHost(clock);
  const ec2 = new LocalEc2({ host, bus, scheduler });
  const group = new LocalAutoScalingGroup(ec2, bus, scheduler, {
    name: GROUP_NAME,
    minSize: 1,
    maxSize: 6,
    desiredCapacity: 3,
    ...options,
  });
  const delivered: AwsEvent[] = [];
  bus.subscribe((event) => void delivered.push(event));
  /** Lets every ready task and zero-delay timer run, without moving time forward. */
  const settle = async () => {
    for (let round = 0; round < 20; round++) await clock.sleep(0);
  };
  const lifecycleEvents = (instanceId?: string) =>
    delivered.filter((event) => event.source === 'aws.autoscaling' && (!instanceId || event.detail.EC2InstanceId === instanceId));
  const stateEvents = (instanceId: string) =>
    delivered.filter((event) => event.source === 'aws.ec2' && event.detail['instance-id'] === instanceId).map((event) => event.detail.state);
  const membersIn = (state: string) => group.describe().instances.filter((member) => member.lifecycleState === state);
  /** Starts the group and completes every launch with CONTINUE: a healthy group at rest. */
  const startInService = async () => {
    group.start();
    await clock.sleep(10_000);
    for (const action of group.activeActions()) {
      group.completeLifecycleAction({ groupName: GROUP_NAME, hookName: action.hookName, token: action.token, result: 'CONTINUE' });
    }
    await settle();
  };
  return { clock, scheduler, bus, host, ec2, group, delivered, settle, lifecycleEvents, stateEvents, membersIn, startInService };
}
