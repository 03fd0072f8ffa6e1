import { existsSync } from 'node:fs';
import { join } from 'node:path';

declare const __non_webpack_require__: NodeJS.Require;

export const SERVICES = ['gateway', 'git-sync', 'policy', 'audit', 'executor-postgres', 'executor-ssh', 'executor-kubernetes', 'executor-shell'] as const;

/** Starts one built service in this process, as `node dist/apps/<app>/main.js` would. */
export function runServiceCommand(args: string[]): number | undefined {
  const app = args[0];
  if (!app || !(SERVICES as readonly string[]).includes(app)) {
    process.stderr.write(`usage: rungate run <${SERVICES.join('|')}>\n`);
    return 2;
  }
  const main = join(__dirname, '..', app, 'main.js');
  if (!existsSync(main)) {
    process.stderr.write(`${main} not found: run \`npm run build\` first\n`);
    return 1;
  }
  __non_webpack_require__(main);
  return undefined;
}
