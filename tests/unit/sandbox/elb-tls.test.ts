import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import tls from 'node:tls';
import { LocalNetworkLoadBalancer } from '../../../infra/sandbox/cloud/elb';
import { EchoServer, FAST_HEALTH_CHECKS, addressBook, askOnce, reachState } from './elb-echo';

/** The sandbox NLB's TLS listeners (docs/tls.md): TLS ends there, plain TCP goes on to the target. */

jest.setTimeout(20_000);

let nlb: LocalNetworkLoadBalancer | undefined;
const echoes: EchoServer[] = [];

afterEach(async () => {
  await nlb?.close();
  nlb = undefined;
  await Promise.all(echoes.splice(0).map((server) => server.destroy()));
});

/** A plain TCP target behind a load balancer with TLS listeners, registered and healthy in both groups. */
async function behindTls() {
  const target = await EchoServer.start('node');
  echoes.push(target);
  nlb = await LocalNetworkLoadBalancer.start({
    resolve: addressBook({ 'i-a': target.port }),
    settings: { deregistrationDelayMs: 200, healthCheck: FAST_HEALTH_CHECKS },
    tls: {},
  });
  for (const group of Object.values(nlb.groups)) {
    await group.register('i-a');
    await reachState(group, 'i-a', 'healthy');
  }
  return { target, nlb, endpoints: nlb.tlsEndpoints()! };
}

/** A TLS client that verifies the listener against `ca` (the host name 127.0.0.1 included). */
function connectTls(port: number, ca?: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...(ca ? { ca: [ca] } : {}) }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function reply(socket: tls.TLSSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    socket.once('close', () => reject(new Error('closed before the reply')));
    socket.write(text);
  });
}

describe('LocalNetworkLoadBalancer TLS listeners', () => {
  it('completes the handshake with a client that trusts the generated CA and carries bytes both ways to a plain TCP target', async () => {
    const { endpoints } = await behindTls();
    const ca = readFileSync(endpoints.caFile, 'utf8');

    for (const listener of [endpoints.amqp, endpoints.management]) {
      const client = await connectTls(listener.port, ca);
      try {
        expect(client.authorized).toBe(true);
        expect(client.getProtocol()).toMatch(/^TLSv1\.[23]$/);
        // the target answers the plaintext it received: the TLS session ended at the listener
        expect(await reply(client, 'AMQP\x00\x00\x09\x01')).toBe('node:AMQP\x00\x00\x09\x01');
        expect(await reply(client, 'second')).toBe('node:second');
      } finally {
        client.destroy();
      }
    }
  });

  it('presents a certificate for 127.0.0.1 and localhost that only its CA file verifies; the key never stays on disk', async () => {
    const { endpoints } = await behindTls();

    await expect(connectTls(endpoints.amqp.port)).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(new X509Certificate(readFileSync(endpoints.caFile)).subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost');
    expect(readdirSync(dirname(endpoints.caFile))).toEqual(['ca.pem']);
    expect(statSync(dirname(endpoints.caFile)).mode & 0o077).toBe(0);
  });

  it('keeps the plain listeners, and resets TLS clients of a target that is gone like TCP ones', async () => {
    const { nlb: balancer, endpoints } = await behindTls();
    const ca = readFileSync(endpoints.caFile, 'utf8');
    expect(await askOnce(balancer.endpoints().amqp.port, 'plain')).toBe('node:plain');
    const client = await connectTls(endpoints.amqp.port, ca);
    const closed = new Promise<string | undefined>((resolve) => {
      client.once('error', (error: NodeJS.ErrnoException) => resolve(error.code));
      client.once('close', () => resolve(undefined));
    });

    balancer.groups.amqp.deregister('i-a');

    expect(await closed).toBe('ECONNRESET');
  });

  it('has no TLS listener unless asked, and removes the CA file when it closes', async () => {
    const { nlb: balancer, endpoints } = await behindTls();
    const plain = await LocalNetworkLoadBalancer.start({ resolve: addressBook({}) });
    expect(plain.tlsEndpoints()).toBeUndefined();
    await plain.close();

    expect(existsSync(endpoints.caFile)).toBe(true);
    await balancer.close();
    nlb = undefined;

    expect(existsSync(dirname(endpoints.caFile))).toBe(false);
  });
});
