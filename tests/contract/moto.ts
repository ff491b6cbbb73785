import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createAwsClients, type AwsClients, type ClientOptions } from '../../shared/aws/clients';

/**
 * A moto server for one test file: started on a free loopback port in beforeAll, stopped in
 * afterAll. Contract tests fail, never skip, when python3 or moto is missing.
 */

export interface Moto {
  endpoint: string;
  clientOptions: ClientOptions;
  clients: AwsClients;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 20_000;

export async function startMoto(): Promise<Moto> {
  const probe = spawnSync('python3', ['-c', 'import moto.server, flask'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `contract tests need python3 with moto[server] (pip install "moto[server]"): ${probe.error?.message ?? probe.stderr.trim().split('\n').pop()}`,
    );
  }
  const port = await freePort();
  const server = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  server.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilAnswering(endpoint, server, () => stderr);
  } catch (error) {
    await stopProcess(server);
    throw error;
  }
  const clientOptions: ClientOptions = {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 2,
    retryDelayMs: 10,
  };
  return { endpoint, clientOptions, clients: createAwsClients(clientOptions), stop: () => stopProcess(server) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const listener = createServer();
    listener.once('error', reject);
    listener.listen(0, '127.0.0.1', () => {
      const address = listener.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      listener.close(() => resolve(port));
    });
  });
}

async function waitUntilAnswering(endpoint: string, server: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`moto server exited with ${server.exitCode}: ${stderr()}`);
    try {
      const response = await fetch(`${endpoint}/moto-api/`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`moto server did not answer on ${endpoint} within ${STARTUP_TIMEOUT_MS} ms: ${stderr()}`);
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
