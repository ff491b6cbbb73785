import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/**
 * A script without its comment-only lines (the shebang kept) and without the indentation of its lines:
 * both are for readers of infra/ssm, not for the template. (The scripts have no here-documents and no
 * line continuation glued to the next line's first word, where leading blanks would count.)
 */
export function compactScript(script: string): string {
  return script
    .split('\n')
    .filter((line, index) => !/^\s*#/.test(line) || (index === 0 && line.startsWith('#!')))
    .map((line) => line.trimStart())
    .join('\n');
}

/** The first sentence of a document's description: what the SSM console shows; the rest is for readers of infra/ssm. */
export function firstSentence(description: string): string {
  return description.split(/(?<=\.)\s/)[0]!;
}

/**
 * An SSM Command document as warren deploys it: the YAML of infra/ssm/<Document>.yml with the first
 * sentence of its description, each script's comment-only lines and indentation left out, which keeps the cluster template within CloudFormation's 51,200-byte
 * direct upload. The sandbox and the tests load documents through this too, so they run what deploys.
 */
export function readDeployedDocument(file: string): Record<string, any> {
  const content = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  if (typeof content.description === 'string') content.description = firstSentence(content.description);
  for (const step of content.mainSteps ?? []) {
    if (Array.isArray(step?.inputs?.runCommand)) step.inputs.runCommand = step.inputs.runCommand.map((script: unknown) => (typeof script === 'string' ? compactScript(script) : script));
  }
  return content;
}
