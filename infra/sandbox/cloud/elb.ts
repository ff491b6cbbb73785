import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { Log, TargetGroupKey, TargetState } from '../../../shared/ports';
import { ApiError } from '../aws/protocol';
import { generateListenerCertificate, type ListenerCertificate } from './listener-certificate';

/** Where an instance's RabbitMQ listens: its own IP in namespace mode, 127.0.0.1 with distinct ports on loopback. */
export interface TargetAddress {
  ip: string;
  amqpPort: number;
  managementPort: number;
}

/** instanceId -> address; undefined for an instance that is not running (it cannot be registered). */
export type TargetResolver = (instanceId: string) => TargetAddress | undefined | Promise<TargetAddress | undefined>;

export interface HealthCheckSettings {
  intervalMs: number;
  /** a TCP connect that has not completed by then counts as a failure */
  timeoutMs: number;
  /** consecutive successes before an initial or unhealthy target is healthy (AWS TCP default 5) */
  healthyThreshold: number;
  /** consecutive failures before an initial or healthy target is unhealthy (AWS TCP default 2) */
  unhealthyThreshold: number;
}

export interface TargetGroupSettings {
  healthCheck: HealthCheckSettings;
  /** deregistration_delay.timeout_seconds, in ms (AWS default 300 s) */
  deregistrationDelayMs: number;
  /**
   * deregistration_delay.connection_termination.enabled. AWS defaults to false (connections outlive the
   * delay); the sandbox defaults to true so a departed node's clients are cut like warren's NLB is set up to.
   */
  terminateConnectionsAfterDrain: boolean;
  /** target_health_state.unhealthy.connection_termination.enabled (AWS default true): reset a target's connections when it turns unhealthy */
  terminateConnectionsWhenUnhealthy: boolean;
  /**
   * The NLB fails open: with no healthy target it routes to every registered target whatever its health.
   * An empty group (or one with only draining targets) has nowhere to route: the connection is reset.
   */
  failOpen: boolean;
}

/** Small numbers so the sandbox heals in seconds rather than minutes. */
export const SANDBOX_TARGET_GROUP_SETTINGS: TargetGroupSettings = {
  healthCheck: { intervalMs: 1_000, timeoutMs: 500, healthyThreshold: 2, unhealthyThreshold: 2 },
  deregistrationDelayMs: 2_000,
  terminateConnectionsAfterDrain: true,
  terminateConnectionsWhenUnhealthy: true,
  failOpen: true,
};

/** DescribeTargetHealth's TargetHealthDescription, flattened. */
export interface TargetHealthDescription {
  instanceId: string;
  ip: string;
  port: number;
  state: TargetState;
  /** the ELBv2 reason code; absent when healthy */
  reason?: string;
}

/** RegisterTargets' error for instances that are not running, with AWS's wording. */
export function invalidTarget(instanceIds: string): ApiError {
  return new ApiError('InvalidTarget', `The following targets are not in a running state and cannot be registered: '${instanceIds}'`);
}

export interface TargetStateChange {
  group: TargetGroupKey;
  instanceId: string;
  from: TargetState;
  /** 'unused' once the target is gone from the group */
  to: TargetState;
}

interface Target extends TargetHealthDescription {
  passes: number;
  failures: number;
  probeTimer?: NodeJS.Timeout;
  probe?: net.Socket;
  drainTimer?: NodeJS.Timeout;
  /** bumped on every (de)registration so a probe that was under way then cannot start a second loop */
  probeRun: number;
  /** client-side TCP sockets of connections forwarded to this target */
  connections: Set<net.Socket>;
}

/** How long the listener waits for a target to accept before giving up on the client's connection. */
const TARGET_CONNECT_TIMEOUT_MS = 10_000;
/** How long a TLS listener waits for a client to finish its handshake. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** A listener's protocol, as ELBv2 names it: TLS ends at the load balancer and goes on as TCP. */
export type ListenerProtocol = 'TCP' | 'TLS';

/**
 * One TCP target group with its listener, like an NLB target group: instance targets checked by real
 * TCP connects, and a real listener on the host that forwards each new connection to a healthy target.
 */
export class LocalTargetGroup {
  private readonly targets = new Map<string, Target>();
  private readonly changes = new EventEmitter();
  private readonly sockets = new Set<net.Socket>();
  private readonly servers: Partial<Record<ListenerProtocol, net.Server>> = {};
  private nextPick = 0;
  private closed = false;

  constructor(
    readonly key: TargetGroupKey,
    private readonly resolve: TargetResolver,
    private readonly settings: TargetGroupSettings = SANDBOX_TARGET_GROUP_SETTINGS,
    private readonly log?: Log,
  ) {
    this.changes.setMaxListeners(0);
  }

  /**
   * Starts a listener on 127.0.0.1; port 0 picks a free one. With a certificate it is a TLS listener:
   * it completes the client's handshake, then forwards the plaintext like the TCP listener does.
   */
  async listen(port = 0, certificate?: Pick<ListenerCertificate, 'key' | 'cert'>): Promise<void> {
    const protocol: ListenerProtocol = certificate ? 'TLS' : 'TCP';
    if (this.servers[protocol]) throw new Error(`the ${this.key} target group already has a ${protocol} listener`);
    // TLS 1.2 and 1.3 only, as the deployed listeners' security policy (infra/cluster.yml)
    const context = certificate && tls.createSecureContext({ key: certificate.key, cert: certificate.cert, minVersion: 'TLSv1.2' });
    const server = net.createServer((client) => (context ? this.terminateTls(client, context) : this.forward(client)));
    this.servers[protocol] = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject).listen(port, '127.0.0.1', () => resolve(void server.off('error', reject)));
    });
  }

  listenerAddress(protocol: ListenerProtocol = 'TCP'): { host: string; port: number } {
    const address = this.servers[protocol]?.address();
    if (!address || typeof address === 'string') throw new Error(`the ${this.key} ${protocol} listener is not listening`);
    return { host: address.address, port: address.port };
  }

  /** RegisterTargets: idempotent; re-registering a draining target cancels its deregistration. */
  async register(instanceId: string): Promise<void> {
    if (this.isActive(instanceId)) return;
    const address = await this.resolve(instanceId);
    if (!address) throw invalidTarget(instanceId);
    if (this.closed) throw new Error(`the ${this.key} target group is closed`);
    // a concurrent call may have registered it while the address was resolved
    if (this.isActive(instanceId)) return;
    const existing = this.targets.get(instanceId);
    if (existing) this.stopTimers(existing);
    const port = this.key === 'amqp' ? address.amqpPort : address.managementPort;
    const target: Target = existing ?? { instanceId, ip: address.ip, port, state: 'unused', passes: 0, failures: 0, probeRun: 0, connections: new Set() };
    Object.assign(target, { ip: address.ip, port, passes: 0, failures: 0, drainTimer: undefined });
    this.targets.set(instanceId, target);
    this.transition(target, 'initial', 'Elb.InitialHealthChecking');
    this.scheduleProbe(target, 0);
  }

  private isActive(instanceId: string): boolean {
    const state = this.targets.get(instanceId)?.state;
    return state !== undefined && state !== 'draining';
  }

  /** DeregisterTargets: idempotent; the target drains for the deregistration delay, then is gone. */
  deregister(instanceId: string): void {
    const target = this.targets.get(instanceId);
    if (!target || target.state === 'draining') return;
    this.stopTimers(target);
    this.transition(target, 'draining', 'Target.DeregistrationInProgress');
    target.drainTimer = setTimeout(() => this.remove(target), this.settings.deregistrationDelayMs);
  }

  /** DescribeTargetHealth without Targets: every registered target, draining ones included. */
  describe(): TargetHealthDescription[] {
    return [...this.targets.values()].map(({ instanceId, ip, port, state, reason }) => ({ instanceId, ip, port, state, ...(reason ? { reason } : {}) }));
  }

  /** DescribeTargetHealth for one target: 'unused' (Target.NotRegistered) when it is not in the group. */
  stateOf(instanceId: string): TargetState {
    return this.targets.get(instanceId)?.state ?? 'unused';
  }

  onChange(listener: (change: TargetStateChange) => void): () => void {
    this.changes.on('change', listener);
    return () => this.changes.off('change', listener);
  }

  /** Stops every timer, probe, forwarded connection and the listener. */
  async close(): Promise<void> {
    this.closed = true;
    for (const target of this.targets.values()) this.stopTimers(target);
    this.targets.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const servers = Object.values(this.servers);
    for (const protocol of Object.keys(this.servers) as ListenerProtocol[]) delete this.servers[protocol];
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    this.changes.removeAllListeners();
  }

  private scheduleProbe(target: Target, delayMs: number, run = target.probeRun): void {
    target.probeTimer = setTimeout(() => {
      const startedAt = Date.now();
      target.probeTimer = undefined;
      void this.probe(target).then((ok) => {
        if (this.closed || target.probeRun !== run) return;
        this.record(target, ok);
        // AWS checks every interval, measured from one check's start to the next
        this.scheduleProbe(target, Math.max(0, this.settings.healthCheck.intervalMs - (Date.now() - startedAt)), run);
      });
    }, delayMs);
  }

  private probe(target: Target): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: target.ip, port: target.port });
      target.probe = socket;
      const done = (ok: boolean) => {
        clearTimeout(timer);
        socket.destroy();
        if (target.probe === socket) target.probe = undefined;
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), this.settings.healthCheck.timeoutMs);
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
      socket.once('close', () => done(false));
    });
  }

  private record(target: Target, ok: boolean): void {
    const { healthyThreshold, unhealthyThreshold } = this.settings.healthCheck;
    if (ok) {
      target.failures = 0;
      target.passes += 1;
      if (target.state !== 'healthy' && target.passes >= healthyThreshold) this.transition(target, 'healthy', undefined);
    } else {
      target.passes = 0;
      target.failures += 1;
      if (target.state !== 'unhealthy' && target.failures >= unhealthyThreshold) {
        this.transition(target, 'unhealthy', 'Target.FailedHealthChecks');
        // AWS resets an unhealthy target's connections unless that target is what makes the group fail open
        if (this.settings.terminateConnectionsWhenUnhealthy && this.healthyTargets().length > 0) this.cut(target);
      }
    }
  }

  private transition(target: Target, to: TargetState, reason: string | undefined): void {
    const from = target.state;
    target.state = to;
    target.reason = reason;
    if (from === to) return;
    this.log?.info('target state changed', { group: this.key, instanceId: target.instanceId, from, to, reason });
    this.changes.emit('change', { group: this.key, instanceId: target.instanceId, from, to } satisfies TargetStateChange);
  }

  private remove(target: Target): void {
    if (this.targets.get(target.instanceId) !== target || target.state !== 'draining') return;
    this.targets.delete(target.instanceId);
    if (this.settings.terminateConnectionsAfterDrain) this.cut(target);
    this.log?.info('target deregistered', { group: this.key, instanceId: target.instanceId });
    this.changes.emit('change', { group: this.key, instanceId: target.instanceId, from: 'draining', to: 'unused' } satisfies TargetStateChange);
  }

  /** Ends the target's probes and its drain. */
  private stopTimers(target: Target): void {
    clearTimeout(target.drainTimer);
    target.probeRun += 1;
    clearTimeout(target.probeTimer);
    target.probeTimer = undefined;
    target.probe?.destroy();
    target.probe = undefined;
  }

  private cut(target: Target): void {
    for (const client of target.connections) client.resetAndDestroy();
    target.connections.clear();
  }

  private healthyTargets(): Target[] {
    return [...this.targets.values()].filter((target) => target.state === 'healthy');
  }

  /** Healthy targets; when there are none and the group fails open, every registered target that is not draining. */
  private routable(): Target[] {
    const healthy = this.healthyTargets();
    if (healthy.length > 0 || !this.settings.failOpen) return healthy;
    return [...this.targets.values()].filter((target) => target.state === 'initial' || target.state === 'unhealthy');
  }

  /** The TLS listener's side of a connection: the handshake with the client, then the same forwarding. */
  private terminateTls(raw: net.Socket, context: tls.SecureContext): void {
    this.sockets.add(raw);
    raw.once('close', () => this.sockets.delete(raw));
    raw.on('error', () => raw.destroy());
    const client = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
    // a failed handshake is the client's problem: it sees the alert, the listener just closes
    client.on('error', () => client.destroy());
    client.setTimeout(TLS_HANDSHAKE_TIMEOUT_MS, () => client.destroy());
    client.once('secure', () => {
      client.setTimeout(0);
      this.forward(client, raw);
    });
  }

  /** `raw` is the client's TCP connection, the one a reset goes to; `client` carries the bytes (the TLS session, if any). */
  private forward(client: net.Socket, raw: net.Socket = client): void {
    this.sockets.add(client);
    client.once('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    const candidates = this.routable();
    if (candidates.length === 0) {
      raw.resetAndDestroy();
      return;
    }
    const target = candidates[this.nextPick++ % candidates.length]!;
    const upstream = net.connect({ host: target.ip, port: target.port });
    this.sockets.add(upstream);
    target.connections.add(raw);
    upstream.setTimeout(TARGET_CONNECT_TIMEOUT_MS, () => upstream.destroy());
    upstream.once('connect', () => upstream.setTimeout(0));
    upstream.on('error', () => upstream.destroy());
    upstream.once('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    client.once('close', () => {
      target.connections.delete(raw);
      upstream.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

export interface NetworkLoadBalancerOptions {
  resolve: TargetResolver;
  settings?: Partial<Omit<TargetGroupSettings, 'healthCheck'>> & { healthCheck?: Partial<HealthCheckSettings> };
  /** listener ports on 127.0.0.1; 0 (the default) picks free ones */
  listenerPorts?: Partial<Record<TargetGroupKey, number>>;
  /**
   * TLS listeners as well, in front of the same target groups, like the deployed NLB's with a
   * CertificateArn (docs/tls.md), with a certificate generated for 127.0.0.1; ports 0 pick free ones.
   */
  tls?: { listenerPorts?: Partial<Record<TargetGroupKey, number>> };
  log?: Log;
}

/** Where clients connect to the TLS listeners, and the CA file that verifies them. */
export interface TlsEndpoints {
  amqp: { host: string; port: number };
  management: { host: string; port: number };
  caFile: string;
}

/** The cluster's NLB: one TCP listener and target group for AMQP, one for the management API; TLS listeners when asked. */
export class LocalNetworkLoadBalancer {
  private certificate?: ListenerCertificate;

  private constructor(readonly groups: Record<TargetGroupKey, LocalTargetGroup>) {}

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
      if (options.tls) {
        const certificate = await generateListenerCertificate();
        nlb.certificate = certificate;
        await nlb.groups.amqp.listen(options.tls.listenerPorts?.amqp ?? 0, certificate);
        await nlb.groups.management.listen(options.tls.listenerPorts?.management ?? 0, certificate);
      }
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

  /** The TLS listeners (AMQPS, HTTPS) and their CA file; undefined when the load balancer has none. */
  tlsEndpoints(): TlsEndpoints | undefined {
    if (!this.certificate) return undefined;
    return { amqp: this.groups.amqp.listenerAddress('TLS'), management: this.groups.management.listenerAddress('TLS'), caFile: this.certificate.caFile };
  }

  async close(): Promise<void> {
    await Promise.all([this.groups.amqp.close(), this.groups.management.close()]);
    this.certificate?.remove();
    this.certificate = undefined;
  }
}
