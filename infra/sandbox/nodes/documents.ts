import { join } from 'node:path';
import { readDeployedDocument } from '../../deploy/ssm-documents';
import { z } from 'zod';

/** Where the SSM Command documents live; the same files are deployed to AWS. */
export const SSM_DOCUMENT_DIR = join(__dirname, '..', '..', 'ssm');

/** What the SSM agent keeps of a command's output. */
export const SSM_STDOUT_LIMIT = 24_000;
export const SSM_STDERR_LIMIT = 8_000;

const parameterSchema = z.object({
  type: z.literal('String'),
  description: z.string(),
  default: z.string().optional(),
  allowedPattern: z.string().startsWith('^').endsWith('$'),
  interpolationType: z.literal('ENV_VAR'),
});

const documentSchema = z.object({
  schemaVersion: z.literal('2.2'),
  description: z.string(),
  parameters: z.record(z.string(), parameterSchema),
  mainSteps: z
    .array(
      z.object({
        action: z.literal('aws:runShellScript'),
        name: z.string(),
        inputs: z.object({ runCommand: z.array(z.string()).min(1), timeoutSeconds: z.string().regex(/^\d+$/).optional() }),
      }),
    )
    .length(1),
});

export type SsmParameter = z.infer<typeof parameterSchema>;

export interface CommandDocument {
  name: string;
  parameters: Record<string, SsmParameter>;
  script: string;
  timeoutSeconds: number;
}

/** SendCommand's InvalidParameters: a value was refused before anything ran on the node. */
export class InvalidDocumentParameters extends Error {
  constructor(
    readonly document: string,
    readonly problems: string[],
  ) {
    super(`${document}: invalid parameters: ${problems.join('; ')}`);
    this.name = 'InvalidDocumentParameters';
  }
}

/** Loads and checks one document; throws when it is not the shape warren deploys. */
export function loadDocument(name: string, directory = SSM_DOCUMENT_DIR): CommandDocument {
  const raw = documentSchema.parse(readDeployedDocument(join(directory, `${name}.yml`)));
  const step = raw.mainSteps[0]!;
  return {
    name,
    parameters: raw.parameters,
    script: step.inputs.runCommand.join('\n'),
    timeoutSeconds: Number(step.inputs.timeoutSeconds ?? '3600'),
  };
}

/**
 * The environment the SSM agent gives the script: SSM_<Name> for every parameter, defaults
 * applied. Like SendCommand, refuses unknown, missing and pattern-violating values up front.
 */
export function parameterEnvironment(document: CommandDocument, values: Record<string, string>): Record<string, string> {
  const problems: string[] = [];
  for (const name of Object.keys(values)) {
    if (!(name in document.parameters)) problems.push(`${name} is not a parameter of the document`);
  }
  const env: Record<string, string> = {};
  for (const [name, parameter] of Object.entries(document.parameters)) {
    const value = values[name] ?? parameter.default;
    if (value === undefined) {
      problems.push(`${name} is required`);
    } else if (!new RegExp(parameter.allowedPattern).test(value)) {
      problems.push(`${name} does not match ${parameter.allowedPattern}`);
    } else {
      env[`SSM_${name}`] = value;
    }
  }
  if (problems.length > 0) throw new InvalidDocumentParameters(document.name, problems);
  return env;
}

/** Keeps what the SSM agent keeps of a command's output. */
export function truncateLikeSsm(output: { stdout: string; stderr: string }): { stdout: string; stderr: string } {
  return { stdout: output.stdout.slice(0, SSM_STDOUT_LIMIT), stderr: output.stderr.slice(0, SSM_STDERR_LIMIT) };
}
