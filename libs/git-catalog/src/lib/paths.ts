import { isRunbookPath } from '@rungate/runbooks';
import { InternalError } from '@rungate/contracts';

function segmentsOf(path: string): string[] | undefined {
  if (path.includes('\\') || /[\0\n\r]/.test(path)) return undefined;
  const segments = path.split('/').filter((s) => s !== '' && s !== '.');
  return segments.some((s) => s === '..') ? undefined : segments;
}

/**
 * The configured sub-folder (`runbooks/`, `./ops/runbooks`) as a git path without leading or
 * trailing slashes; undefined for the whole repository.
 */
export function normalizeFolder(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const segments = segmentsOf(path);
  if (!segments) throw new InternalError(`repository path "${path}" must be a folder inside the repository (no "..", no backslashes)`);
  return segments.length ? segments.join('/') : undefined;
}

/**
 * Where a catalog path (relative to the sub-folder) lives in git, or undefined when the path
 * is not a runbook path a caller may read: only runbooks are served, never other files, and
 * nothing outside the configured folder.
 */
export function gitPathOfRunbook(folder: string | undefined, path: string): string | undefined {
  if (path.startsWith('/')) return undefined;
  const segments = segmentsOf(path);
  if (!segments || segments.length === 0 || segments.join('/') !== path) return undefined;
  if (!isRunbookPath(path)) return undefined;
  return folder ? `${folder}/${path}` : path;
}

/** The catalog path of a git path under the folder (the inverse of gitPathOfRunbook). */
export function catalogPathOf(folder: string | undefined, gitPath: string): string | undefined {
  if (!folder) return gitPath;
  return gitPath.startsWith(`${folder}/`) ? gitPath.slice(folder.length + 1) : undefined;
}
