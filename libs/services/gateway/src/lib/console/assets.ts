import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The vendored htmx (libs/services/gateway/assets/README.md). */
export const HTMX_FILE = 'htmx-2.0.11.min.js';

/** The files the console serves, and their types: nothing else under /console/assets. */
const TYPES: Record<string, string> = {
  [HTMX_FILE]: 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/**
 * libs/services/gateway/assets, from this file in src/lib/console (tests) or in its compiled
 * place under dist/ (the build copies the folder beside the compiled library).
 */
const ASSETS_DIR = join(__dirname, '..', '..', '..', 'assets');

const loaded = new Map<string, Buffer>();

/** An asset's bytes and type, or undefined for a name that is not one. */
export function asset(name: string): { body: Buffer; type: string } | undefined {
  const type = Object.hasOwn(TYPES, name) ? TYPES[name] : undefined;
  if (!type) return undefined;
  let body = loaded.get(name);
  if (!body) {
    body = readFileSync(join(ASSETS_DIR, name));
    loaded.set(name, body);
  }
  return { body, type };
}
