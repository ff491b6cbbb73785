import { randomInt, randomUUID } from 'node:crypto';
import { ApiError, bounded, invalid, required, type ServiceApi } from './protocol';

/**
 * Secrets Manager over a small local model, as the awsJson1_1 API the SDK's SecretsManagerClient,
 * `aws secretsmanager` and a node's curl --aws-sigv4 speak: CreateSecret, GetSecretValue,
 * DescribeSecret, PutSecretValue and GetRandomPassword, with the API reference's member names, staging
 * labels (a new value becomes AWSCURRENT, the one before AWSPREVIOUS), idempotent client request
 * tokens and error codes. A secret is named by its name, its ARN or its ARN without the six random
 * characters. Not modelled: binary secrets beyond storing them, KMS, rotation, deletion, replicas,
 * resource policies.
 */

export const AWSCURRENT = 'AWSCURRENT';
export const AWSPREVIOUS = 'AWSPREVIOUS';

export interface SecretVersion {
  id: string;
  SecretString?: string;
  /** base64, as the JSON protocol carries it */
  SecretBinary?: string;
  stages: string[];
  created: Date;
}

export interface LocalSecret {
  arn: string;
  name: string;
  description?: string;
  created: Date;
  lastChanged: Date;
  /** the day (midnight UTC) its value was last read, as DescribeSecret gives it */
  lastAccessed?: Date;
  versions: SecretVersion[];
}

type SecretValue = Pick<SecretVersion, 'SecretString' | 'SecretBinary'>;

const NOT_FOUND = "Secrets Manager can't find the specified secret.";
/** Name: 1-512 of letters, digits and /_+=.@- (API reference) */
const NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/** ClientRequestToken, VersionId: 32-64 characters */
const TOKEN_LENGTH: [number, number] = [32, 64];
const V = 'ValidationException';

/** The secrets of one account and region. */
export class LocalSecrets {
  readonly secrets: LocalSecret[] = [];

  constructor(
    readonly place: { region: string; account: string },
    private readonly now: () => number = Date.now,
  ) {}

  /** CreateSecret: a secret, with its first version (AWSCURRENT) when it is given a value. */
  create(request: { name: string; description?: string; token?: string } & SecretValue): { secret: LocalSecret; version?: SecretVersion } {
    const existing = this.secrets.find((secret) => secret.name === request.name);
    if (existing) {
      // the same request again (its token and value) is answered as the first was
      const same = request.token !== undefined ? existing.versions.find((version) => version.id === request.token) : undefined;
      if (same && sameValue(same, request)) return { secret: existing, version: same };
      throw new ApiError('ResourceExistsException', `The operation failed because the secret ${request.name} already exists.`);
    }
    const at = new Date(this.now());
    const secret: LocalSecret = {
      arn: `arn:aws:secretsmanager:${this.place.region}:${this.place.account}:secret:${request.name}-${randomPassword({ PasswordLength: 6, ExcludePunctuation: true, RequireEachIncludedType: false })}`,
      name: request.name,
      ...(request.description !== undefined ? { description: request.description } : {}),
      created: at,
      lastChanged: at,
      versions: [],
    };
    this.secrets.push(secret);
    const version = hasValue(request) ? this.addVersion(secret, request, request.token ?? randomUUID(), [AWSCURRENT]) : undefined;
    return { secret, version };
  }

  /** The secret a SecretId names: its name, its ARN, or its ARN without the random suffix. */
  find(secretId: string): LocalSecret {
    const secret = this.secrets.find((candidate) => secretId === candidate.name || secretId === candidate.arn || secretId === candidate.arn.slice(0, -7));
    if (!secret) throw new ApiError('ResourceNotFoundException', NOT_FOUND);
    return secret;
  }

  /** GetSecretValue's version: by id, by staging label, by both (which must agree), else AWSCURRENT. */
  version(secret: LocalSecret, by: { id?: string; stage?: string }): SecretVersion {
    const stage = by.stage ?? (by.id === undefined ? AWSCURRENT : undefined);
    const version = secret.versions.find(
      (candidate) => (by.id === undefined || candidate.id === by.id) && (stage === undefined || candidate.stages.includes(stage)),
    );
    if (!version) {
      const what = by.id !== undefined ? `VersionId: ${by.id}` : `staging label: ${stage}`;
      throw new ApiError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for ${what}`);
    }
    return version;
  }

  /** The value of a secret's version; reading it is an access (DescribeSecret's LastAccessedDate). */
  read(secret: LocalSecret, by: { id?: string; stage?: string } = {}): SecretVersion {
    const version = this.version(secret, by);
    const day = new Date(this.now());
    day.setUTCHours(0, 0, 0, 0);
    secret.lastAccessed = day;
    return version;
  }

  /**
   * PutSecretValue: a new version, which gets `stages` (AWSCURRENT when none are given) and takes them
   * from the versions that had them; AWSCURRENT leaving a version leaves AWSPREVIOUS on it. The same
   * token and value again is the same version; the same token with another value is refused.
   */
  put(secret: LocalSecret, value: SecretValue, token: string = randomUUID(), stages: string[] = [AWSCURRENT]): SecretVersion {
    const existing = secret.versions.find((version) => version.id === token);
    if (existing) {
      if (sameValue(existing, value)) return existing;
      throw new ApiError('ResourceExistsException', 'A resource with the ID you requested already exists.');
    }
    return this.addVersion(secret, value, token, stages);
  }

  private addVersion(secret: LocalSecret, value: SecretValue, token: string, stages: string[]): SecretVersion {
    const at = new Date(this.now());
    // a secret's first version is AWSCURRENT whatever else it is given
    const labels = new Set(secret.versions.length === 0 ? [...stages, AWSCURRENT] : stages);
    const previous = labels.has(AWSCURRENT) ? secret.versions.find((version) => version.stages.includes(AWSCURRENT)) : undefined;
    const moved = new Set([...labels, ...(previous ? [AWSPREVIOUS] : [])]);
    for (const version of secret.versions) version.stages = version.stages.filter((stage) => !moved.has(stage));
    previous?.stages.push(AWSPREVIOUS);
    const version: SecretVersion = { id: token, ...valueIn(value), stages: [...labels], created: at };
    secret.versions.push(version);
    secret.lastChanged = at;
    return version;
  }
}

/** Only the value of what may carry more (CreateSecret's request). */
const valueIn = ({ SecretString, SecretBinary }: SecretValue): SecretValue => ({
  ...(SecretString !== undefined ? { SecretString } : {}),
  ...(SecretBinary !== undefined ? { SecretBinary } : {}),
});
const hasValue = (value: SecretValue) => value.SecretString !== undefined || value.SecretBinary !== undefined;
const sameValue = (a: SecretValue, b: SecretValue) => a.SecretString === b.SecretString && a.SecretBinary === b.SecretBinary;

/** The characters GetRandomPassword draws from, by type. */
const CHARACTERS = {
  uppercase: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  lowercase: 'abcdefghijklmnopqrstuvwxyz',
  numbers: '0123456789',
  punctuation: '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
  space: ' ',
} as const;

export interface PasswordRules {
  PasswordLength?: number;
  ExcludeCharacters?: string;
  ExcludeNumbers?: boolean;
  ExcludePunctuation?: boolean;
  ExcludeUppercase?: boolean;
  ExcludeLowercase?: boolean;
  IncludeSpace?: boolean;
  RequireEachIncludedType?: boolean;
}

/**
 * GetRandomPassword (and CloudFormation's GenerateSecretString): 32 characters unless told, drawn with
 * node's crypto from letters, digits and punctuation, with at least one of each included type unless
 * RequireEachIncludedType is false.
 */
export function randomPassword(rules: PasswordRules = {}): string {
  const length = bounded(rules.PasswordLength, 'passwordLength', [1, 4096], V, 32);
  const excluded = new Set(rules.ExcludeCharacters ?? '');
  const included: Array<[boolean, string]> = [
    [!rules.ExcludeUppercase, CHARACTERS.uppercase],
    [!rules.ExcludeLowercase, CHARACTERS.lowercase],
    [!rules.ExcludeNumbers, CHARACTERS.numbers],
    [!rules.ExcludePunctuation, CHARACTERS.punctuation],
    [rules.IncludeSpace === true, CHARACTERS.space],
  ];
  const types = included
    .filter(([on]) => on)
    .map(([, type]) => [...type].filter((character) => !excluded.has(character)).join(''))
    .filter((type) => type.length > 0);
  if (types.length === 0) throw new ApiError('InvalidParameterException', 'The password has no characters left to draw from: every type is excluded.');
  const each = rules.RequireEachIncludedType !== false;
  if (each && length < types.length)
    throw new ApiError('InvalidParameterException', `A password of ${length} characters cannot include each of the ${types.length} required character types.`);
  const all = types.join('');
  const pick = (from: string) => from[randomInt(from.length)]!;
  const characters = Array.from({ length }, (_, n) => (each && n < types.length ? pick(types[n]!) : pick(all)));
  // the required ones anywhere, not first
  for (let n = characters.length - 1; n > 0; n--) {
    const other = randomInt(n + 1);
    [characters[n], characters[other]] = [characters[other]!, characters[n]!];
  }
  return characters.join('');
}

export function secretsManagerApi(secrets: LocalSecrets): ServiceApi {
  const secretOf = (input: Record<string, any>) => secrets.find(required(input.SecretId, 'secretId', V));
  return {
    service: 'secretsmanager',
    protocol: 'awsJson1_1',
    targetPrefix: 'secretsmanager',
    operations: {
      CreateSecret: (input) => {
        const name = required(input.Name, 'name', V);
        if (!NAME.test(name))
          throw new ApiError(
            'InvalidParameterException',
            'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
          );
        const { secret, version } = secrets.create({
          name,
          ...secretValueOf(input, { required: false }),
          ...(input.Description !== undefined ? { description: String(input.Description) } : {}),
          ...(input.ClientRequestToken !== undefined ? { token: tokenOf(input.ClientRequestToken) } : {}),
        });
        return { ARN: secret.arn, Name: secret.name, VersionId: version?.id };
      },

      GetSecretValue: (input) => {
        const secret = secretOf(input);
        const version = secrets.read(secret, { id: input.VersionId, stage: input.VersionStage });
        return {
          ...{ ARN: secret.arn, Name: secret.name, VersionId: version.id },
          ...{ SecretString: version.SecretString, SecretBinary: version.SecretBinary },
          ...{ VersionStages: [...version.stages], CreatedDate: version.created },
        };
      },

      DescribeSecret: (input) => {
        const secret = secretOf(input);
        // only the versions that carry a label: the others are deprecated
        const labelled = secret.versions.filter((version) => version.stages.length > 0);
        return {
          ...{ ARN: secret.arn, Name: secret.name, Description: secret.description },
          ...{ LastChangedDate: secret.lastChanged, LastAccessedDate: secret.lastAccessed, CreatedDate: secret.created },
          VersionIdsToStages: Object.fromEntries(labelled.map((version) => [version.id, [...version.stages]])),
        };
      },

      PutSecretValue: (input) => {
        const secret = secretOf(input);
        // the SDKs and the CLI fill the token in; a raw request must carry its own
        if (input.ClientRequestToken === undefined)
          throw new ApiError('InvalidRequestException', 'You must provide a ClientRequestToken value. We recommend a UUID-type value.');
        const stages = input.VersionStages === undefined ? undefined : stagesOf(input.VersionStages);
        const version = secrets.put(secret, secretValueOf(input, { required: true }), tokenOf(input.ClientRequestToken), stages);
        return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
      },

      GetRandomPassword: (input: PasswordRules) => ({ RandomPassword: randomPassword(input) }),
    },
  };
}

/** SecretString or SecretBinary, not both; PutSecretValue needs one. */
function secretValueOf(input: Record<string, any>, { required }: { required: boolean }): SecretValue {
  const value = valueIn({ SecretString: input.SecretString, SecretBinary: input.SecretBinary });
  if (value.SecretString !== undefined && value.SecretBinary !== undefined)
    throw new ApiError('InvalidParameterException', 'You can provide either SecretString or SecretBinary, not both.');
  if (required && !hasValue(value)) throw new ApiError('InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
  return value;
}

function tokenOf(value: unknown): string {
  const token = String(value);
  if (token.length < TOKEN_LENGTH[0] || token.length > TOKEN_LENGTH[1]) {
    throw invalid(
      `Value '${token}' at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to ${TOKEN_LENGTH[1]} and greater than or equal to ${TOKEN_LENGTH[0]}`,
      V,
    );
  }
  return token;
}

function stagesOf(value: unknown): string[] {
  if (
    !Array.isArray(value) ||
    value.length < 1 ||
    value.length > 20 ||
    value.some((stage) => typeof stage !== 'string' || stage.length < 1 || stage.length > 256)
  ) {
    throw invalid("Value at 'versionStages' failed to satisfy constraint: Member must have length between 1 and 20", V);
  }
  return value as string[];
}
