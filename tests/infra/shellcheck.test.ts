import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readableScripts } from '../../infra/deploy/ssm-documents';

/*
 * shellcheck (Debian's package; `npm test` installs it through infra/node/install-packages.sh) over every
 * shell script of the repository: each SSM document's script with the shared opening in place, as it runs
 * on a node, and the scripts of the sandbox, the node image and CI. Clean means no finding at all, notes
 * included; a deliberate exception is a `# shellcheck disable=SCnnnn # why` line next to its command.
 */
const ROOT = join(__dirname, '..', '..');
const SSM = join(ROOT, 'infra', 'ssm');

interface Finding {
  line: number;
  code: number;
  level: string;
  message: string;
}

function shellcheck(text: string): Finding[] {
  const run = spawnSync('shellcheck', ['--shell=bash', '--format=json1', '-'], { input: text, encoding: 'utf8' });
  if (run.error) throw new Error(`shellcheck did not run (npm test installs it: infra/node/install-packages.sh): ${run.error.message}`);
  return (JSON.parse(run.stdout) as { comments: Finding[] }).comments.map(({ line, code, level, message }) => ({ line, code, level, message }));
}

/** SSM_<Parameter> variables are the agent's environment, and the shared opening checks that each one is set. */
const agentVariable = (f: Finding) => f.code === 2154 && /^SSM_\w+ is referenced but not assigned/.test(f.message);

describe('shellcheck', () => {
  const documents = readdirSync(SSM).filter((f) => f.endsWith('.yml'));
  const scripts = ['.ci/run', 'infra/node/install-packages.sh', 'infra/sandbox/nodes/build-root.sh', 'infra/sandbox/nodes/in-root.sh', 'infra/ssm/opening.sh'];

  it('finds every document', () => {
    expect(documents.length).toBeGreaterThanOrEqual(8);
  });

  it.each(documents)('is clean on the script of %s as it runs (the shared opening in place)', (file) => {
    const texts = readableScripts(join(SSM, file));

    expect(texts).toHaveLength(1);
    expect(shellcheck(texts[0]!).filter((f) => !agentVariable(f))).toEqual([]);
  });

  it.each(scripts)('is clean on %s', (script) => {
    expect(shellcheck(readFileSync(join(ROOT, script), 'utf8'))).toEqual([]);
  });

  it('finds what it should: a finding in a script is reported', () => {
    expect(shellcheck('#!/bin/bash\nrm -rf $1/\n').map((f) => f.code)).toContain(2086);
  });
});
