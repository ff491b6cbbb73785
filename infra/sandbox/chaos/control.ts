import { DETAIL_TYPES } from '../../../shared/events/kinds';
import { FAULT_MARK, type ApiCall, type ApiFaultKind } from '../aws/endpoint';
import type { AwsEvent } from '../cloud/event-bus';
import type { Sandbox } from '../sandbox';
import type { ApiOperation, EventTarget, FaultKind } from './faults';

/** Marks every failure the soak injects, so a dead letter can be traced to its fault. */
export const INJECTED = 'chaos-injected';

/** One invariant of docs/design.md seen broken, with the round it happened in. */
export interface Violation {
  round: number;
  invariant: string;
  detail: string;
}

/** A fault that took effect: an API call failed, an event was hit, a command failed. */
export interface Hit {
  round: number;
  kind: FaultKind;
  what: string;
}

/** How the local AWS endpoint answers each API fault: the service's own throttling and 5xx responses, or silence. */
const ENDPOINT_FAULT: Record<ApiFaultName, ApiFaultKind> = {
  'api-throttling': 'throttling',
  'api-5xx': '5xx',
  'api-silent': 'silent',
  'api-not-visible': 'not-yet-visible',
};
type ApiFaultName = 'api-throttling' | 'api-5xx' | 'api-silent' | 'api-not-visible';

interface ArmedEventFault {
  kind: 'duplicate-event' | 'missed-event' | 'late-event';
  event: EventTarget;
  delayMs?: number;
  round: number;
}

/**
 * The soak's hands and eyes inside the sandbox. Hands: API requests the local AWS endpoint answers
 * with the service's throttling or 5xx error or not at all, beneath the SDK, whose retry strategy sees
 * them as it would in AWS; events EventBridge drops, repeats or delays. Eyes: every forget and every
 * target registration warren sends, checked against the real nodes at the moment it reaches the endpoint.
 */
export class ChaosControl {
  round = 0;
  readonly violations: Violation[] = [];
  readonly hits: Hit[] = [];
  /** late events not delivered yet: convergence is not judged before they arrive */
  readonly lateUntil: number[] = [];
  private readonly eventFaults: ArmedEventFault[] = [];
  private sandbox?: Sandbox;

  attach(sandbox: Sandbox): void {
    this.sandbox = sandbox;
    sandbox.aws.observe((call) => this.check(call));
    sandbox.bus.faults = {
      drop: (event) => this.takeEventFault(event, 'missed-event') !== undefined,
      duplicate: (event) => this.takeEventFault(event, 'duplicate-event') !== undefined,
      delayMs: (event) => {
        const fault = this.takeEventFault(event, 'late-event');
        if (!fault) return 0;
        this.lateUntil.push(Date.now() + fault.delayMs!);
        return fault.delayMs!;
      },
    };
  }

  violation(invariant: string, detail: string): void {
    this.violations.push({ round: this.round, invariant, detail });
  }

  /** The next `times` requests of `operation` (the SDK's retries included) are answered by the fault. */
  armApiFault(kind: ApiFaultName, operation: ApiOperation, times: number): void {
    this.sandbox!.aws.armFault({
      kind: ENDPOINT_FAULT[kind],
      operation,
      times,
      onTaken: (call) => this.hits.push({ round: this.round, kind, what: `${operation} (${call.service})` }),
    });
  }

  armEventFault(fault: Omit<ArmedEventFault, 'round'>): void {
    this.eventFaults.push({ ...fault, round: this.round });
  }

  /** Disarms what did not fire; returns how many armed faults never took effect. */
  disarm(): number {
    const left = (this.sandbox?.aws.clearFaults().length ?? 0) + this.eventFaults.length;
    this.eventFaults.splice(0);
    return left;
  }

  /**
   * What explains a dead letter of `round`: the injected fault its error names, as "<kind>: <what>",
   * looked for among the hits of this round and the one before (a message is retried for about 40 s).
   * Only this control writes INJECTED, so an error that carries it is explained even when no single
   * hit matches; a timed-out or undeliverable command is explained by an ssm-timeout hit.
   */
  explain(error: string, round: number): string | undefined {
    const recent = this.hits.filter((hit) => hit.round >= round - 1).reverse();
    const named = recent.find((hit) => names(error, hit));
    if (named) return `${named.kind}: ${named.what}`;
    if (error.includes(INJECTED) || error.includes(`[${FAULT_MARK}]`)) return 'an injected failure (no single hit matched)';
    const timeout = /TimedOut|Undeliverable/.test(error) ? recent.find((hit) => hit.kind === 'ssm-timeout') : undefined;
    return timeout && `ssm-timeout (not matched to one command): ${timeout.what}`;
  }

  /** Requests that change membership or traffic are checked against the nodes before they are answered. */
  private async check(call: ApiCall): Promise<void> {
    const sandbox = this.sandbox!;
    // one registration goes to both target groups: checked once, on the AMQP group
    if (call.operation === 'RegisterTargets' && call.input.TargetGroupArn === sandbox.config.targetGroups.amqp) {
      for (const target of call.input.Targets ?? []) await this.checkRegistration(String(target.Id));
    }
    if (call.operation === 'SendCommand' && String(call.input.DocumentName).endsWith('NodeForget')) {
      const [nodeName] = call.input.Parameters?.NodeName ?? [];
      if (nodeName) await this.checkForget(String(nodeName));
    }
  }

  private takeEventFault(event: AwsEvent, kind: ArmedEventFault['kind']): ArmedEventFault | undefined {
    const index = this.eventFaults.findIndex((f) => f.kind === kind && matches(event, f.event));
    if (index < 0) return undefined;
    const fault = this.eventFaults.splice(index, 1)[0]!;
    const detail = event.detail as Record<string, unknown>;
    this.hits.push({ round: this.round, kind, what: `${event['detail-type']} ${String(detail.EC2InstanceId ?? detail['instance-id'] ?? '')}`.trim() });
    return fault;
  }

  /** Invariant 4: a target is registered only once its node is a running member of the cluster. */
  private async checkRegistration(instanceId: string): Promise<void> {
    const sandbox = this.sandbox!;
    const node = sandbox.host.nodeOf(instanceId);
    const answer = await bounded(sandbox.host.rabbitmqctl(instanceId, ['--formatter', 'json', 'cluster_status']).catch((error: Error) => error));
    if (!node || !answer || answer instanceof Error || answer.exitCode !== 0) {
      this.violation('no target registered before membership', `${instanceId} registered while its node did not answer cluster_status`);
      return;
    }
    const running = (JSON.parse(answer.stdout) as { running_nodes?: string[] }).running_nodes ?? [];
    // alone is right only for the node that founds the cluster: no other instance serves yet
    const others = sandbox.group
      .describe()
      .instances.filter((i) => i.instanceId !== instanceId && i.lifecycleState === 'InService' && sandbox.host.isAlive(i.instanceId));
    if (!running.includes(node.name) || (running.length < 2 && others.length > 0)) {
      this.violation(
        'no target registered before membership',
        `${instanceId} (${node.name}) registered while its running nodes were ${JSON.stringify(running)}`,
      );
    }
  }

  /**
   * Invariant 1: a node is forgotten only when its instance is leaving (EC2 shutting-down or
   * terminated, or the group terminating it after it left) and its RabbitMQ app is not running.
   */
  private async checkForget(nodeName: string): Promise<void> {
    const sandbox = this.sandbox!;
    const instanceId = sandbox.host.instanceOfNode(nodeName);
    if (!instanceId) return;
    const ec2State = sandbox.ec2.get(instanceId)?.state;
    const lifecycle = sandbox.group.member(instanceId)?.lifecycleState ?? 'Terminated';
    const leaving = ec2State === 'shutting-down' || ec2State === 'terminated' || /^Terminat/.test(lifecycle);
    if (!leaving) this.violation('no forget of a running node', `${nodeName} forgotten while ${instanceId} is EC2 ${ec2State}, ${lifecycle}`);
    if (!sandbox.host.isAlive(instanceId)) return;
    const answer = await bounded(sandbox.host.rabbitmqctl(instanceId, ['eval', 'rabbit:is_running().']).catch((error: Error) => error));
    if (answer && !(answer instanceof Error) && answer.exitCode === 0 && answer.stdout.trim() === 'true') {
      this.violation('no forget of a running node', `${nodeName} forgotten while its RabbitMQ app runs`);
    }
  }
}

/**
 * Whether `error` is the failure `hit` injected. An API hit's `what` is "<Operation> (<service>)" and
 * the adapters' error reads "<Operation> failed: <error code>: <message> [injected]" (a silent socket:
 * "<Operation> failed: TimeoutError: ..."); a command hit's is
 * "<Document> on <instance>" and a failed command's error names the instance.
 */
function names(error: string, hit: Hit): boolean {
  const [subject = '', , instanceId = ''] = hit.what.split(' ');
  switch (hit.kind) {
    case 'api-throttling':
    case 'api-5xx':
    case 'api-not-visible':
      return error.includes(`${subject} failed: `) && error.includes(`[${FAULT_MARK}]`);
    case 'api-silent':
      return error.includes(`${subject} failed: TimeoutError`);
    case 'ssm-failure':
      return error.includes(`${INJECTED}: ${subject} failed`) && error.includes(instanceId);
    case 'ssm-timeout':
      return /TimedOut|Undeliverable/.test(error) && instanceId !== '' && error.includes(instanceId);
    default:
      return false;
  }
}

function matches(event: AwsEvent, target: EventTarget): boolean {
  switch (target) {
    case 'launch':
      return event['detail-type'] === DETAIL_TYPES.launchLifecycleAction;
    case 'terminate':
      return event['detail-type'] === DETAIL_TYPES.terminateLifecycleAction;
    case 'state-change': {
      const state = (event.detail as { state?: string }).state;
      return event['detail-type'] === DETAIL_TYPES.instanceStateChange && (state === 'shutting-down' || state === 'terminated');
    }
  }
}

/** rabbitmqctl against a node whose peer just vanished can hang; the checks give it 15 s. */
function bounded<T>(work: Promise<T>, ms = 15_000): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
