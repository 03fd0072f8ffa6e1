import { readFileSync } from 'node:fs';
import { InternalError } from '@rungate/contracts';

/**
 * Resolves an `env:`/`file:` reference. Called only inside the process that needs the
 * secret (an executor for connection credentials, policy for its signing key), never
 * stored in a message, a log or an audit event.
 */
export function resolveSecret(ref: string, env: NodeJS.ProcessEnv = process.env): string {
  if (ref.startsWith('env:')) {
    const value = env[ref.slice(4)];
    if (value === undefined || value === '') throw new InternalError(`secret ${ref}: environment variable is not set`);
    return value;
  }
  if (ref.startsWith('file:')) {
    const path = ref.slice(5).replace(/^\/\/(?=\/)/, '');
    try {
      return readFileSync(path, 'utf8').trim();
    } catch (error) {
      throw new InternalError(`secret ${ref}: cannot read file (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  throw new InternalError('a secret must be a reference (env:NAME or file:/path)');
}
