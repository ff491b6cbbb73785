import { EventEmitter } from 'node:events';
import { rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { z } from 'zod';
import { createObservability } from '../../../shared/observability';
import { RABBITMQ_LINES } from '../nodes';
import { Sandbox, SANDBOX_CLUSTER } from '../sandbox';
import { sandboxStatus, type SandboxStatus } from '../status';
import { statePaths, type ControlLine, type StatePaths } from './control';

/**
 * The sandbox daemon: owns one Sandbox for as long as it lives and serves the control protocol on
 * the state dir's socket. Its stdout and stderr are the daemon log (Powertools JSON lines).
 */

export const DaemonOptions = z.object({
  nodes: z.number().int().min(1).max(9),
  network: z.enum(['namespaces', 'loopback']).optional(),
  rabbitmq: z.enum(RABBITMQ_LINES).optional(),
  amqpPort: z.number().int().min(0).max(65535).optional(),
  managementPort: z.number().int().min(0).max(65535).optional(),
  tls: z.boolean().optional(),
  convergeTimeoutMs: z.number().int().positive(),
});
export type DaemonOptions = z.infer<typeof DaemonOptions>;

/** one rabbitmq.conf setting (sysctl format): a dotted key, " = ", a value on the same line */
const CONF_LINE = /^[A-Za-z0-9_.$-]+ *= *[^\n\r]+$/;
/** the cookie of an image whose nodes cannot join: not the cluster's */
const BROKEN_IMAGE_COOKIE = 'WARRENSANDBOXBROKENIMAGECOOKIE';
const InstanceId = z.string().regex(/^i-[0-9a-f]{8,17}$/, 'an instance id looks like i-0123456789abcdef0');
const Requests = {
  '/ready': z.object({}),
  '/status': z.object({}),
  '/scale': z.object({ capacity: z.number().int() }),
  '/terminate': z.object({ id: InstanceId, decrement: z.boolean().default(false) }),
  '/crash': z.object({ id: InstanceId }),
  '/network': z.object({ id: InstanceId, up: z.boolean() }),
  '/alarm': z.object({ name: z.string().min(1).max(255), instance: InstanceId.optional() }),
  '/event': z.object({ event: z.record(z.string(), z.unknown()) }),
  '/exec': z.object({ id: InstanceId, command: z.string().min(1), args: z.array(z.string()) }),
  '/wait': z.object({ timeoutMs: z.number().int().positive() }),
  '/image': z.object({ rabbitmqConf: z.array(z.string().regex(CONF_LINE, 'a rabbitmq.conf line: key = value')).max(20), broken: z.boolean() }),
  '/down': z.object({}),
} as const;
type Route = keyof typeof Requests;

class Daemon {
  private sandbox?: Sandbox;
  private readonly progress = new EventEmitter();
  private lastReasons: string[] = ['booting the sandbox'];
  private starting!: Promise<Sandbox>;
  private startup!: Promise<SandboxStatus>;
  private stopping?: Promise<void>;
  private readonly telemetry = createObservability(SANDBOX_CLUSTER);
  private readonly server = createServer((req, res) => void this.serve(req, res));
  // a child made before any heal runs: the workflows' correlation ids never stick to control lines
  private readonly log = this.telemetry.logger.createChild({ serviceName: 'warren-sandbox-daemon' });

  constructor(
    private readonly paths: StatePaths,
    private readonly options: DaemonOptions,
  ) {}

  async run(): Promise<void> {
    writeFileSync(this.paths.pid, String(process.pid));
    await new Promise<void>((resolve, reject) => this.server.once('error', reject).listen(this.paths.socket, resolve));
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void this.shutdown(0));
    const log = this.log;
    log.info('sandbox starting', { options: this.options });
    this.starting = Sandbox.start({ ...this.options, observability: this.telemetry });
    // nothing usable was built: leave only the log behind so `up` can show why
    this.starting.catch(() => setTimeout(() => void this.shutdown(1, { keepLog: true }), 1_000));
    this.startup = this.boot();
    this.startup.then(
      () => log.info('sandbox converged'),
      (error: Error) => log.error('sandbox did not come up', { error: error.message }),
    );
  }

  private async boot(): Promise<SandboxStatus> {
    this.sandbox = await this.starting;
    this.log.info('sandbox nodes run RabbitMQ', {
      version: this.sandbox.rabbitmq.version,
      ...(this.sandbox.rabbitmqNote ? { note: this.sandbox.rabbitmqNote } : {}),
    });
    this.writeSnapshot();
    const status = await this.sandbox.waitConverged(this.options.convergeTimeoutMs, (reasons) => this.report(reasons));
    this.writeSnapshot(status);
    return status;
  }

  private report(reasons: string[]): void {
    this.lastReasons = reasons;
    this.progress.emit('progress', reasons);
  }

  private writeSnapshot(status?: SandboxStatus): void {
    const sandbox = this.sandbox!;
    const snapshot = { pid: process.pid, run: sandbox.host.cluster.run, network: sandbox.mode, paths: this.paths, updatedAt: new Date().toISOString(), status };
    writeFileSync(this.paths.snapshot, JSON.stringify(snapshot, null, 2));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const send = (line: ControlLine) => res.write(`${JSON.stringify(line)}\n`);
    const route = req.url as Route;
    try {
      const schema = Requests[route];
      if (!schema) throw new Error(`unknown request ${req.url}`);
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const parsed = schema.safeParse(raw ? JSON.parse(raw) : {});
      if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; '));
      this.log.info('control request', { route, body: parsed.data });
      send({ ok: true, result: await this.answer(route, parsed.data, (reasons) => send({ progress: reasons })) });
    } catch (error) {
      send({ ok: false, error: (error as Error).message });
    }
    res.end();
    if (route === '/down') void this.shutdown(0);
  }

  private async answer(route: Route, body: any, progress: (reasons: string[]) => void): Promise<unknown> {
    if (route === '/ready') {
      const listener = (reasons: string[]) => progress(reasons);
      progress(this.lastReasons);
      this.progress.on('progress', listener);
      try {
        return await this.startup;
      } finally {
        this.progress.off('progress', listener);
      }
    }
    if (route === '/down') return this.stop();
    const sandbox = await this.started();
    switch (route) {
      case '/status': {
        const status = await sandboxStatus(sandbox);
        this.writeSnapshot(status);
        return status;
      }
      case '/scale':
        sandbox.group.setDesiredCapacity(body.capacity);
        return sandbox.group.describe().desiredCapacity;
      case '/terminate':
        sandbox.group.terminateInstance(body.id, body.decrement);
        return sandbox.group.member(body.id)?.lifecycleState ?? null;
      case '/crash':
        await sandbox.ec2.crash(body.id);
        return sandbox.ec2.get(body.id)?.state ?? null;
      case '/network':
        await sandbox.host.setNetwork(body.id, body.up);
        return body.up ? 'connected' : 'partitioned';
      case '/alarm':
        return sandbox.raiseAlarm(body.name, body.instance).id;
      case '/event':
        sandbox.deliver(body.event);
        return body.event.id ?? null;
      case '/exec':
        return sandbox.host.exec(body.id, body.command, body.args);
      case '/wait':
        return sandbox.waitConverged(body.timeoutMs, progress);
      case '/image':
        // a new AMI for `warren roll --image-id`: the base image plus these settings, or one that cannot join
        return sandbox.launchTemplates.registerImage({
          ...(body.rabbitmqConf.length > 0 ? { rabbitmqConf: `${body.rabbitmqConf.join('\n')}\n` } : {}),
          ...(body.broken ? { erlangCookie: BROKEN_IMAGE_COOKIE } : {}),
        });
    }
    throw new Error(`unknown request ${route}`);
  }

  /** Waits for Sandbox.start (not for convergence): commands work on a sandbox that is still healing. */
  private async started(): Promise<Sandbox> {
    if (this.stopping) throw new Error('the sandbox is shutting down');
    try {
      return await this.starting;
    } catch (error) {
      throw new Error(`the sandbox failed to start: ${(error as Error).message}`);
    }
  }

  private stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('sandbox stopping');
      await this.sandbox?.stop();
    })();
    return this.stopping;
  }

  private async shutdown(code: number, options: { keepLog?: boolean } = {}): Promise<void> {
    try {
      await this.stop();
    } catch (error) {
      this.log.error('stopping the sandbox failed', { error: (error as Error).message });
      code = 1;
    }
    this.server.close();
    if (options.keepLog) {
      for (const file of [this.paths.pid, this.paths.socket, this.paths.snapshot]) rmSync(file, { force: true });
    } else {
      rmSync(this.paths.dir, { recursive: true, force: true });
    }
    process.exit(code);
  }
}

if (require.main === module) {
  const paths = statePaths();
  const options = DaemonOptions.parse(JSON.parse(process.argv[2] ?? '{}'));
  try {
    unlinkSync(paths.socket);
  } catch {
    // no socket left by an earlier daemon
  }
  new Daemon(paths, options).run().catch((error: Error) => {
    console.error(`daemon failed: ${error.message}`);
    process.exit(1);
  });
}
