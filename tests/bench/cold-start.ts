import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { figure, goal, median, type Figure, type Goal, type Section } from './figures';
import { TEST_ENVIRONMENT } from '../support/config';

/**
 * Cold start: each function bundled exactly as it is deployed (functions/esbuild.config.cjs), its
 * size, and the time `require` of it takes in a fresh node process: module evaluation plus the
 * handler's init (configuration, clients, logger, metrics), what Lambda runs before the first event.
 * The floor is a naive bundle of the four SDK clients and the logger, loaded in the same run.
 */

const SECTION = 'cold-start';
const ROOT = resolve(__dirname, '..', '..');
const BUILD_CONFIG = 'functions/esbuild.config.cjs';
const GOAL_RATIO = 0.6;

interface Bundling {
  options: BuildOptions;
  entryPoints(): string[];
}

/** What a Lambda that just imports the SDK clients and the logger looks like, every import touched so none is dropped. */
const NAIVE_ENTRY = `
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { Logger } from '@aws-lambda-powertools/logger';
export const touched = [EC2Client, SSMClient, AutoScalingClient, ElasticLoadBalancingV2Client, Logger].map((value) => value.name);
`;
const NAIVE_NOTE =
  'esbuild --bundle --platform=node and nothing else (unminified, default mainFields: the CommonJS builds) of @aws-sdk/client-ec2, -ssm, -auto-scaling, -elastic-load-balancing-v2 and @aws-lambda-powertools/logger';

/*
 * The handlers read their configuration at module load, so the child gets a valid one: the values
 * of tests/support/config.ts (TEST_ENVIRONMENT) and the variables serverless.yml gives every function.
 */
const LAMBDA_ENV: Record<string, string> = {
  AWS_REGION: 'us-east-1',
  POWERTOOLS_SERVICE_NAME: 'warren',
  POWERTOOLS_METRICS_NAMESPACE: 'warren',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  ...TEST_ENVIRONMENT,
};

/** The build config is the one way only if `npm run build` runs it and serverless-esbuild reads it. */
function deployedBundling(): Bundling {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  if (pkg.scripts.build !== `node ${BUILD_CONFIG}`) {
    throw new Error(`package.json "build" is "${pkg.scripts.build}", not "node ${BUILD_CONFIG}": the bench would not measure what is deployed`);
  }
  const serverless = readFileSync(join(ROOT, 'serverless.yml'), 'utf8');
  const config = /^custom:\n(?:[ \t]*#.*\n)*[ \t]+esbuild:\n[ \t]+config:[ \t]*(\S+)/m.exec(serverless)?.[1];
  if (config !== `./${BUILD_CONFIG}`) {
    throw new Error(`serverless.yml custom.esbuild.config is "${config ?? '(none)'}", not ./${BUILD_CONFIG}: deployment and npm run build could differ`);
  }
  return require(join(ROOT, BUILD_CONFIG)) as Bundling;
}

interface Bundle {
  name: string;
  file: string;
  bytes: number;
  metafile: Metafile;
}

async function buildFunction(bundling: Bundling, entry: string, out: string): Promise<Bundle> {
  const name = basename(dirname(entry));
  const file = join(out, name, 'handler.js');
  const result = await build({ ...bundling.options, absWorkingDir: ROOT, entryPoints: [entry], outfile: file, metafile: true, logLevel: 'warning' });
  return { name, file, bytes: statSync(file).size, metafile: result.metafile };
}

async function buildNaive(out: string): Promise<Bundle> {
  const file = join(out, 'naive', 'index.js');
  const result = await build({
    stdin: { contents: NAIVE_ENTRY, resolveDir: ROOT, sourcefile: 'naive-lambda.ts', loader: 'ts' },
    bundle: true,
    platform: 'node',
    outfile: file,
    metafile: true,
    logLevel: 'warning',
  });
  return { name: 'naive', file, bytes: statSync(file).size, metafile: result.metafile };
}

/** The packages that make up most of a bundle, largest first, e.g. "@aws-sdk/client-ec2 30 KB". */
function largestPackages(bundle: Bundle, count: number): string[] {
  const bytes = new Map<string, number>();
  for (const output of Object.values(bundle.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const owner = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? input.split('/')[0]!;
      bytes.set(owner, (bytes.get(owner) ?? 0) + bytesInOutput);
    }
  }
  return [...bytes.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([owner, size]) => `${owner} ${Math.round(size / 1024)} KB`);
}

const run = promisify(execFile);

/** One fresh node process: the time of require(bundle), taken inside it. */
async function loadMs(file: string): Promise<number> {
  const child = `const start = process.hrtime.bigint(); require(${JSON.stringify(file)}); process.stdout.write(String(Number(process.hrtime.bigint() - start) / 1e6));`;
  // --no-warnings: the SDK warns about node < 22 here; Lambda runs nodejs22.x, where it stays silent
  const { stdout } = await run(process.execPath, ['--no-warnings', '-e', child], { env: { PATH: process.env.PATH ?? '', ...LAMBDA_ENV }, cwd: dirname(file) });
  const ms = Number(stdout.trim().split('\n').pop());
  if (!Number.isFinite(ms)) throw new Error(`loading ${file} printed ${JSON.stringify(stdout)}`);
  return ms;
}

export const coldStart: Section = async ({ runs, log }) => {
  const bundling = deployedBundling();
  const out = mkdtempSync(join(tmpdir(), 'warren-bench-cold-'));
  try {
    const functions = await Promise.all(bundling.entryPoints().map((entry) => buildFunction(bundling, entry, out)));
    const naive = await buildNaive(out);
    const bundles = [naive, ...functions];
    for (const bundle of bundles) log(`${bundle.name}: ${(bundle.bytes / 1024).toFixed(0)} KB, largest: ${largestPackages(bundle, 5).join(', ')}`);

    // interleaved, so whatever else loads the machine hits every bundle alike
    const samples = new Map<string, number[]>(bundles.map((bundle) => [bundle.name, []]));
    for (let index = 0; index < runs; index++) {
      for (const bundle of bundles) samples.get(bundle.name)!.push(await loadMs(bundle.file));
      log(`run ${index + 1}/${runs}: ${bundles.map((bundle) => `${bundle.name} ${samples.get(bundle.name)![index]!.toFixed(0)} ms`).join(', ')}`);
    }

    const naiveMs = samples.get('naive')!;
    const figures: Figure[] = [figure(SECTION, 'bundle naive', 'bytes', [naive.bytes], NAIVE_NOTE)];
    const goals: Goal[] = [];
    for (const bundle of functions) {
      figures.push(figure(SECTION, `bundle ${bundle.name}`, 'bytes', [bundle.bytes], `as deployed: ${BUILD_CONFIG}`));
    }
    figures.push(figure(SECTION, 'load naive', 'ms', naiveMs, `require() in a fresh node ${process.version} process; ${NAIVE_NOTE}`));
    for (const bundle of functions) {
      const ms = samples.get(bundle.name)!;
      const ratios = ms.map((value, index) => value / naiveMs[index]!);
      figures.push(
        figure(
          SECTION,
          `load ${bundle.name}`,
          'ms',
          ms,
          'require() in a fresh node process: module evaluation and the handler init (configuration, clients, logger, metrics)',
        ),
      );
      figures.push(figure(SECTION, `load ${bundle.name} / naive`, 'ratio', ratios, 'pair by pair within each run'));
      goals.push(
        goal(
          SECTION,
          `cold start ${bundle.name} <= ${GOAL_RATIO} x naive`,
          GOAL_RATIO,
          ratios,
          `${median(ms).toFixed(0)} ms against ${median(naiveMs).toFixed(0)} ms; largest in the bundle: ${largestPackages(bundle, 3).join(', ')}`,
        ),
      );
    }
    return { figures, goals };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
};
