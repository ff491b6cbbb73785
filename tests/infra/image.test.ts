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
  const script = build.steps.filter((s: any) => s.action === 'ExecuteBash').flatMap((s: any) => s.inputs.commands).join('\n');
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
    expect(parameter.Value).toEqual([{ Ref: secretName }]);
    expect(script).toMatch(/get-secret-value[^\n]*\{\{ CookieSecretId \}\}[\s\S]*?> "\$cookie"/);
    expect(script).not.toMatch(/set -x|echo "\$\(aws|cat "\$cookie"/);
    const [[, role]] = resourcesOf(template, 'AWS::IAM::Role') as [[string, any]];
    const grant = role.Properties.Policies[0].PolicyDocument.Statement[0];
    expect(grant).toEqual({ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: { Ref: secretName } });
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
