import { existsSync } from 'node:fs';
import { createAwsClients } from '../../shared/aws/clients';
import { AwsRequestFailed } from '../../shared/aws/errors';
import { SsmNodeShell } from '../../shared/aws/node-shell';
import { NodeCommandFailed } from '../../shared/errors';
import { LocalAwsEndpoint } from '../../infra/sandbox/aws/endpoint';
import { ssmApi } from '../../infra/sandbox/aws/ssm-api';
import { RabbitMqInstanceHost } from '../../infra/sandbox/cloud/rabbitmq-host';
import { realTimeScheduler } from '../../infra/sandbox/cloud/scheduler';
import { LocalRunCommand } from '../../infra/sandbox/cloud/ssm';
import type { Ec2Instance } from '../../infra/sandbox/cloud/ec2';
import { removeLeftovers } from '../../infra/sandbox/nodes';
import { runProcess } from '../../infra/sandbox/nodes/process';
import { testConfig } from '../support/config';

// One pair of real instances for the file; the stories run in order, the last one kills the second.
jest.setTimeout(90_000);

const config = testConfig({ SSM_COMMAND_TIMEOUT_SECONDS: '60' });
const noPolicy = { PolicyName: '', PolicyPattern: '', PolicyDefinition: '{}', PolicyApplyTo: 'queues', PolicyPriority: '0', DefaultQueueType: '' } as const;

let host: RabbitMqInstanceHost;
let runCommand: LocalRunCommand;
let endpoint: LocalAwsEndpoint;
let shell: SsmNodeShell;

function pendingInstance(instanceId: string): Ec2Instance {
  return { instanceId, state: 'pending', availabilityZone: 'us-east-1a', launchTime: Date.now(), tags: {} };
}

function nameOf(instanceId: string): string {
  return host.nodeOf(instanceId)!.name;
}

beforeAll(async () => {
  await removeLeftovers();
  host = RabbitMqInstanceHost.create({ prefix: 'ssm' });
  runCommand = new LocalRunCommand({ targets: host, scheduler: realTimeScheduler, documentPrefix: config.ssmDocumentPrefix, agentPollMs: 100 });
  // warren's own adapter, over real SDK clients, against the local endpoint
  endpoint = await LocalAwsEndpoint.start([ssmApi(runCommand)], { region: 'us-east-1' });
  shell = new SsmNodeShell(config, createAwsClients({ ...endpoint.clientOptions(), maxAttempts: 2, retryDelayMs: 10 }), {
    poll: { minDelay: 0.2, maxDelay: 1 },
  });
  await host.boot(pendingInstance('i-0000000000000000a'));
  await host.boot(pendingInstance('i-0000000000000000b'));
});

afterAll(async () => {
  await endpoint?.close();
  await host?.destroy();
});

describe('SSM Run Command on instances backed by real RabbitMQ nodes', () => {
  it('founds a cluster on the first instance and joins the second at boot, through NodeJoin', async () => {
    const join = { GrowQuorum: 'false', TimeoutSeconds: '60', ...noPolicy } as const;

    const founded = await shell.run('i-0000000000000000a', 'join', { ...join, Peers: nameOf('i-0000000000000000a') });
    const joined = await shell.run('i-0000000000000000b', 'join', { ...join, Peers: nameOf('i-0000000000000000a') });

    expect(founded).toMatchObject({ node: nameOf('i-0000000000000000a'), action: 'booted-with-peers' });
    expect(joined).toMatchObject({ node: nameOf('i-0000000000000000b'), action: 'booted-with-peers' });
    const seen = await host.cluster.rabbitmqctlJson<{ running_nodes: string[] }>(host.nodeOf('i-0000000000000000a')!, ['cluster_status']);
    expect(seen.running_nodes.sort()).toEqual([nameOf('i-0000000000000000a'), nameOf('i-0000000000000000b')].sort());
    expect(endpoint.calls.filter((call) => call.operation === 'SendCommand' && call.input.DocumentName === `${config.ssmDocumentPrefix}NodeJoin`)).toHaveLength(
      2,
    );
  });

  it('asks both instances for their status in one command', async () => {
    const sentBefore = runCommand.sent.length;

    const statuses = await shell.runOnMany(['i-0000000000000000a', 'i-0000000000000000b'], 'status', {});

    expect(runCommand.sent.length - sentBefore).toBe(1);
    for (const id of ['i-0000000000000000a', 'i-0000000000000000b']) {
      expect(statuses.get(id)).toMatchObject({ node: nameOf(id), running: true });
      expect((statuses.get(id) as { members: { running: string[] } }).members.running).toHaveLength(2);
    }
  });

  it('answers a refusal as a result (a running node is not forgotten), and surfaces a script that fails as NodeCommandFailed carrying its stderr', async () => {
    const refused = await shell.run('i-0000000000000000a', 'forget', { NodeName: nameOf('i-0000000000000000b'), Departed: 'true' });
    // a definition RabbitMQ's policy validation rejects: rabbitmqctl set_policy fails, and so the script
    const failing = shell.run('i-0000000000000000a', 'applyPolicy', {
      ...noPolicy,
      PolicyName: 'warren-bad',
      PolicyPattern: '.*',
      PolicyDefinition: '{"no-such-key":1}',
    });

    expect(refused).toEqual({
      peer: nameOf('i-0000000000000000a'),
      node: nameOf('i-0000000000000000b'),
      result: 'still-running',
      disconnected: false,
      replicasRemoved: 0,
    });
    await expect(failing).rejects.toBeInstanceOf(NodeCommandFailed);
    await expect(failing).rejects.toMatchObject({ status: 'Failed', stderr: expect.stringContaining('no-such-key') });
  });

  it('rejects an injection attempt at send time, before anything runs on the node', async () => {
    const sentBefore = runCommand.sent.length;

    const forgetting = shell.run('i-0000000000000000a', 'forget', { NodeName: `${nameOf('i-0000000000000000b')};touch /tmp/warren-pwned`, Departed: 'false' });

    await expect(forgetting).rejects.toBeInstanceOf(AwsRequestFailed);
    await expect(forgetting).rejects.toMatchObject({ cause: { name: 'InvalidParameters' } });
    expect(runCommand.sent.length).toBe(sentBefore);
    expect(existsSync('/tmp/warren-pwned')).toBe(false);
  });

  it('gives Undeliverable for a killed instance, which its peer can no longer reach', async () => {
    const victim = host.nodeOf('i-0000000000000000b')!;

    await host.kill('i-0000000000000000b');
    const status = shell.run('i-0000000000000000b', 'status', {});

    await expect(status).rejects.toMatchObject({ name: 'NodeCommandFailed', status: 'Undeliverable' });
    expect(await shell.isAgentOnline('i-0000000000000000b')).toBe(false);
    expect(host.addressOf('i-0000000000000000b')).toBeUndefined();
    if (host.cluster.mode === 'namespaces') {
      const probe = await host.exec('i-0000000000000000a', 'timeout', ['2', 'bash', '-c', `exec 3<>/dev/tcp/${victim.ip}/5672`]);
      expect(probe.exitCode).not.toBe(0);
      const left = (await runProcess('ip', ['netns', 'pids', victim.namespace!])).stdout.trim();
      expect(left).toBe('');
    }
  });

  it('boots a new instance after one died: a fresh address that every live peer resolves', async () => {
    const dead = host.nodeOf('i-0000000000000000b')!;

    const booted = await host.boot(pendingInstance('i-0000000000000000c'));

    expect(booted.privateIp).not.toBe(dead.ip);
    expect(host.agentState('i-0000000000000000c')).toMatchObject({ state: 'ready' });
    if (host.cluster.mode === 'namespaces') {
      const resolved = await host.exec('i-0000000000000000a', 'getent', ['hosts', booted.hostname]);
      expect(resolved.stdout).toContain(booted.privateIp);
    }
  });
});
