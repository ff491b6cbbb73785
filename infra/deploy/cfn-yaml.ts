import { readFileSync } from 'node:fs';
import { parse, type CollectionTag, type ScalarTag } from 'yaml';

/**
 * CloudFormation's YAML short forms (!Ref, !Sub, !GetAtt ...) read as their JSON long forms, so a
 * template read here is the template CloudFormation sees.
 */
const FUNCTIONS = [
  'Base64',
  'Cidr',
  'EachMemberEquals',
  'EachMemberIn',
  'Equals',
  'FindInMap',
  'GetAZs',
  'ImportValue',
  'Join',
  'Select',
  'Split',
  'Sub',
  'Transform',
  'And',
  'If',
  'Not',
  'Or',
  'ValueOf',
  'ValueOfAll',
  'RefAll',
  'Contains',
  'Length',
  'ToJsonString',
];

const longName = (name: string) => `Fn::${name}`;

function tagsFor(name: string, resolve: (value: unknown) => unknown): Array<ScalarTag | CollectionTag> {
  const tag = `!${name}`;
  return [
    { tag, resolve: (value: string) => resolve(value) },
    { tag, collection: 'seq', resolve: (value) => resolve(value.toJSON()) },
    { tag, collection: 'map', resolve: (value) => resolve(value.toJSON()) },
  ];
}

const CLOUDFORMATION_TAGS = [
  ...tagsFor('Ref', (value) => ({ Ref: value })),
  ...tagsFor('Condition', (value) => ({ Condition: value })),
  // !GetAtt Resource.Attribute is the short form of [Resource, Attribute]
  ...tagsFor('GetAtt', (value) => ({
    'Fn::GetAtt': typeof value === 'string' ? [value.slice(0, value.indexOf('.')), value.slice(value.indexOf('.') + 1)] : value,
  })),
  ...FUNCTIONS.flatMap((name) => tagsFor(name, (value) => ({ [longName(name)]: value }))),
];

export function parseCloudFormation(text: string): Record<string, any> {
  return parse(text, { customTags: CLOUDFORMATION_TAGS, maxAliasCount: -1 });
}

export function readCloudFormation(path: string): Record<string, any> {
  return parseCloudFormation(readFileSync(path, 'utf8'));
}
