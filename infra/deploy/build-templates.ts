import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { readCloudFormation } from './cfn-yaml';
import { firstSentence, readDeployedDocument, sharedOpening } from './ssm-documents';

/**
 * Builds the deployable templates from their single sources:
 * - cluster: infra/cluster.yml (its description's first sentence only);
 * - documents: one AWS::SSM::Document per infra/ssm/*.yml (the file, parsed, is the document's Content,
 *   so the documents the sandbox runs are the deployed ones), with cluster.yml's ClusterName parameter;
 * - image: infra/image/image.yml with infra/image/component.yml as the Image Builder component,
 *   whose CreateFile steps carry infra/node/ (packages.txt, rabbitmq.conf, enabled_plugins).
 * Run: npx tsx infra/deploy/build-templates.ts [outDir]   (default dist/infra)
 */

const INFRA = resolve(__dirname, '..');
export const DEFAULT_OUT_DIR = resolve(INFRA, '..', 'dist', 'infra');
export type Template = Record<string, any>;

/** Where each node file goes on the image. */
export const NODE_FILES = {
  packages: { source: 'packages.txt', path: '/tmp/warren-packages.txt', owner: 'root', permissions: '0644' },
  config: { source: 'rabbitmq.conf', path: '/etc/rabbitmq/rabbitmq.conf', owner: 'rabbitmq', permissions: '0644' },
  plugins: { source: 'enabled_plugins', path: '/etc/rabbitmq/enabled_plugins', owner: 'rabbitmq', permissions: '0644' },
} as const;

/** Where the documents template keeps the scripts' shared opening (Fn::FindInMap's three names). */
export const OPENING_MAP = ['Scripts', 'Opening', 'Bash'] as const;

export function ssmDocumentFiles(): string[] {
  const dir = join(INFRA, 'ssm');
  return readdirSync(dir)
    .filter((file) => file.endsWith('.yml'))
    .sort()
    .map((file) => join(dir, file));
}

export function clusterTemplate(): Template {
  const template = readCloudFormation(join(INFRA, 'cluster.yml'));
  // what follows the first sentence speaks to whoever edits cluster.yml, not to the deployed stack
  template.Description = firstSentence(template.Description);
  return template;
}

/** The documents stack (<ClusterName>-documents): every node operation, named <ClusterName>-<Document>. */
export function documentsTemplate(): Template {
  const { ClusterName } = readCloudFormation(join(INFRA, 'cluster.yml')).Parameters;
  const resources: Template = {};
  for (const file of ssmDocumentFiles()) {
    const name = basename(file, '.yml');
    resources[`${name}Document`] = {
      Type: 'AWS::SSM::Document',
      Properties: {
        Name: { 'Fn::Sub': `\${ClusterName}-${name}` },
        DocumentType: 'Command',
        DocumentFormat: 'YAML',
        TargetType: '/AWS::EC2::Instance',
        // a named document keeps its name across content changes only with NewVersion
        UpdateMethod: 'NewVersion',
        Content: readDeployedDocument(file, { 'Fn::FindInMap': OPENING_MAP }),
      },
    };
  }
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: 'warren documents stack: the node operations of infra/ssm as SSM Command documents named <ClusterName>-<Document>.',
    // the cluster stack's own parameter, so both stacks accept and refuse the same names
    Parameters: { ClusterName },
    // the opening every script shares, held once: each document's script refers to it
    Mappings: { [OPENING_MAP[0]]: { [OPENING_MAP[1]]: { [OPENING_MAP[2]]: sharedOpening() } } },
    Resources: resources,
    Outputs: { SsmDocumentPrefix: { Value: { 'Fn::Sub': '${ClusterName}-' } } },
  };
}

function nodeFile(key: keyof typeof NODE_FILES) {
  const file = NODE_FILES[key];
  return {
    path: file.path,
    content: readFileSync(join(INFRA, 'node', file.source), 'utf8'),
    owner: file.owner,
    group: file.owner,
    permissions: file.permissions,
    overwrite: true,
  };
}

/** The Image Builder component document with infra/node/ filled in, as YAML text. */
export function componentDocument(): string {
  const document = parse(readFileSync(join(INFRA, 'image', 'component.yml'), 'utf8'));
  const build = document.phases.find((phase: { name: string }) => phase.name === 'build');
  const step = (name: string) => {
    const found = build.steps.find((candidate: { name: string }) => candidate.name === name);
    if (!found) throw new Error(`infra/image/component.yml has no build step ${name}`);
    return found;
  };
  step('NodePackageList').inputs = [nodeFile('packages')];
  // after InstallPackages, so the rabbitmq user that owns these files exists
  step('NodeConfiguration').inputs = [nodeFile('config'), nodeFile('plugins')];
  return stringify(document, { lineWidth: 0 });
}

/** Image Builder components and recipes are immutable per version: the version follows the content. */
export function contentVersion(content: string): string {
  const digest = createHash('sha256').update(content).digest();
  return `1.${digest.readUInt16BE(0)}.${digest.readUInt16BE(2)}`;
}

export function imageTemplate(): Template {
  const template = readCloudFormation(join(INFRA, 'image', 'image.yml'));
  const data = componentDocument();
  const version = contentVersion(data + JSON.stringify(template.Resources.Recipe.Properties));
  template.Resources.NodeComponent.Properties.Data = data;
  template.Resources.NodeComponent.Properties.Version = version;
  template.Resources.Recipe.Properties.Version = version;
  return template;
}

export interface BuiltTemplates {
  cluster: string;
  documents: string;
  image: string;
}

export function writeTemplates(outDir: string = DEFAULT_OUT_DIR): BuiltTemplates {
  mkdirSync(outDir, { recursive: true });
  const written = { cluster: join(outDir, 'cluster.json'), documents: join(outDir, 'documents.json'), image: join(outDir, 'image.json') };
  // compact JSON: `aws cloudformation deploy` takes at most 51,200 bytes without an S3 bucket
  writeFileSync(written.cluster, JSON.stringify(clusterTemplate()));
  writeFileSync(written.documents, JSON.stringify(documentsTemplate()));
  writeFileSync(written.image, JSON.stringify(imageTemplate()));
  return written;
}

if (require.main === module) {
  const written = writeTemplates(process.argv[2] ? resolve(process.argv[2]) : undefined);
  console.log(Object.values(written).join('\n'));
}
