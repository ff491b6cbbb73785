import { startNodeAws, type NodeAws } from '../../infra/sandbox/aws/node-aws';
import { NEWEST_RABBITMQ, removeLeftovers, startCluster, type NodeCluster, type RabbitMqLine } from '../../infra/sandbox/nodes';
import { parseNodeOutput } from '../../shared/rabbitmq/operations';

// NodeApplyPolicy with AdminSecretId on real nodes (#16): the node reads the administrator's secret itself,
// through its instance metadata and a SigV4-signed GetSecretValue (here the local endpoint, on the address
// the node reaches this host at), and keeps that user on the cluster; NodeStatus reports the version applied.
jest.setTimeout(300_000);

const NAME = 'warren/admin-test/admin';
const NO_POLICY = { PolicyName: '', PolicyPattern: '', PolicyDefinition: '{}', PolicyApplyTo: 'queues', PolicyPriority: '0', DefaultQueueType: '' };
const credential = (password: string) => JSON.stringify({ username: 'admin', password });
const LINES: RabbitMqLine[] = ['3.10', NEWEST_RABBITMQ];

describe.each(LINES)('the administrator on RabbitMQ %s', (line) => {
  let cluster: NodeCluster;
  let aws: NodeAws;
  const first = 'first-password-0123456789';

  beforeAll(async () => {
    await removeLeftovers();
    cluster = await startCluster({
      size: 2,
      rabbitmq: line,
      prefix: `adm${line.replace('.', '')}`,
      env: async (starting) => {
        aws = await startNodeAws(starting, { secrets: { [NAME]: credential(first) } });
        return aws.env;
      },
    });
  });

  afterAll(async () => {
    await cluster?.destroy();
    await aws?.close();
  });

  const apply = async (index: number, secretId = aws.secretArns[NAME]!) => {
    const run = await cluster.runDocument(cluster.nodes[index]!, 'NodeApplyPolicy', { ...NO_POLICY, AdminSecretId: secretId });
    return run;
  };
  const applied = async (index: number) =>
    parseNodeOutput('status', (await cluster.runDocument(cluster.nodes[index]!, 'NodeStatus')).stdout).adminSecretVersion;
  const authenticates = async (password: string) =>
    (await cluster.exec(cluster.nodes[1]!, 'rabbitmqctl', ['-q', 'authenticate_user', 'admin', password])).exitCode === 0;
  const currentVersion = () => aws.secrets.read(aws.secrets.find(NAME)).id;

  it('is created from the secret on one member, never printed, and every member reports the version applied', async () => {
    expect(await applied(0)).toBeNull();

    const run = await apply(0);

    expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(parseNodeOutput('applyPolicy', run.stdout)).toEqual({
      node: cluster.nodes[0]!.name,
      policy: 'skipped',
      featureFlags: 'skipped',
      admin: 'created',
      adminUser: 'admin',
    });
    expect(run.stdout + run.stderr).not.toContain(first);
    expect(await authenticates(first)).toBe(true);
    expect(await applied(0)).toBe(currentVersion());
    expect(await applied(1)).toBe(currentVersion());
    const users = await cluster.exec(cluster.nodes[0]!, 'rabbitmqctl', ['-q', '--formatter', 'json', 'list_users']);
    expect(JSON.parse(users.stdout)).toContainEqual(expect.objectContaining({ user: 'admin', tags: ['administrator'] }));
    expect((await apply(1)).stdout).toContain('"admin":"unchanged"');
  });

  it("follows a rotation: the secret's new version becomes the password, the old one stops working", async () => {
    const second = 'second-password-9876543210';
    aws.secrets.put(aws.secrets.find(NAME), { SecretString: credential(second) });

    const run = await apply(1);

    expect(parseNodeOutput('applyPolicy', run.stdout).admin).toBe('updated');
    expect(await authenticates(second)).toBe(true);
    expect(await authenticates(first)).toBe(false);
    expect(await applied(0)).toBe(currentVersion());
  });

  it('is reported missing once the user is deleted, and created again', async () => {
    await cluster.exec(cluster.nodes[0]!, 'rabbitmqctl', ['-q', 'delete_user', 'admin']);
    expect(await applied(0)).toBeNull();

    expect(parseNodeOutput('applyPolicy', (await apply(0)).stdout).admin).toBe('created');
    expect(await applied(1)).toBe(currentVersion());
  });

  it('fails with the reason, changing nothing, for a secret that does not exist', async () => {
    const before = await applied(0);

    const run = await apply(0, 'warren/admin-test/nobody');

    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toMatch(/NodeApplyPolicy: GetSecretValue of warren\/admin-test\/nobody failed: .*ResourceNotFoundException/);
    expect(await applied(0)).toBe(before);
  });
});
