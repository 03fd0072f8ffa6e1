#!/usr/bin/env node
// Makes dist/pglite/template-<version>.tar: an initialized, empty PGlite data directory.
// `rungate serve` unpacks it into a new data directory instead of running initdb in WASM,
// which takes the first start from seconds to about one (see ADR 8). Safe to run again: it
// does nothing when the template for the installed PGlite exists.
const { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');

function pgliteVersion() {
  let dir = dirname(require.resolve('@electric-sql/pglite'));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
}

async function main() {
  const out = join(__dirname, '..', 'dist', 'pglite', `template-${pgliteVersion()}.tar`);
  if (existsSync(out)) return;
  const { PGlite } = require('@electric-sql/pglite');
  const db = await PGlite.create();
  const dump = Buffer.from(await (await db.dumpDataDir('none')).arrayBuffer());
  await db.close();
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(`${out}.tmp`, dump);
  renameSync(`${out}.tmp`, out);
  process.stderr.write(`wrote ${out} (${(dump.length / 1e6).toFixed(1)} MB)\n`);
}

main().catch((error) => {
  // Only a start-up optimization: serve runs initdb itself without it.
  process.stderr.write(`pglite template not made: ${error.message}\n`);
});
