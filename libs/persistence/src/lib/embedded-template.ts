import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a new embedded data directory starts from: an initialized cluster packed as a tar
 * (see scripts/pglite-template.js), so PGlite unpacks it instead of running initdb. Only for
 * a directory that holds no cluster yet; undefined when there is no template to use.
 */
export function pgliteTemplate(dataDir: string | undefined, template: string | undefined): Blob | undefined {
  if (!dataDir || !template || existsSync(join(dataDir, 'PG_VERSION')) || !existsSync(template)) return undefined;
  return new Blob([readFileSync(template)]);
}
