import { ChaosControl, INJECTED } from '../../../infra/sandbox/chaos/control';
import { ec2Api } from '../../../infra/sandbox/aws/ec2-api';
import { LocalAwsEndpoint } from '../../../infra/sandbox/aws/endpoint';
import { LocalEc2 } from '../../../infra/sandbox/cloud/ec2';
import { LocalEventBus } from '../../../infra/sandbox/cloud/event-bus';
import { realTimeScheduler } from '../../../infra/sandbox/cloud/scheduler';
import type { Sandbox } from '../../../infra/sandbox/sandbox';
import { createAwsClients } from '../../../shared/aws/clients';
import { AwsRequestFailed } from '../../../shared/aws/errors';
import { Ec2AutoScalingInventory } from '../../../shared/aws/inventory';

/*
 * The chaos control arms faults in the local AWS endpoint: they answer beneath the SDK, whose retries
 * see them, and warren's real adapter fails only once the retries are spent.
 */
let aws: LocalAwsEndpoint;
let control: ChaosControl;
let inventory: Ec2AutoScalingInventory;
const ATTEMPTS = 3;

beforeEach(async () => {
  const bus = new LocalEventBus(realTimeScheduler);
  const ec2 = new LocalEc2({
    bus,
    scheduler: realTimeScheduler,
    host: { boot: async () => ({ privateIp: '10.0.1.5', hostname: 'ip-10-0-1-5' }), kill: async () => {} },
  });
  aws = await LocalAwsEndpoint.start([ec2Api(ec2)], { region: 'us-east-1' });
  control = new ChaosControl();
  control.attach({ aws, bus, config: { targetGroups: { amqp: 'arn:amqp', management: 'arn:mgmt' } } } as unknown as Sandbox);
  inventory = new Ec2AutoScalingInventory({ autoScalingGroupName: 'g' }, createAwsClients({ ...aws.clientOptions(), maxAttempts: ATTEMPTS, retryDelayMs: 5 }));
});
afterEach(() => aws.close());

describe('the chaos control between warren and the local AWS', () => {
  it("answers the armed operation with the service's throttling error; the SDK rides out fewer than its attempts", async () => {
    control.round = 4;
    control.armApiFault('api-throttling', 'DescribeInstances', ATTEMPTS - 1);

    await expect(inventory.describeInstances(['i-0123456789abcdef0'])).resolves.toEqual([]);

    expect(control.hits).toEqual([
      { round: 4, kind: 'api-throttling', what: 'DescribeInstances (ec2)' },
      { round: 4, kind: 'api-throttling', what: 'DescribeInstances (ec2)' },
    ]);
    expect(aws.calls.map((call) => call.error ?? 'answered')).toEqual(['RequestLimitExceeded', 'RequestLimitExceeded', 'answered']);
  });

  it("reaches warren as AwsRequestFailed with the service's code once the SDK gave up", async () => {
    control.armApiFault('api-5xx', 'DescribeInstances', ATTEMPTS);

    const failure = await inventory.describeGroupInstances().catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(AwsRequestFailed);
    expect((failure as AwsRequestFailed).operation).toBe('DescribeInstances');
    expect(((failure as Error).cause as Error).name).toBe('InternalError');
    expect(control.explain(`${(failure as Error).name}: ${(failure as Error).message}`, 0)).toBe('api-5xx: DescribeInstances (ec2)');
    await expect(inventory.describeGroupInstances()).resolves.toEqual([]);
  });

  it('disarms what never fired and says how many', async () => {
    control.armApiFault('api-5xx', 'CreateTags', 3);
    control.armEventFault({ kind: 'missed-event', event: 'launch' });

    expect(control.disarm()).toBe(2);
    await inventory.describeGroupInstances();
    expect(control.hits).toEqual([]);
  });

  it('explains a dead letter by the injected fault its error names, not by another fault of the round', async () => {
    control.round = 7;
    const throttled = new Error('DeregisterTargets failed: Throttling: Rate exceeded [injected]');
    const failed = new Error('CompleteLifecycleAction failed: InternalFailure: The request processing has failed [injected]');
    control.hits.push(
      { round: 7, kind: 'api-throttling', what: 'DeregisterTargets (elasticloadbalancing)' },
      { round: 7, kind: 'api-5xx', what: 'CompleteLifecycleAction (autoscaling)' },
    );
    // what the soak's ssm faults record when the local Run Command takes them
    control.hits.push({ round: 7, kind: 'ssm-failure', what: 'NodeJoin on i-a01' }, { round: 7, kind: 'ssm-timeout', what: 'NodeLeave on i-b02' });
    const letter = (error: Error) => `AwsRequestFailed: ${error.message}`;

    expect(control.explain(letter(failed), 8)).toBe('api-5xx: CompleteLifecycleAction (autoscaling)');
    expect(control.explain(letter(throttled), 7)).toBe('api-throttling: DeregisterTargets (elasticloadbalancing)');
    expect(control.explain(`NodeCommandFailed: join on i-a01 ended Failed: ${INJECTED}: NodeJoin failed`, 7)).toBe('ssm-failure: NodeJoin on i-a01');
    expect(control.explain('NodeCommandFailed: leave on i-b02 ended TimedOut: injected execution timeout', 7)).toBe('ssm-timeout: NodeLeave on i-b02');
  });

  it('leaves unexplained a dead letter that no injected fault accounts for', () => {
    control.hits.push({ round: 2, kind: 'ssm-timeout', what: 'NodeJoin on i-a01' }, { round: 3, kind: 'api-5xx', what: 'CreateTags (ec2)' });

    expect(control.explain('NodeCommandFailed: join on i-c03 ended Failed: Error: unable to perform an operation on node', 3)).toBeUndefined();
    // a timeout is explained only by an ssm-timeout of this round or the one before
    expect(control.explain('NodeCommandFailed: join on i-c03 ended TimedOut: DeliveryTimedOut', 4)).toBeUndefined();
    expect(control.explain('NodeCommandFailed: join on i-c03 ended TimedOut: DeliveryTimedOut', 3)).toBe(
      'ssm-timeout (not matched to one command): NodeJoin on i-a01',
    );
    // only the chaos control writes the marker, so it explains by itself
    expect(control.explain(`AwsRequestFailed: SendCommand failed: ThrottlingException: Rate exceeded [${INJECTED}]`, 9)).toBe(
      'an injected failure (no single hit matched)',
    );
  });
});
