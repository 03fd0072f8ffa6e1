#!/usr/bin/env node
// `npm run build`: the CLI and every library compiled by tsc into dist/, in the sources' own
// layout (dist/apps/cli/src/main.js, dist/libs/<lib>/src/…), then the PGlite template.
//
// There is no bundler (ADR 10). The compiled files keep their `@rungate/<lib>` imports; Node
// resolves them through dist/node_modules/@rungate/<lib>, one small package per entry of
// tsconfig.base.json's `paths`, whose `main` is that library's compiled index. Everything else
// resolves from the repository's (or the image's) node_modules, as for any package.
//
// Type errors are `npm run typecheck`'s job (tsc -p tsconfig.check.json); the build emits with
// `noCheck`, which gives the same JavaScript (decorator metadata included) in a fraction of
// the time.
const { execFileSync } = require('node:child_process');
const { builtinModules } = require('node:module');
const { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } = require('node:fs');
const { join, relative } = require('node:path');

const root = join(__dirname, '..');
const dist = join(root, 'dist');

function compile() {
  // dist/pglite (the template) survives a rebuild; the compiled tree does not.
  for (const dir of ['apps', 'libs', 'node_modules']) rmSync(join(dist, dir), { recursive: true, force: true });
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
}

function linkLibraries() {
  const { compilerOptions } = JSON.parse(readFileSync(join(root, 'tsconfig.base.json'), 'utf8'));
  for (const [name, [source]] of Object.entries(compilerOptions.paths)) {
    if (name === '@rungate/testing' || name === '@rungate/test-util') continue; // tests only; never part of the build
    const compiled = join(dist, source.replace(/\.ts$/, '.js'));
    const pkg = join(dist, 'node_modules', name);
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), `${JSON.stringify({ name, private: true, main: relative(pkg, compiled) }, null, 2)}\n`);
  }
}

/** Every package the compiled tree requires; the image keeps only `dependencies` (npm prune --omit=dev). */
function checkRuntimeDependencies() {
  const { dependencies } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const missing = new Map();
  for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js') || entry.parentPath.includes('node_modules')) continue;
    const file = join(entry.parentPath, entry.name);
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/\brequire\((?:"|')([^"'.][^"']*)(?:"|')\)/g)) {
      const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
      if (name.startsWith('node:') || builtinModules.includes(name) || name.startsWith('@rungate/') || dependencies[name]) continue;
      missing.set(name, relative(root, file));
    }
  }
  if (missing.size > 0) {
    for (const [name, file] of missing) process.stderr.write(`build: ${file} requires ${name}, which is not in package.json "dependencies"\n`);
    process.exit(1);
  }
}

/** Files the compiled code reads beside itself: the web console's stylesheet and vendored htmx (ADR 23). */
function copyAssets() {
  const assets = join('libs', 'services', 'gateway', 'assets');
  cpSync(join(root, assets), join(dist, assets), { recursive: true });
}

compile();
copyAssets();
linkLibraries();
checkRuntimeDependencies();
require('./pglite-template');
