#!/usr/bin/env node
// the CLI is TypeScript: tsx compiles it on the fly, so `npx warren` needs no build step
require('tsx/cjs');
require('./cli.ts').main();
