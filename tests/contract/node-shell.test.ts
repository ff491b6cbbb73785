import { CancelCommandCommand, ListCommandsCommand } from '@aws-sdk/client-ssm';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { MIN_DELIVERY_TIMEOUT_SECONDS } from '../../shared/aws/command-shell';
import { SsmNodeShell } from '../../shared/aws/node-shell';
import { NodeCommandFailed, NodeOutputInvalid } from '../../shared/errors';
import { BACKENDS, SSM_DOCUMENT_PREFIX, startBackend, type Backend } from './backends';

/*
 * moto records SendCommand but never runs the document; the local AWS runs the real document script
 * on instances that have no RabbitMQ (tests/contract/backends.ts). So the shared assertions prove the
 * wire format and the waiter against two implementations; what each answers for the script's outcome
 * is told apart below, as are the calls moto lacks.
 */

/*
 * Calls both have, answered differently (the shared tests assert each backend's answer):
 * - GetCommandInvocation: moto answers Success with an empty stdout without running anything; the local AWS answers what the document did.
 * - SendCommand: moto adds every instance it knows to a command sent without Targets, so only inclusion of the asked instance is shared.
 */

/**
 * Calls SsmNodeShell makes that moto (5.2.1) lacks: its server answers each with an HTML error page
 * (HTTP 500). They are tested on the local AWS alone; the moto block proves each still lacking, so an
 * upgrade that adds one fails here and the call can join the shared assertions.
 */
const MOTO_LACKS = {
  ListCommandInvocations: 'not implemented by moto 5.x: the listing runOnMany(status) reads',
  DescribeInstanceInformation: 'not implemented by moto 5.x: isAgentOnline',
  CancelCommand: 'not implemented by moto 5.x: the cancel of a command whose wait gave up',
} as const;

const MAX_WAIT_SECONDS = 5;

/** The SDK error at the bottom of an adapter's error chain: the one that carries the HTTP answer. */
function sdkError(error: unknown): { $metadata?: { httpStatusCode?: number } } | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    if ('$metadata' in current) return current as { $metadata?: { httpStatusCode?: number } };
  }
  return undefined;
}

describe.each(BACKENDS)('%s', (name) => {
  let backend: Backend;
  let shell: SsmNodeShell;
  let instanceIds: string[];

  beforeAll(async () => {
    backend = await startBackend(name, { instances: 2 });
    instanceIds = backend.looseInstanceIds;
    shell = new SsmNodeShell({ ssmDocumentPrefix: SSM_DOCUMENT_PREFIX, bounds: { ssmCommandSeconds: 60 } as never }, backend.clients, {
      poll: { minDelay: 0.05, maxDelay: 0.1 },
      maxWaitSeconds: MAX_WAIT_SECONDS,
    });
  });

  afterAll(async () => backend?.stop());

  const commands = async () => (await backend.clients.ssm.send(new ListCommandsCommand({}))).Commands ?? [];

  it('sends the operation document with its parameters, and reports what the invocation answered', async () => {
    const attempt = shell.run(instanceIds[0]!, 'forget', { NodeName: 'rabbit@ip-10-0-9-9', Departed: 'false' });

    if (name === 'moto') {
      // MOTO_ANSWERS_DIFFERENTLY.GetCommandInvocation: an empty stdout is not a result
      await expect(attempt).rejects.toThrow(NodeOutputInvalid);
    } else {
      // the real NodeForget refuses: the instance's RabbitMQ is not running (there is none)
      await expect(attempt).rejects.toThrow(NodeCommandFailed);
      await expect(attempt).rejects.toMatchObject({
        status: 'Failed',
        stderr: expect.stringContaining('is not running, so it cannot forget rabbit@ip-10-0-9-9'),
      });
    }
    const sent = await commands();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      DocumentName: 'warren-NodeForget',
      Parameters: { NodeName: ['rabbit@ip-10-0-9-9'], Departed: ['false'] },
      // how long SSM may try to deliver: the wait, but never below what SendCommand accepts
      TimeoutSeconds: Math.max(MIN_DELIVERY_TIMEOUT_SECONDS, MAX_WAIT_SECONDS),
    });
    // MOTO_ANSWERS_DIFFERENTLY.SendCommand
    expect(sent[0]!.InstanceIds).toContain(instanceIds[0]);
  });

  it('runs one command for many instances and reports each', async () => {
    const results = await shell.runOnMany(instanceIds, 'drain', {});

    const sent = await commands();
    expect(sent).toHaveLength(2);
    expect(sent.map((command) => command.DocumentName)).toContain('warren-NodeDrain');
    expect([...results.keys()].sort()).toEqual([...instanceIds].sort());
    for (const [instanceId, result] of results) {
      if (name === 'moto') {
        // MOTO_ANSWERS_DIFFERENTLY.GetCommandInvocation
        expect(result).toBeInstanceOf(NodeCommandFailed);
        expect(result).toMatchObject({ status: 'OutputInvalid' });
      } else {
        // the real NodeDrain on a node that does not run has nothing to drain
        expect(result).toEqual({ node: `rabbit@${await hostnameOf(instanceId)}`, drained: false });
      }
    }
  });

  it('reads the statuses of many instances, each on its own', async () => {
    const results = await shell.runOnMany(instanceIds, 'status', {});

    expect((await commands()).map((command) => command.DocumentName)).toContain('warren-NodeStatus');
    expect([...results.keys()].sort()).toEqual([...instanceIds].sort());
    for (const [instanceId, result] of results) {
      if (name === 'moto') {
        // MOTO_LACKS.ListCommandInvocations: every instance's status failed, not the call
        expect(result).toBeInstanceOf(NodeCommandFailed);
        expect((result as NodeCommandFailed).message).toContain('ListCommandInvocations');
      } else {
        // the real NodeStatus, listed: a node whose RabbitMQ does not run, alone
        expect(result).toMatchObject({
          node: `rabbit@${await hostnameOf(instanceId)}`,
          running: false,
          paused: false,
          cookieHash: '',
          members: { all: [], running: [] },
        });
      }
    }
  });

  /** The short hostname EC2 gives the instance: the first label of its private DNS name. */
  const hostnameOf = async (instanceId: string): Promise<string> => {
    const answer = await backend.clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return answer.Reservations![0]!.Instances![0]!.PrivateDnsName!.split('.')[0]!;
  };

  if (name === 'moto') {
    describe(`on moto: still lacks ${Object.keys(MOTO_LACKS).join(', ')}`, () => {
      const calls: Record<keyof typeof MOTO_LACKS, () => Promise<unknown>> = {
        // runOnMany(status) above reads it and fails each instance with its error
        ListCommandInvocations: () => shell.runOnMany([instanceIds[0]!], 'status', {}).then((results) => Promise.reject(results.get(instanceIds[0]!))),
        DescribeInstanceInformation: () => shell.isAgentOnline(instanceIds[0]!),
        CancelCommand: async () => {
          const [command] = await commands();
          return backend.clients.ssm.send(new CancelCommandCommand({ CommandId: command!.CommandId!, InstanceIds: [instanceIds[0]!] }));
        },
      };

      it.each(Object.keys(MOTO_LACKS) as Array<keyof typeof MOTO_LACKS>)('%s answers an error page, not an AWS answer', async (operation) => {
        const failure = await calls[operation]().then(
          (answer) => answer,
          (error: unknown) => error,
        );

        // the SDK's own error, beneath the adapter's (AwsRequestFailed, NodeCommandFailed) that name the operation
        expect(String(failure)).toContain(operation === 'CancelCommand' ? 'Deserialization error' : operation);
        expect(sdkError(failure)?.$metadata?.httpStatusCode).toBe(500);
      });
    });
  }

  if (name === 'local AWS') {
    describe(`on the local AWS alone: ${Object.keys(MOTO_LACKS).join(', ')} (moto lacks them)`, () => {
      it('reports an instance whose agent is online, and not an id SSM never saw', async () => {
        await expect(shell.isAgentOnline(instanceIds[0]!)).resolves.toBe(true);
        await expect(shell.isAgentOnline('i-0123456789abcdef0')).resolves.toBe(false);
      });

      it('cancels an invocation its wait gave up on, and says so', async () => {
        // the agent loses its connection: the invocation stays Pending until the wait gives up
        backend.local!.runCommand.setAgentConnected(instanceIds[1]!, false);
        try {
          const attempt = shell.run(instanceIds[1]!, 'status', {}, { timeoutSeconds: 0.5 });

          await expect(attempt).rejects.toMatchObject({ status: 'TimedOut', message: expect.stringMatching(/no terminal status within 0.5s; cancelled$/) });
        } finally {
          backend.local!.runCommand.setAgentConnected(instanceIds[1]!, true);
        }
        const toInstance = (await commands()).filter((command) => command.DocumentName === 'warren-NodeStatus' && command.InstanceIds?.length === 1);
        expect(toInstance.map((command) => [command.InstanceIds![0], command.Status])).toEqual([[instanceIds[1], 'Cancelled']]);
      });

      it("reports the status of an instance that is gone failed (Undeliverable), the others' as read", async () => {
        await backend.local!.ec2.terminate(instanceIds[1]!);

        const results = await shell.runOnMany(instanceIds, 'status', {});

        expect(results.get(instanceIds[0]!)).toMatchObject({ running: false });
        expect(results.get(instanceIds[1]!)).toBeInstanceOf(NodeCommandFailed);
        expect(results.get(instanceIds[1]!)).toMatchObject({ status: 'Undeliverable' });
        await expect(shell.isAgentOnline(instanceIds[1]!)).resolves.toBe(false);
      });
    });
  }
});
