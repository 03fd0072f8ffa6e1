/**
 * Run by a test as its own process: starts a run whose script leaves a background child,
 * then dies of an uncaught error without any shutdown, as a crashing executor would.
 * argv: <run directory base> <pid file>
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { ConnectionConfig } from '@rungate/config';
import type { ConnectionOf } from '@rungate/executors';
import { ShellAdapter } from '../lib/shell.adapter';

const [workdirBase, pidFile] = process.argv.slice(2) as [string, string];
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
const adapter = new ShellAdapter(quiet, { workdirBase });
const now = Math.floor(Date.now() / 1000);
const prepared = adapter.prepare(
  {
    v: 1,
    runId: randomUUID(),
    iat: now,
    exp: now + 30,
    identity: { user: 'alice@example.com', groups: [] },
    runbook: { repository: 'demo', path: 'crash.runbook.sh', commit: 'c0ffee', sha256: 'x' },
    bodySha256: 'x',
    connection: { name: 'ops-box', type: 'shell' },
    params: {},
    env: { PID_FILE: pidFile },
    limits: { timeoutMs: 60_000, maxRows: 1, maxBytes: 1000 },
    readOnly: false,
    dryRun: false,
  },
  'sleep 300 & echo "$! $$" > "$PID_FILE"; sleep 300',
  ConnectionConfig.parse({ name: 'ops-box', type: 'shell' }) as ConnectionOf<'shell'>,
);
void adapter.run(prepared, new AbortController().signal);
const crashWhenRunning = setInterval(() => {
  if (!existsSync(pidFile)) return;
  clearInterval(crashWhenRunning);
  throw new Error('executor crashed');
}, 10);
