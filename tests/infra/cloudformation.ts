import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { withPrivateTmpdir } from '../../infra/deploy/private-tmpdir';

/** What the infra tests share: packaging the functions stack offline, cfn-lint, and reading templates. */

export const ROOT = resolve(__dirname, '..', '..');

export interface Resource {
  Type: string;
  Properties: any;
  DependsOn?: string | string[];
  Condition?: string;
}
export interface Template {
  Parameters?: Record<string, any>;
  Rules?: Record<string, any>;
  Conditions?: Record<string, any>;
  Mappings?: Record<string, Record<string, Record<string, string>>>;
  Resources: Record<string, Resource>;
  Outputs?: Record<string, any>;
}

/** `serverless package` with dummy credentials (Serverless v3 needs none to be real); returns the template. */
export function packageFunctions(out: string = mkdtempSync(join(tmpdir(), 'warren-package-'))): { out: string; file: string; template: Template } {
  withPrivateTmpdir((env) =>
    execFileSync('npx', ['serverless', 'package', '--package', out], {
      cwd: ROOT,
      env: {
        ...env,
        AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'not-a-real-secret',
        AWS_REGION: 'us-east-1',
        SLS_TELEMETRY_DISABLED: '1',
      },
      stdio: 'pipe',
      timeout: 180_000,
    }),
  );
  const file = join(out, 'cloudformation-template-update-stack.json');
  return { out, file, template: JSON.parse(readFileSync(file, 'utf8')) };
}

/** cfn-lint's findings (empty when clean); a missing cfn-lint is an error, never a skip. */
export function cfnLint(files: string[]): string {
  const lint = spawnSync('cfn-lint', files, { encoding: 'utf8' });
  if (lint.error) throw new Error(`cfn-lint is not installed or not on PATH (pip install cfn-lint): ${lint.error.message}`);
  return `${lint.stdout}${lint.stderr}`.trim() + (lint.status === 0 ? '' : `\n(cfn-lint exit status ${lint.status})`);
}

export const resourcesOf = (template: Template, type: string) => Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

export const asList = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
