import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/*
 * The layers of docs/architecture.md "Layers": the adapters of shared/aws speak AWS and know nothing of the workflows
 * that use them; the composition that wires the two is functions/wire.ts, shared by the Lambda
 * handlers and the sandbox.
 */
const root = resolve(__dirname, '..', '..', '..');

function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^import[^;]*?from '([^']+)'/gms)].map((match) => match[1]!);
}

it('keeps the AWS adapters free of the workflows', () => {
  const adapters = readdirSync(join(root, 'shared', 'aws')).filter((name) => name.endsWith('.ts'));
  const offending = adapters.flatMap((name) =>
    importsOf(join(root, 'shared', 'aws', name))
      .filter((path) => /workflows/.test(path))
      .map((path) => `${name} imports ${path}`),
  );

  expect(adapters.length).toBeGreaterThan(5);
  expect(offending).toEqual([]);
});

it('builds every handler through the one composition', () => {
  const handlers = readdirSync(join(root, 'functions'), { withFileTypes: true }).filter((entry) => entry.isDirectory());

  expect(handlers.map((entry) => entry.name).sort()).toEqual(['heal', 'triage']);
  for (const entry of handlers) expect(importsOf(join(root, 'functions', entry.name, 'handler.ts'))).toEqual(['../wire']);
});
