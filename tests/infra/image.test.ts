import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { NODE_FILES, writeTemplates } from '../../infra/deploy/build-templates';
import { cfnLint, resourcesOf, ROOT, type Template } from './cloudformation';

/** The AMI recipe as deployed: infra/image/image.yml with the component carrying infra/node/. */

const nodeFile = (name: string) => readFileSync(join(ROOT, 'infra', 'node', name), 'utf8');

describe('the node image recipe', () => {
  const out = mkdtempSync(join(tmpdir(), 'warren-image-'));
  const built = writeTemplates(out);
  const template: Template = JSON.parse(readFileSync(built.image, 'utf8'));
  const [[, component]] = resourcesOf(template, 'AWS::ImageBuilder::Component') as [[string, any]];
  const document = parse(component.Properties.Data);
  const build = document.phases.find((p: any) => p.name === 'build');
  const script = build.steps
    .filter((s: any) => s.action === 'ExecuteBash')
    .flatMap((s: any) => s.inputs.commands)
    .join('\n');
  const created = build.steps.filter((s: any) => s.action === 'CreateFile').flatMap((s: any) => s.inputs);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('passes cfn-lint as built', () => {
    expect(cfnLint([built.image])).toBe('');
  });

  it('ships exactly the node configuration of infra/node', () => {
    expect(created.find((f: any) => f.path === '/etc/rabbitmq/rabbitmq.conf')?.content).toBe(nodeFile('rabbitmq.conf'));
    expect(created.find((f: any) => f.path === '/etc/rabbitmq/enabled_plugins')?.content).toBe(nodeFile('enabled_plugins'));
    expect(nodeFile('rabbitmq.conf')).toMatch(/^cluster_partition_handling = /m);
    expect(nodeFile('enabled_plugins')).toContain('rabbitmq_management');
  });

  it('installs exactly the packages of infra/node/packages.txt, from that list', () => {
    const list = created.find((f: any) => f.path === NODE_FILES.packages.path);
    expect(list?.content).toBe(nodeFile('packages.txt'));
    expect(script).toContain(`grep -v '^#' ${NODE_FILES.packages.path} | xargs apt-get install`);
    // the only other package is a build-time tool that is purged again
    const installs = [...script.matchAll(/apt-get install [^\n]*?([a-z0-9.-]+)\n/g)].map((m) => m[1]);
    expect(installs).toEqual(['--no-install-recommends', 'awscli']);
    expect(script).toContain('apt-get purge -y -qq awscli');
  });

  it('takes the Erlang cookie from a generated secret at build time, never from the template or the log', () => {
    const [[secretName, secret]] = resourcesOf(template, 'AWS::SecretsManager::Secret') as [[string, any]];
    expect(secret.Properties.GenerateSecretString).toBeDefined();
    expect(secret.Properties.SecretString).toBeUndefined();
    const [[, recipe]] = resourcesOf(template, 'AWS::ImageBuilder::ImageRecipe') as [[string, any]];
    const parameter = recipe.Properties.Components[0].Parameters.find((p: any) => p.Name === 'CookieSecretId');
    const cookieSecret = { 'Fn::If': ['GeneratesCookie', { Ref: secretName }, { Ref: 'ErlangCookieSecretArn' }] };
    expect(parameter.Value).toEqual([cookieSecret]);
    expect(script).toMatch(/get-secret-value[^\n]*\{\{ CookieSecretId \}\}[\s\S]*?> "\$cookie"/);
    expect(script).not.toMatch(/set -x|echo "\$\(aws|cat "\$cookie"/);
    const [[, role]] = resourcesOf(template, 'AWS::IAM::Role') as [[string, any]];
    const grant = role.Properties.Policies[0].PolicyDocument.Statement[0];
    expect(grant).toEqual({ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: cookieSecret });
  });

  it('names every retained resource after its own stack, so the next image stack of the same cluster does not collide', () => {
    const retained = Object.entries(template.Resources).filter(([, r]: [string, any]) => r.DeletionPolicy === 'Retain');
    expect(retained.map(([name]) => name)).toEqual(['ErlangCookie']);
    const [[, secret]] = retained as [[string, any]];
    const [pattern, variables] = secret.Properties.Name['Fn::Sub'];
    expect(variables.StackUuid).toEqual({ 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] });
    // what CloudFormation makes of it for two stacks of one cluster, one created after the other was deleted
    const nameFor = (stackId: string) => pattern.replace('${ClusterName}', 'prod-mq').replace('${StackUuid}', stackId.split('/')[2]);
    const first = nameFor('arn:aws:cloudformation:eu-west-1:123456789012:stack/prod-mq-image/2f6e1f60-1a2b-11ef-9c6d-0a1b2c3d4e5f');
    const second = nameFor('arn:aws:cloudformation:eu-west-1:123456789012:stack/prod-mq-image/8d0c2a10-3c4d-11ef-8e7f-06f5e4d3c2b1');
    expect(first).toBe('warren/prod-mq/erlang-cookie-2f6e1f60-1a2b-11ef-9c6d-0a1b2c3d4e5f');
    expect(second).not.toBe(first);
    // Secrets Manager's name characters, and no "-" plus six characters at the end, which reads as an ARN suffix
    for (const name of [first, second]) expect(name).toMatch(/^[A-Za-z0-9/_+=.@-]{1,512}$/);
    expect(first).not.toMatch(/-[A-Za-z0-9]{6}$/);
  });

  it('takes the cookie secret of a running cluster instead of generating one, so its new images join the running nodes', () => {
    const parameter = template.Parameters!.ErlangCookieSecretArn;
    expect(parameter.Default).toBe('');
    const raw: any = template;
    expect(raw.Conditions.GeneratesCookie).toEqual({ 'Fn::Equals': [{ Ref: 'ErlangCookieSecretArn' }, ''] });
    expect(raw.Resources.ErlangCookie.Condition).toBe('GeneratesCookie');
    expect(template.Outputs!.ErlangCookieSecretArn.Value).toEqual({ 'Fn::If': ['GeneratesCookie', { Ref: 'ErlangCookie' }, { Ref: 'ErlangCookieSecretArn' }] });
    const allowed = new RegExp(parameter.AllowedPattern);
    expect(['', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:warren/prod-mq/erlang-cookie-AbCdEf'].filter((v) => !allowed.test(v))).toEqual([]);
    expect(['warren/prod-mq/erlang-cookie', "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x' ; reboot"].filter((v) => allowed.test(v))).toEqual([]);
  });

  it('leaves RabbitMQ stopped, disabled and with an empty data directory, and checks that it did', () => {
    expect(script).toContain('systemctl disable rabbitmq-server');
    expect(script).toContain('rm -rf /var/lib/rabbitmq/mnesia');
    const validate = document.phases.find((p: any) => p.name === 'validate').steps[0].inputs.commands.join('\n');
    expect(validate).toContain('is-enabled rabbitmq-server');
    expect(validate).toContain('ls -A /var/lib/rabbitmq/mnesia');
  });

  it('versions the component and recipe by their content, since Image Builder never replaces a version', () => {
    const [[, recipe]] = resourcesOf(template, 'AWS::ImageBuilder::ImageRecipe') as [[string, any]];
    expect(component.Properties.Version).toMatch(/^1\.\d+\.\d+$/);
    expect(recipe.Properties.Version).toBe(component.Properties.Version);
    const again = JSON.parse(readFileSync(writeTemplates(join(out, 'again')).image, 'utf8'));
    expect(again.Resources.NodeComponent.Properties.Version).toBe(component.Properties.Version);
  });
});
