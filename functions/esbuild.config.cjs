// @ts-check
'use strict';
/**
 * How every function is bundled, the one way: `npm run build` runs this file, `serverless package`
 * reads it through serverless-esbuild (serverless.yml custom.esbuild.config), and the cold-start
 * bench (tests/bench/cold-start.ts) builds with it, so what is measured is what is deployed.
 */
const { readFileSync, readdirSync, existsSync } = require('node:fs');
const { join } = require('node:path');

/*
 * The SDK clients' generated schema modules key their traits with computed names whose values are
 * module constants (`const _xN = "xmlName"; ... { [_xN]: _m }`). esbuild cannot prove such a key
 * free of side effects, so it keeps every schema of the service: all of EC2's (about 540 KB
 * minified, about 45 ms of load) for the two EC2 operations warren sends. Writing each constant in
 * place lets tree shaking drop the unused schemas. Only a line of the exact form
 * `const _name = "string literal";` is inlined, so no expression changes meaning; a future SDK that
 * generates something else is left as it is (and the cold-start bench shows the bundle growing).
 */
const SCHEMA_MODULE = /[\\/]@aws-sdk[\\/]client-[\w-]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/;
const STRING_CONSTANT = /^const (_\w+) = ("(?:[^"\\\n]|\\.)*");$/gm;

/** @type {import('esbuild').Plugin} */
const sdkSchemaKeys = {
  name: 'sdk-schema-keys',
  setup(build) {
    build.onLoad({ filter: SCHEMA_MODULE }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const constants = new Map([...source.matchAll(STRING_CONSTANT)].map((match) => [match[1], match[2]]));
      const contents = source.replace(/\[(_\w+)\]:/g, (key, name) => (constants.has(name) ? `[${constants.get(name)}]:` : key));
      return { contents, loader: 'js' };
    });
  },
};

/** @type {import('esbuild').BuildOptions} */
const options = {
  bundle: true,
  platform: 'node',
  // the Lambda runtime (serverless.yml provider.runtime nodejs22.x)
  target: 'node22',
  format: 'cjs',
  // the ES builds of the SDK and Powertools ("module") tree-shake; their CommonJS builds ("main") do not
  mainFields: ['module', 'main'],
  minify: true,
  sourcemap: true,
  plugins: [sdkSchemaKeys],
};

const root = join(__dirname, '..');

/** functions/<name>/handler.ts, one per function. */
function entryPoints() {
  return readdirSync(__dirname, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(__dirname, entry.name, 'handler.ts')))
    .map((entry) => join('functions', entry.name, 'handler.ts'));
}

/** serverless-esbuild calls this (custom.esbuild.config) and adds its entries and outdir. */
module.exports = () => ({ ...options });
module.exports.options = options;
module.exports.entryPoints = entryPoints;

// `npm run build`: dist/<name>/handler.js
if (require.main === module) {
  require('esbuild')
    .build({ ...options, absWorkingDir: root, entryPoints: entryPoints(), outbase: 'functions', outdir: 'dist', logLevel: 'info' })
    .catch(() => process.exit(1));
}
