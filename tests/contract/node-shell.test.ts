import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { ListCommandsCommand } from '@aws-sdk/client-ssm';
import { MIN_DELIVERY_TIMEOUT_SECONDS } from '../../shared/aws/command-shell';
import { SsmNodeShell } from '../../shared/aws/node-shell';
import { NodeCommandFailed, NodeOutputInvalid } from '../../shared/errors';
import { startMoto, type Moto } from './moto';

/*
 * moto records SendCommand and answers GetCommandInvocation with Success and an empty stdout;
 * it has no DescribeInstanceInformation and never runs the document. So this proves the wire
 * format and the waiter against a second implementation, not the node scripts. moto (5.2.1) has no
 * ListCommandInvocations either (its server answers an HTML error page), so the listing that
 * runOnMany('status') reads is proven by the unit tests and the sandbox emulator only.
 */

let moto: Moto;
let shell: SsmNodeShell;
let instanceIds: string[];
const MAX_WAIT_SECONDS = 5;

beforeAll(async () => {
  moto = await startMoto();
  const run = await moto.clients.ec2.send(new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 2, MaxCount: 2 }));
  instanceIds = run.Instances!.map((instance) => instance.InstanceId!);
  shell = new SsmNodeShell({ ssmDocumentPrefix: 'warren-', bounds: { ssmCommandSeconds: 60 } as never }, moto.clients, {
    poll: { minDelay: 0.05, maxDelay: 0.1 },
    maxWaitSeconds: MAX_WAIT_SECONDS,
  });
});

afterAll(async () => moto?.stop());

it('sends the operation document with its parameters, and an empty stdout is not a result', async () => {
  const attempt = shell.run(instanceIds[0]!, 'forget', { NodeName: 'rabbit@ip-10-0-9-9', Departed: 'false' });

  await expect(attempt).rejects.toThrow(NodeOutputInvalid);
  const { Commands } = await moto.clients.ssm.send(new ListCommandsCommand({}));
  expect(Commands).toHaveLength(1);
  expect(Commands![0]).toMatchObject({
    DocumentName: 'warren-NodeForget',
    Parameters: { NodeName: ['rabbit@ip-10-0-9-9'], Departed: ['false'] },
    // how long SSM may try to deliver: the wait, but never below what SendCommand accepts
    TimeoutSeconds: Math.max(MIN_DELIVERY_TIMEOUT_SECONDS, MAX_WAIT_SECONDS),
  });
  // moto adds every instance it knows to a command sent without Targets, so only inclusion is checked
  expect(Commands![0]!.InstanceIds).toContain(instanceIds[0]);
});

it('runs one command for many instances and reports each', async () => {
  const results = await shell.runOnMany(instanceIds, 'drain', {});

  const { Commands } = await moto.clients.ssm.send(new ListCommandsCommand({}));
  expect(Commands).toHaveLength(2);
  expect([...results.keys()].sort()).toEqual([...instanceIds].sort());
  for (const result of results.values()) {
    expect(result).toBeInstanceOf(NodeCommandFailed);
    expect(result).toMatchObject({ status: 'OutputInvalid' });
  }
});

it('reports every instance of a status failed, not the call, when the listing cannot be read', async () => {
  const results = await shell.runOnMany(instanceIds, 'status', {});

  const { Commands } = await moto.clients.ssm.send(new ListCommandsCommand({}));
  expect(Commands!.map((command) => command.DocumentName)).toContain('warren-NodeStatus');
  expect([...results.keys()].sort()).toEqual([...instanceIds].sort());
  for (const result of results.values()) {
    expect(result).toBeInstanceOf(NodeCommandFailed);
    expect((result as NodeCommandFailed).message).toContain('ListCommandInvocations');
  }
});
