#!/usr/bin/env node
// The `rungate` command (root package.json "bin"): the built CLI, or a hint to build it.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const cli = join(__dirname, '..', 'dist', 'apps', 'cli', 'src', 'main.js');
if (!existsSync(cli)) {
  process.stderr.write('rungate is not built yet: run `npm run build` first\n');
  process.exit(1);
}
require(cli);
