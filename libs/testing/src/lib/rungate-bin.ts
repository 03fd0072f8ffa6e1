import { resolve } from 'node:path';

/** The `rungate` command as users run it: bin/rungate.js, which starts the built CLI (dist/). */
export const RUNGATE_BIN = resolve(__dirname, '..', '..', '..', '..', 'bin', 'rungate.js');

/** `node bin/rungate.js run <service>`: one service in its own process, as deployed. */
export function serviceArgs(service: string): string[] {
  return [RUNGATE_BIN, 'run', service];
}
