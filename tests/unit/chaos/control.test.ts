import { AwsRequestFailed } from '../../../shared/aws/errors';
import { ChaosControl, INJECTED } from '../../../infra/sandbox/chaos/control';
import type { SandboxPorts } from '../../../infra/sandbox/sandbox';

/** Ports that answer at once and count their calls: what the wrapper lets through is what reaches them. */
function countingPorts() {
  const calls: string[] = [];
  const answer = (name: string, value: unknown) => async () => {
    calls.push(name);
    return value;
  };
  const ports = {
    inventory: { describeInstances: answer('describeInstances', []), describeGroup: answer('describeGroup', {}) },
    lifecycle: { complete: answer('complete', 'completed'), heartbeat: answer('heartbeat', 'recorded') },
    nodes: { isAgentOnline: answer('isAgentOnline', true) },
    targets: { deregister: answer('deregister', undefined) },
  } as unknown as SandboxPorts;
  return { ports, calls };
}

describe('the chaos control between warren and the sandbox', () => {
  it('fails the armed AWS operation as the adapters fail after the SDK gave up, then lets calls through', async () => {
    const control = new ChaosControl();
    control.round = 4;
    const { ports, calls } = countingPorts();
    const wrapped = control.wrap(ports);
    control.armApiFault('api-throttling', 'DescribeInstances', 2);

    for (let i = 0; i < 2; i++) {
      const failure = await wrapped.inventory.describeInstances(['i-1']).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(AwsRequestFailed);
      expect((failure as AwsRequestFailed).operation).toBe('DescribeInstances');
      expect(((failure as Error).cause as Error).name).toBe('ThrottlingException');
      expect((failure as Error).message).toContain(INJECTED);
    }
    await expect(wrapped.inventory.describeInstances(['i-1'])).resolves.toEqual([]);
    await expect(wrapped.inventory.describeGroup()).resolves.toEqual({});

    expect(calls).toEqual(['describeInstances', 'describeGroup']);
    expect(control.hits).toEqual([
      { round: 4, kind: 'api-throttling', what: 'DescribeInstances (inventory.describeInstances)' },
      { round: 4, kind: 'api-throttling', what: 'DescribeInstances (inventory.describeInstances)' },
    ]);
  });

  it('answers a 5xx with InternalFailure and leaves other operations alone', async () => {
    const control = new ChaosControl();
    const { ports } = countingPorts();
    const wrapped = control.wrap(ports);
    control.armApiFault('api-5xx', 'CompleteLifecycleAction', 1);

    await expect(wrapped.lifecycle.heartbeat({ autoScalingGroupName: 'g', lifecycleHookName: 'h', instanceId: 'i-1' })).resolves.toBe('recorded');
    const failure = await wrapped.lifecycle.complete({ autoScalingGroupName: 'g', lifecycleHookName: 'h', instanceId: 'i-1' }, 'CONTINUE').catch((e: unknown) => e);
    expect(((failure as Error).cause as Error).name).toBe('InternalFailure');
  });

  it('disarms what never fired and says how many', async () => {
    const control = new ChaosControl();
    const { ports, calls } = countingPorts();
    const wrapped = control.wrap(ports);
    control.armApiFault('api-5xx', 'DeregisterTargets', 3);
    control.armEventFault({ kind: 'missed-event', event: 'launch' });

    expect(control.disarm()).toBe(2);
    await wrapped.targets.deregister('i-1');
    expect(calls).toEqual(['deregister']);
    expect(control.hits).toEqual([]);
  });

  it('explains a dead letter by the injected fault its error names, not by another fault of the round', async () => {
    const control = new ChaosControl();
    control.round = 7;
    const { ports } = countingPorts();
    const wrapped = control.wrap(ports);
    control.armApiFault('api-throttling', 'DeregisterTargets', 1);
    control.armApiFault('api-5xx', 'CompleteLifecycleAction', 1);
    const throttled = (await wrapped.targets.deregister('i-1').catch((e: unknown) => e)) as Error;
    const failed = (await wrapped.lifecycle.complete({ autoScalingGroupName: 'g', lifecycleHookName: 'h', instanceId: 'i-1' }, 'CONTINUE').catch((e: unknown) => e)) as Error;
    // what the soak's ssm faults record when the local Run Command takes them
    control.hits.push({ round: 7, kind: 'ssm-failure', what: 'NodeJoin on i-a01' }, { round: 7, kind: 'ssm-timeout', what: 'NodeLeave on i-b02' });
    const letter = (error: Error) => `${error.name}: ${error.message}`;

    expect(control.explain(letter(throttled), 7)).toBe('api-throttling: DeregisterTargets (targets.deregister)');
    expect(control.explain(letter(failed), 8)).toBe('api-5xx: CompleteLifecycleAction (lifecycle.complete)');
    expect(control.explain(`NodeCommandFailed: join on i-a01 ended Failed: ${INJECTED}: NodeJoin failed`, 7)).toBe('ssm-failure: NodeJoin on i-a01');
    expect(control.explain('NodeCommandFailed: leave on i-b02 ended TimedOut: injected execution timeout', 7)).toBe('ssm-timeout: NodeLeave on i-b02');
  });

  it('leaves unexplained a dead letter that no injected fault accounts for', () => {
    const control = new ChaosControl();
    control.hits.push({ round: 2, kind: 'ssm-timeout', what: 'NodeJoin on i-a01' }, { round: 3, kind: 'api-5xx', what: 'CreateTags (inventory.tagNodeName)' });

    expect(control.explain('NodeCommandFailed: join on i-c03 ended Failed: Error: unable to perform an operation on node', 3)).toBeUndefined();
    // a timeout is explained only by an ssm-timeout of this round or the one before
    expect(control.explain('NodeCommandFailed: join on i-c03 ended TimedOut: DeliveryTimedOut', 4)).toBeUndefined();
    expect(control.explain('NodeCommandFailed: join on i-c03 ended TimedOut: DeliveryTimedOut', 3)).toBe('ssm-timeout (not matched to one command): NodeJoin on i-a01');
    // only the chaos control writes the marker, so it explains by itself
    expect(control.explain(`AwsRequestFailed: SendCommand failed: ThrottlingException: Rate exceeded [${INJECTED}]`, 9)).toBe('an injected failure (no single hit matched)');
  });
});
