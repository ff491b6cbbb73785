import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect } from 'amqplib';
import { RUNS_DIR } from '../../infra/sandbox/nodes';
import { runProcess, type ProcessResult } from '../../infra/sandbox/nodes/process';
import type { SandboxStatus } from '../../infra/sandbox/status';
import type { ClusterStatus } from '../../infra/operate/status';
import type { PlanReport } from '../../infra/operate/view';

// The real command line against a real sandbox: one daemon for the file, in a private state dir.
jest.setTimeout(180_000);

const LAUNCHER = join(__dirname, '../../infra/sandbox/cli/warren.js');
const stateDir = join(mkdtempSync(join(tmpdir(), 'warren-cli-')), 'state');
const isRoot = process.getuid?.() === 0;

function warren(...args: string[]): Promise<ProcessResult> {
  return runProcess(process.execPath, [LAUNCHER, 'sandbox', ...args], { env: { ...process.env, WARREN_SANDBOX_DIR: stateDir }, timeoutMs: 170_000 });
}

function runOf(): string {
  return (JSON.parse(readFileSync(join(stateDir, 'sandbox.json'), 'utf8')) as { run: string }).run;
}

async function leftoversOf(run: string): Promise<string[]> {
  const namespaces = isRoot ? (await runProcess('ip', ['netns', 'list'])).stdout.split('\n').filter((line) => line.startsWith(`wrn-${run}-`)) : [];
  return [...namespaces, ...(existsSync(join(RUNS_DIR, run)) ? [join(RUNS_DIR, run)] : [])];
}

const RUNBOOK = readFileSync(join(__dirname, '../../docs/operations.md'), 'utf8');

/** The ```sh blocks of the runbook section whose heading starts with `heading` ('' for the text before §1), as commands: continuations joined, comments left out. */
function runbookBlocks(heading: string): string[][] {
  const sections = RUNBOOK.split(/^## /m);
  const section = heading === '' ? sections[0]! : sections.find((candidate) => candidate.startsWith(heading))!;
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map(([, block]) =>
    block!
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.trim().startsWith('#')),
  );
}

async function eventually<T>(check: () => Promise<T | false | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

afterAll(async () => {
  await warren('down');
  rmSync(dirname(stateDir), { recursive: true, force: true });
});

describe('warren sandbox, the command line', () => {
  it('status with no sandbox running fails and says how to start one', async () => {
    const result = await warren('status', '--json');

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('no sandbox is running: start one with `npx warren sandbox up`');
  });

  it('up --nodes 2 returns once both instances are InService members with healthy targets, and status --json agrees', async () => {
    // --tls: the TLS listeners (docs/tls.md) ride along on this sandbox; the story below uses them
    const up = await warren('up', '--nodes', '2', '--tls', '--json');
    const status = await warren('status', '--json');

    expect(up.exitCode).toBe(0);
    expect(up.stderr).toContain(isRoot ? 'network: namespaces' : 'network: loopback');
    const printed = JSON.parse(status.stdout) as SandboxStatus;
    expect(Object.keys(printed)).toEqual(
      expect.arrayContaining(['cluster', 'autoScalingGroupName', 'desiredCapacity', 'instances', 'members', 'loadBalancer']),
    );
    expect(Object.keys(printed.loadBalancer)).toEqual(expect.arrayContaining(['amqp', 'management', 'amqpUrl']));
    expect(printed.desiredCapacity).toBe(2);
    const inService = printed.instances.filter((i) => i.lifecycleState === 'InService');
    expect(inService).toHaveLength(2);
    for (const instance of inService) {
      expect(Object.keys(instance).sort()).toEqual(
        ['availabilityZone', 'ec2State', 'hostname', 'id', 'lifecycleState', 'namespace', 'node', 'privateIp', 'targets'].sort(),
      );
      expect(instance.targets).toEqual({ amqp: 'healthy', management: 'healthy' });
      expect(printed.members.running).toContain(instance.node);
    }
    expect(printed.members.running).toHaveLength(2);
    expect((JSON.parse(up.stdout) as SandboxStatus).instances.map((i) => i.id).sort()).toEqual(printed.instances.map((i) => i.id).sort());
  });

  it('up --tls serves amqps:// and https:// through the load balancer, verified with the CA file status names', async () => {
    const { tls } = (JSON.parse((await warren('status', '--json')).stdout) as SandboxStatus).loadBalancer;
    const ca = readFileSync(tls!.caFile);
    const shown = await warren('status');

    const connection = await connect(tls!.amqpsUrl, { ca: [ca] });
    let got: string | undefined;
    try {
      const channel = await connection.createConfirmChannel();
      const { queue } = await channel.assertQueue('', { exclusive: true });
      channel.sendToQueue(queue, Buffer.from('through the TLS listener'));
      await channel.waitForConfirms();
      got = ((await channel.get(queue, { noAck: true })) || undefined)?.content.toString();
    } finally {
      await connection.close();
    }
    const overview = await new Promise<{ status?: number; body: string }>((resolve, reject) => {
      https
        .get(new URL('/api/overview', tls!.httpsUrl), { ca }, (res) => {
          let body = '';
          res
            .setEncoding('utf8')
            .on('data', (chunk: string) => (body += chunk))
            .on('end', () => resolve({ status: res.statusCode, body }));
        })
        .on('error', reject);
    });

    expect(got).toBe('through the TLS listener');
    expect(overview.status).toBe(200);
    expect(JSON.parse(overview.body)).toHaveProperty('rabbitmq_version');
    expect(shown.stdout).toContain(`amqps ${tls!.amqps}   https ${tls!.https}   CA file ${tls!.caFile}`);
  });

  it('connects through the load balancer as the administrator the cluster generated, read as the README shows; a rotation (runbook §10) reaches the cluster', async () => {
    const sandbox = JSON.parse((await warren('status', '--json')).stdout) as SandboxStatus;
    const { endpoint, region, accessKeyId, secretAccessKey, adminSecretArn } = sandbox.aws;
    const env = { ...process.env, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_DEFAULT_REGION: region, AWS_PAGER: '' };
    const bash = async (script: string) => {
      const result = await runProcess('bash', ['-c', `set -euo pipefail\naws() { command aws --endpoint-url ${endpoint} "$@"; }\n${script}`], {
        env,
        timeoutMs: 60_000,
      });
      expect({ script, exitCode: result.exitCode, stderr: result.stderr }).toMatchObject({ exitCode: 0 });
      return result.stdout.trim();
    };
    const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
    const readSecret = readme
      .split('\n')
      .find((line) => line.startsWith('aws secretsmanager get-secret-value'))!
      .replace(/#.*$/, '');
    const credential = async () =>
      JSON.parse(await bash(readSecret.replace('"$(out AdminSecretArn)"', adminSecretArn))) as { username: string; password: string };
    const management = new URL(sandbox.loadBalancer.managementUrl);
    const whoami = async (username: string, password: string) => {
      const response = await fetch(`http://${management.host}/api/whoami`, {
        headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` },
      });
      return response.status === 200 ? ((await response.json()) as { name: string; tags: string[] | string }) : response.status;
    };
    const amqpUrl = (username: string, password: string) => {
      const url = new URL(sandbox.loadBalancer.amqpUrl);
      url.username = username;
      url.password = password;
      return url.toString();
    };

    const first = await credential();
    // the founder created it when the cluster was founded: nothing to wait for
    const before = await whoami(first.username, first.password);
    const connection = await connect(amqpUrl(first.username, first.password));
    await connection.close();
    // §10's rotation, its stack output taken from the sandbox (no CloudFormation there)
    const rotation = runbookBlocks('10.')[0]!.filter((line) => !line.includes('cloudformation'));
    const described = rotation.find((line) => line.includes('describe-secret'))!;
    await bash([`S=${adminSecretArn}`, ...rotation.filter((line) => line !== described)].join('\n'));
    const stages = JSON.parse(await bash([`S=${adminSecretArn}`, described.replace(/#.*$/, '')].join('\n'))) as Record<string, string[]>;
    const second = await credential();
    await warren('alarm', 'warren-sandbox-cluster-rotation');
    const after = await eventually(
      async () => (typeof (await whoami(second.username, second.password)) === 'object' ? whoami(second.username, second.password) : false),
      90_000,
    );

    expect(first.username).toBe('admin');
    expect(first.password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(before).toMatchObject({ name: 'admin' });
    expect(second.password).not.toBe(first.password);
    expect(Object.values(stages).flat()).toEqual(expect.arrayContaining(['AWSCURRENT', 'AWSPREVIOUS']));
    expect(after).toMatchObject({ name: 'admin' });
    expect(await whoami(first.username, first.password)).toBe(401);
  });

  it('is driven with the AWS CLI through its local AWS endpoint, as an account is', async () => {
    const status = JSON.parse((await warren('status', '--json')).stdout) as SandboxStatus;
    const { endpoint, region, accessKeyId, secretAccessKey } = status.aws;
    const env = { ...process.env, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_DEFAULT_REGION: region, AWS_PAGER: '' };
    const aws = async (...args: string[]) => {
      const result = await runProcess('aws', ['--endpoint-url', endpoint, '--output', 'json', ...args], { env, timeoutMs: 60_000 });
      expect({ args, exitCode: result.exitCode, stderr: result.stderr }).toMatchObject({ exitCode: 0 });
      return result.stdout.trim() ? JSON.parse(result.stdout) : {};
    };
    const group = status.autoScalingGroupName;

    const described = await aws('autoscaling', 'describe-auto-scaling-groups', '--auto-scaling-group-names', group);
    await aws('autoscaling', 'set-desired-capacity', '--auto-scaling-group-name', group, '--desired-capacity', '3');
    const waited = await warren('wait', '--timeout', '150');
    const after = JSON.parse((await warren('status', '--json')).stdout) as SandboxStatus;
    const added = after.instances.find((i) => i.lifecycleState === 'InService' && !status.instances.some((before) => before.id === i.id))!;
    const tagged = await aws(
      'ec2',
      'describe-instances',
      '--filters',
      `Name=tag:aws:autoscaling:groupName,Values=${group}`,
      'Name=instance-state-name,Values=running',
    );
    const commands = await aws('ssm', 'list-commands');
    const health = await aws('elbv2', 'describe-target-health', '--target-group-arn', after.targetGroups.amqp);
    const queue = await aws('sqs', 'get-queue-attributes', '--queue-url', after.queue.url, '--attribute-names', 'All');

    expect(described.AutoScalingGroups[0]).toMatchObject({ AutoScalingGroupName: group, DesiredCapacity: 2 });
    expect(described.AutoScalingGroups[0].Instances.map((i: { LifecycleState: string }) => i.LifecycleState)).toEqual(['InService', 'InService']);
    expect(waited.exitCode).toBe(0);
    expect(after.desiredCapacity).toBe(3);
    const instances = tagged.Reservations.flatMap((r: { Instances: unknown[] }) => r.Instances) as Array<{
      InstanceId: string;
      Tags: Array<{ Key: string; Value: string }>;
    }>;
    expect(instances.map((i) => i.InstanceId).sort()).toEqual(
      after.instances
        .filter((i) => i.ec2State === 'running')
        .map((i) => i.id)
        .sort(),
    );
    expect(instances.find((i) => i.InstanceId === added.id)!.Tags).toEqual(expect.arrayContaining([{ Key: 'warren:node-name', Value: added.node }]));
    expect(
      commands.Commands.some((c: { DocumentName: string; InstanceIds: string[] }) => c.DocumentName.endsWith('NodeJoin') && c.InstanceIds.includes(added.id)),
    ).toBe(true);
    expect(health.TargetHealthDescriptions.find((d: { Target: { Id: string } }) => d.Target.Id === added.id).TargetHealth.State).toBe('healthy');
    expect(queue.Attributes).toMatchObject({ FifoQueue: 'true', ApproximateNumberOfMessages: '0' });

    // the pause switch, with the two commands of docs/deploy.md
    const pauseTag = `ResourceId=${group},ResourceType=auto-scaling-group,Key=warren:paused`;
    await aws('autoscaling', 'create-or-update-tags', '--tags', `${pauseTag},Value=alice: rebuilding node 3,PropagateAtLaunch=false`);
    const paused = await aws('autoscaling', 'describe-auto-scaling-groups', '--auto-scaling-group-names', group);
    const shown = await warren('status');
    expect(shown.stdout).toContain('warren is PAUSED (warren:paused tag on the group: alice: rebuilding node 3)');
    await aws('autoscaling', 'delete-tags', '--tags', pauseTag);
    expect((JSON.parse((await warren('status', '--json')).stdout) as SandboxStatus).paused).toBeNull();
    const resumed = await aws('autoscaling', 'describe-auto-scaling-groups', '--auto-scaling-group-names', group);
    expect(paused.AutoScalingGroups[0].Tags).toEqual([
      { ResourceId: group, ResourceType: 'auto-scaling-group', Key: 'warren:paused', Value: 'alice: rebuilding node 3', PropagateAtLaunch: false },
    ]);
    expect(resumed.AutoScalingGroups[0].Tags).toEqual([]);
  });

  it("warren status and warren plan read it as a deployed cluster, through its AWS endpoint with the operator's credentials", async () => {
    const sandbox = JSON.parse((await warren('status', '--json')).stdout) as SandboxStatus;
    const { endpoint, region, accessKeyId, secretAccessKey } = sandbox.aws;
    const env = { ...process.env, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_PAGER: '' };
    const operator = (...args: string[]) =>
      runProcess(process.execPath, [LAUNCHER, ...args, '--cluster', sandbox.cluster, '--region', region, '--endpoint-url', endpoint], {
        env,
        timeoutMs: 120_000,
      });
    const aws = async (...args: string[]) => {
      const result = await runProcess('aws', ['--endpoint-url', endpoint, '--region', region, '--output', 'json', ...args], { env, timeoutMs: 60_000 });
      expect({ args, exitCode: result.exitCode, stderr: result.stderr }).toMatchObject({ exitCode: 0 });
      return result.stdout.trim() ? JSON.parse(result.stdout) : {};
    };
    const inService = sandbox.instances.filter((i) => i.lifecycleState === 'InService');

    const status = await operator('status', '--json');
    const converged = await operator('plan', '--json');

    expect({ exitCode: status.exitCode, stderr: status.stderr }).toMatchObject({ exitCode: 0 });
    const shown = JSON.parse(status.stdout) as ClusterStatus;
    expect(shown).toMatchObject({
      cluster: sandbox.cluster,
      autoScalingGroupName: sandbox.autoScalingGroupName,
      desiredCapacity: sandbox.desiredCapacity,
      paused: null,
    });
    expect(shown.members.running).toEqual(sandbox.members.running);
    expect(shown.members.partitions).toEqual({});
    expect(
      shown.instances
        .filter((i) => i.lifecycleState === 'InService')
        .map((i) => [i.id, i.node, i.running, i.targets])
        .sort(),
    ).toEqual(inService.map((i) => [i.id, i.node, true, { amqp: 'healthy', management: 'healthy' }]).sort());
    expect(shown.queue).toMatchObject({ url: sandbox.queue.url, deadLetterUrl: sandbox.queue.deadLetterUrl, deadLetters: sandbox.queue.deadLetters });
    expect(converged.exitCode).toBe(0);
    expect(JSON.parse(converged.stdout) as PlanReport).toMatchObject({ cluster: sandbox.cluster, actions: [], paused: null });
    expect(shown.refresh).toBeNull();

    // a roll's dry run (docs/operations.md §11), through `warren sandbox roll` with a new image: the requests, nothing sent
    const roll = await warren('roll', '--launch-template-change', 'channel_max = 1024', '--dry-run');
    expect({ exitCode: roll.exitCode, stderr: roll.stderr }).toMatchObject({ exitCode: 0 });
    expect(roll.stdout).toMatch(/EC2 CreateLaunchTemplateVersion:[\s\S]*"ImageId": "ami-[0-9a-f]{17}"[\s\S]*Auto Scaling StartInstanceRefresh:/);
    expect(roll.stdout).toContain('"MinHealthyPercentage": 100');
    expect(roll.stdout).toContain('(dry run: nothing sent)');
    expect(await aws('autoscaling', 'describe-instance-refreshes', '--auto-scaling-group-name', sandbox.autoScalingGroupName)).toMatchObject({
      InstanceRefreshes: [],
    });

    // something wrong while warren is paused (so no reconcile tick repairs it): a target out of its group
    const group = sandbox.autoScalingGroupName;
    const out = inService[0]!.id;
    const pauseTag = `ResourceId=${group},ResourceType=auto-scaling-group,Key=warren:paused`;
    await aws('autoscaling', 'create-or-update-tags', '--tags', `${pauseTag},Value=plan test,PropagateAtLaunch=false`);
    await aws('elbv2', 'deregister-targets', '--target-group-arn', sandbox.targetGroups.management, '--targets', `Id=${out}`);
    for (let tries = 0; tries < 50; tries++) {
      const health = await aws('elbv2', 'describe-target-health', '--target-group-arn', sandbox.targetGroups.management);
      if (!health.TargetHealthDescriptions.some((d: { Target: { Id: string } }) => d.Target.Id === out)) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const held = await operator('plan');
    const heldStatus = await operator('status');
    await aws('elbv2', 'register-targets', '--target-group-arn', sandbox.targetGroups.management, '--targets', `Id=${out}`);
    await aws('autoscaling', 'delete-tags', '--tags', pauseTag);

    expect(held.exitCode).toBe(0);
    expect(held.stdout).toContain('warren is PAUSED (warren:paused tag on the group: plan test)');
    expect(held.stdout).toContain(`1. register instanceId=${out}`);
    expect(heldStatus.stdout).toMatch(new RegExp(`${out} .* unused\\s*$`, 'm'));
  });

  it("answers the runbook's commands (docs/operations.md), taken from it and run with bash and the AWS CLI", async () => {
    const sandbox = JSON.parse((await warren('status', '--json')).stdout) as SandboxStatus;
    const { endpoint, region, accessKeyId, secretAccessKey } = sandbox.aws;
    const member = sandbox.instances.find((i) => i.lifecycleState === 'InService')!;
    const group = sandbox.autoScalingGroupName;
    const dlq = sandbox.queue.deadLetterUrl;
    const cwd = mkdtempSync(join(tmpdir(), 'warren-runbook-'));
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      AWS_DEFAULT_REGION: region,
      AWS_DEFAULT_OUTPUT: 'json',
      AWS_PAGER: '',
    };
    const aws = async (...args: string[]) => {
      const result = await runProcess('aws', ['--endpoint-url', endpoint, ...args], { env, timeoutMs: 60_000 });
      expect({ args, exitCode: result.exitCode, stderr: result.stderr }).toMatchObject({ exitCode: 0 });
      return JSON.parse(result.stdout || '{}');
    };
    const [commands, queues] = await Promise.all([aws('ssm', 'list-commands'), aws('sqs', 'list-queues')]);
    const documentPrefix = (commands.Commands[0].DocumentName as string).replace(/Node\w+$/, '');
    // the runbook's variables and functions as the sandbox names them (no CloudFormation there for `out`)
    const shell = [
      'set -euo pipefail',
      'aws() { command aws --endpoint-url "$E" "$@"; }',
      `npx() { if [ "$1" = warren ]; then shift; node ${JSON.stringify(LAUNCHER)} "$@"; else command npx "$@"; fi; }`,
      `E=${endpoint}; HEAL_URL=${sandbox.queue.url}; DLQ_URL=${dlq}; TRIAGE_DLQ_URL=${(queues.QueueUrls as string[]).find((url) => url.endsWith('-triage-dlq'))}`,
      ...runbookBlocks('')[0]!.filter((line) => /^\w+\(\) \{/.test(line)),
    ].join('\n');
    const bash = (C: string, script: string) =>
      runProcess('bash', ['-c', `${shell}\nC=${C}\n${script}`], { env: { ...env, AWS_ENDPOINT_URL: endpoint }, cwd, timeoutMs: 120_000 });
    /** Runs the commands in one bash, with the placeholders filled in: each one's stdout. */
    const run = async (C: string, lines: string[], placeholders: Record<string, string> = {}) => {
      const filled = lines.map((line) => Object.entries(placeholders).reduce((text, [from, to]) => text.split(from).join(to), line));
      const result = await bash(C, filled.map((line, n) => `echo "@@${n}"\n${line}`).join('\n'));
      expect({ lines: filled, exitCode: result.exitCode, stderr: result.stderr }).toMatchObject({ exitCode: 0 });
      return result.stdout
        .split(/^@@\d+\n/m)
        .slice(1)
        .map((out) => out.trim());
    };
    const event = (id: string) =>
      JSON.stringify({
        version: '0',
        id,
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: '123456789012',
        time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        region,
        resources: ['arn:aws:events:us-east-1:123456789012:rule/warren-reconcile'],
        detail: {},
      });
    const [resent, redriven] = [randomUUID(), randomUUID()];
    // as the heal function dead-letters an event after its 5th attempt
    const marks = {
      'warren.attempt': { DataType: 'Number', StringValue: '5' },
      'warren.error': { DataType: 'String', StringValue: 'NodeCommandFailed: NodeJoin Failed' },
    };
    const entries = [resent, redriven].map((id, n) => ({
      Id: `e${n}`,
      MessageBody: event(id),
      MessageGroupId: sandbox.cluster,
      MessageDeduplicationId: `dead-${id}`,
      MessageAttributes: marks,
    }));

    const [preamble, [peeked], [instances, groupView, activities], hookAnswers] = await Promise.all([
      // a node's own view through Run Command
      run(
        documentPrefix.replace(/-$/, ''),
        runbookBlocks('')[0]!.filter((line) => !/cloudformation|^C=|\$\(out |^\w+\(\) \{/.test(line)),
        { 'i-xxx': member.id },
      ),
      // §2: the peek, then its 5 s hold on the FIFO group runs out
      aws('sqs', 'send-message-batch', '--queue-url', dlq, '--entries', JSON.stringify(entries))
        .then(() => run(sandbox.cluster, runbookBlocks('2.')[0]!))
        .then(async (outputs) => {
          await new Promise((resolve) => setTimeout(resolve, 5_500));
          return outputs;
        }),
      // §3: the looks, and the two hook commands on an instance no hook holds
      run(group, runbookBlocks('3.')[0]!),
      Promise.all(runbookBlocks('3.')[1]!.map((line) => bash(group, line.split('i-xxx').join(member.id)))),
    ]);
    // §2: re-send the first dead letter by hand and delete its copy, then redrive the other with a move task
    const copy = (await aws('sqs', 'receive-message', '--queue-url', dlq, '--visibility-timeout', '0')).Messages[0];
    writeFileSync(join(cwd, 'event.json'), copy.Body);
    await run(sandbox.cluster, runbookBlocks('2.')[2]!, { '<MessageId>': copy.MessageId, '<ReceiptHandle>': copy.ReceiptHandle });
    const [, , listed, triageTask] = await run(sandbox.cluster, runbookBlocks('2.')[1]!);
    await eventually(async () => {
      const handled = (await warren('logs')).stdout.split('\n').filter((line) => line.includes('"event handled"'));
      return [resent, redriven].every((id) => handled.some((line) => line.includes(id)));
    });
    const deadLetters = await aws('sqs', 'get-queue-attributes', '--queue-url', dlq, '--attribute-names', 'All');
    // §4: pause and resume
    const [pause, resume] = runbookBlocks('4.')[0]!;
    await run(group, [pause!]);
    const paused = (JSON.parse((await warren('status', '--json')).stdout) as SandboxStatus).paused;
    await run(group, [resume!]);
    const resumed = (JSON.parse((await warren('status', '--json')).stdout) as SandboxStatus).paused;
    // §9: status and plan through the endpoint, as against AWS
    const [status, plan] = await run(sandbox.cluster, runbookBlocks('9.')[0]!, { '[--json]': '--json', 'eu-west-1': region });
    rmSync(cwd, { recursive: true, force: true });

    expect(preamble.pop()).toContain(member.node);
    expect(JSON.parse(peeked!)).toEqual(
      [resent, redriven].map((id) => expect.objectContaining({ attempt: '5', error: 'NodeCommandFailed: NodeJoin Failed', body: expect.stringContaining(id) })),
    );
    expect(JSON.parse(listed!).Results[0]).toMatchObject({
      Status: 'COMPLETED',
      DestinationArn: expect.stringMatching(/heal\.fifo$/),
      ApproximateNumberOfMessagesMoved: 1,
    });
    expect(JSON.parse(triageTask!)).toHaveProperty('TaskHandle');
    expect(deadLetters.Attributes).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
    expect(instances).toContain(member.id);
    expect(JSON.parse(groupView!)).toMatchObject({ desired: sandbox.desiredCapacity, paused: [] });
    expect(JSON.parse(activities!).Activities.length).toBeGreaterThan(0);
    for (const answer of hookAnswers) {
      expect(answer.exitCode).not.toBe(0);
      expect(answer.stderr).toContain(`(ValidationError) when calling the`);
      expect(answer.stderr).toContain(`No active Lifecycle Action found with instance ID ${member.id}`);
    }
    expect(paused).toBe('alice: rebuilding node 3');
    expect(resumed).toBeNull();
    expect(JSON.parse(status!)).toMatchObject({ cluster: sandbox.cluster, paused: null });
    expect(JSON.parse(plan!)).toMatchObject({ cluster: sandbox.cluster, actions: [] });
    expect((await warren('wait', '--timeout', '60')).exitCode).toBe(0);
  }, 300_000);

  it('refuses a second up while one runs and says how to stop it', async () => {
    const again = await warren('up', '--nodes', '1');

    expect(again.exitCode).not.toBe(0);
    expect(again.stderr).toContain('a sandbox is already running');
    expect(again.stderr).toContain('npx warren sandbox down');
    expect((await warren('status', '--json')).exitCode).toBe(0);
  });

  it("exec runs a plain rabbitmqctl on the instance, which talks to that instance's node", async () => {
    const status = JSON.parse((await warren('status', '--json')).stdout) as SandboxStatus;
    const [first, second] = status.instances.filter((i) => i.lifecycleState === 'InService');

    const result = await warren('exec', first!.id, '--', 'rabbitmqctl', 'cluster_status');

    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`Cluster status of node ${first!.node}`);
    expect(result.stdout).toContain(second!.node!);
  });

  it('completes by hand, as runbook §3 says, hooks held in Pending:Wait and Terminating:Wait while warren is paused', async () => {
    const sandbox = JSON.parse((await warren('status', '--json')).stdout) as SandboxStatus;
    const { endpoint, region, accessKeyId, secretAccessKey } = sandbox.aws;
    const group = sandbox.autoScalingGroupName;
    const env = { ...process.env, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_DEFAULT_REGION: region, AWS_PAGER: '' };
    const bash = async (script: string) => {
      const result = await runProcess(
        'bash',
        ['-c', `set -euo pipefail\naws() { command aws --endpoint-url ${endpoint} --output json "$@"; }\nC=${group}\n${script}`],
        {
          env,
          timeoutMs: 60_000,
        },
      );
      expect({ script, exitCode: result.exitCode, stderr: result.stderr }).toMatchObject({ exitCode: 0 });
      return result.stdout.trim() ? JSON.parse(result.stdout) : {};
    };
    const states = async () => {
      const seen = await bash(`aws autoscaling describe-auto-scaling-instances`);
      return new Map((seen.AutoScalingInstances as Array<{ InstanceId: string; LifecycleState: string }>).map((i) => [i.InstanceId, i.LifecycleState]));
    };
    const [hookCommands, takeOut] = [runbookBlocks('3.')[1]!, runbookBlocks('3.')[2]!];
    const [complete, heartbeat] = [hookCommands.find((l) => l.includes('complete-lifecycle-action'))!, hookCommands.find((l) => l.includes('heartbeat'))!];
    const on = (line: string, id: string) => line.replace(/#.*$/, '').split('i-xxx').join(id);
    const members = sandbox.instances.filter((i) => i.lifecycleState === 'InService').map((i) => i.id);
    const held = (state: string) => async () => [...(await states())].find(([id, s]) => !members.includes(id) && s === state)?.[0];
    const pauseTag = `ResourceId=${group},ResourceType=auto-scaling-group,Key=warren:paused`;

    await bash(`aws autoscaling create-or-update-tags --tags ${pauseTag},Value=hooks-by-hand,PropagateAtLaunch=false`);
    await bash(`aws autoscaling set-desired-capacity --auto-scaling-group-name $C --desired-capacity ${members.length + 1}`);
    const launched = await eventually(held('Pending:Wait'));
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const stillHeld = (await states()).get(launched);
    // the runbook's ABANDON: the group terminates it through its terminate hook and launches a replacement
    await bash(on(complete, launched));
    const replacement = await eventually(
      async () => [...(await states())].find(([id, s]) => !members.includes(id) && id !== launched && s === 'Pending:Wait')?.[0],
    );
    await bash(on(takeOut[0]!, replacement));
    await eventually(async () => (await states()).get(replacement) === 'Terminating:Wait');
    const heldTerminations = [(await states()).get(launched), (await states()).get(replacement)];
    for (const id of [launched, replacement]) {
      await bash(on(heartbeat, id));
      await bash(on(complete, id).replace('warren-launch', 'warren-terminate').replace('ABANDON', 'CONTINUE'));
    }
    await eventually(async () => {
      const now = await states();
      return !now.has(launched) && !now.has(replacement);
    });
    await bash(`aws autoscaling delete-tags --tags ${pauseTag}`);
    const after = JSON.parse((await warren('status', '--json')).stdout) as SandboxStatus;

    expect(stillHeld).toBe('Pending:Wait');
    expect(heldTerminations).toEqual(['Terminating:Wait', 'Terminating:Wait']);
    expect(after.desiredCapacity).toBe(members.length);
    expect(
      after.instances
        .filter((i) => i.lifecycleState === 'InService')
        .map((i) => i.id)
        .sort(),
    ).toEqual([...members].sort());
    expect(after.members.running).toHaveLength(members.length);
  });

  it('down removes the nodes it created and the state dir', async () => {
    const run = runOf();
    expect(await leftoversOf(run)).not.toEqual([]);
    const { caFile } = (JSON.parse((await warren('status', '--json')).stdout) as SandboxStatus).loadBalancer.tls!;

    const down = await warren('down');

    expect(down.exitCode).toBe(0);
    expect(await leftoversOf(run)).toEqual([]);
    expect(existsSync(dirname(caFile))).toBe(false);
    expect(existsSync(stateDir)).toBe(false);
    expect((await warren('status')).exitCode).not.toBe(0);
  });

  it('down cleans up after the daemon itself crashed', async () => {
    expect((await warren('up', '--nodes', '1')).exitCode).toBe(0);
    const run = runOf();
    const pid = Number(readFileSync(join(stateDir, 'daemon.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 500));

    const status = await warren('status');
    const down = await warren('down');

    expect(status.stderr).toContain('no sandbox is running');
    expect(down.exitCode).toBe(0);
    expect(await leftoversOf(run)).toEqual([]);
    expect(existsSync(stateDir)).toBe(false);
  });
});
