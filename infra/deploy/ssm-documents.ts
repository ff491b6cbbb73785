import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
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

/** A document's script: the YAML names its file (`- NodeJoin.sh`), next to the YAML in infra/ssm. */
export const SCRIPT_FILE = /^[A-Za-z][A-Za-z0-9-]*\.sh$/;

function scriptOf(documentFile: string, entry: string): string {
  if (!SCRIPT_FILE.test(entry))
    throw new Error(`${documentFile}: runCommand names its script's file (e.g. - NodeJoin.sh), not ${JSON.stringify(entry.slice(0, 40))}`);
  return readFileSync(join(dirname(documentFile), entry), 'utf8');
}

/** The line that stands for the shared opening in each script of infra/ssm (a comment, so the YAML reads on its own). */
export const OPENING_MARKER = '# the shared opening follows here in the deployed document: infra/ssm/opening.sh';
const OPENING_FILE = join(__dirname, '..', 'ssm', 'opening.sh');

/** infra/ssm/opening.sh as it deploys: without its comment-only lines and indentation. */
export function sharedOpening(): string {
  return compactScript(readFileSync(OPENING_FILE, 'utf8')).replace(/^\n+|\n+$/g, '');
}

/** The line the build writes before the shared opening: the document's name and its parameters, for the opening's check. */
function ownLine(file: string, content: Record<string, any>): string {
  return `doc=${basename(file, '.yml')} params="${Object.keys(content.parameters ?? {}).join(' ')}"`;
}

/**
 * A document's scripts as a reader (and shellcheck) sees what runs: each infra/ssm/<Document>.sh with the
 * shared opening in its marker's place, comments and indentation kept.
 */
export function readableScripts(file: string): string[] {
  const content = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  const opening = readFileSync(OPENING_FILE, 'utf8');
  return (content.mainSteps ?? []).flatMap((step: any) =>
    (step?.inputs?.runCommand ?? []).map((entry: string) =>
      scriptOf(file, entry)
        .split('\n')
        .map((line) => (line.trim() === OPENING_MARKER ? `${ownLine(file, content)}\n${opening.trimEnd()}` : line))
        .join('\n'),
    ),
  );
}

/**
 * An SSM Command document as warren deploys it: the YAML of infra/ssm/<Document>.yml with the first
 * sentence of its description, each script's comment-only lines and indentation left out, which keeps the
 * documents template within CloudFormation's 51,200-byte direct upload. Where a script has the opening's
 * marker, the shared opening takes its place behind `doc=<Document> params="<its parameters>"`:
 * as text (the default), or as `opening` (the template's Fn::FindInMap, so the template holds it once).
 * The sandbox and the tests load documents through this too, so they run what deploys.
 */
export function readDeployedDocument(file: string, opening: unknown = sharedOpening()): Record<string, any> {
  const content = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  if (typeof content.description === 'string') content.description = firstSentence(content.description);
  const own = ownLine(file, content);
  for (const step of content.mainSteps ?? []) {
    if (!Array.isArray(step?.inputs?.runCommand)) continue;
    step.inputs.runCommand = step.inputs.runCommand.map((entry: unknown) => {
      if (typeof entry !== 'string') return entry;
      const script = scriptOf(file, entry);
      const lines = script.split('\n');
      const at = lines.findIndex((line) => line.trim() === OPENING_MARKER);
      if (at < 0) return compactScript(script);
      const head = `${compactScript(lines.slice(0, at).join('\n'))}\n${own}\n`;
      const rest = `\n${compactScript(lines.slice(at + 1).join('\n'))}`;
      return typeof opening === 'string' ? head + opening + rest : { 'Fn::Join': ['', [head, opening, rest]] };
    });
  }
  return content;
}
