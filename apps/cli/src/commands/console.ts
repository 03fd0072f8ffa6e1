import { AdminClient, AdminUnreachable } from '../admin/admin-client';
import { AdminRoutes, ConsoleLink } from '../admin/protocol';
import { UsageError } from '../cli/values';
import { databaseTarget } from './database';

/**
 * `rungate console link --user U`: a one-time web-console sign-in link from the running
 * `rungate serve` of the data directory (through its admin socket, so only the OS user
 * running serve can ask). Printed once, on stdout.
 */
export async function consoleLinkCommand(options: { user: string; dataDir?: string }): Promise<number> {
  const target = databaseTarget({ ...(options.dataDir ? { dataDir: options.dataDir } : {}) }, {});
  if (target.kind !== 'data-dir') throw new UsageError('rungate console link works with a running rungate serve (--data-dir)');
  const client = AdminClient.forDataDir(target.dir);
  let link: { user: string; url: string } | undefined;
  try {
    link = client ? await client.call('POST', AdminRoutes.consoleLink, ConsoleLink, { user: options.user }) : undefined;
  } catch (error) {
    if (!(error instanceof AdminUnreachable)) throw error;
  }
  if (!link) throw new UsageError(`no rungate serve answers on ${target.dir}: the console sign-in link comes from a running serve`);
  process.stderr.write(`a one-time sign-in link for ${link.user}: it works once and expires soon\n`);
  process.stdout.write(`${link.url}\n`);
  return 0;
}
