import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeTicketKeys } from '../commands/keys';

/** The bundled demo's runbooks: a read-only query, an update to try with dryRun, a shell script. */
export const DEMO_RUNBOOKS: Record<string, string> = {
  'postgres/list_orders.runbook.sql': `-- @description List recent orders, optionally only those with one status
-- @readonly
-- @tags demo orders
SELECT id, customer, email, status, total, created_at
FROM orders
WHERE status = '{{ .status | default "open" | options "open" "shipped" "cancelled" | description "Order status" }}'
ORDER BY created_at DESC
LIMIT {{ .limit | type "number" | default "10" | description "How many orders at most" }};
`,
  'postgres/set_order_status.runbook.sql': `-- @description Move one order to another status; try it with dryRun: true first
-- @destructive
-- @idempotent
-- @timeout 10s
UPDATE orders
SET status = '{{ .status | required "the new status" | options "open" "shipped" "cancelled" }}'
WHERE id = {{ .order_id | type "number" | required "the order id" }};
`,
  'shell/disk_usage.runbook.sh': `# @description Disk usage of a path on the executor host, for runbooks that drive host CLIs
# @readonly
# @timeout 10s
du -sh -- '{{ .path | default "." | maxlength 256 | description "Path to measure" }}'
`,
  'README.md': `# Demo runbooks

Made by \`rungate serve\` for its demo. Each \`*.runbook.*\` file is one MCP tool, named
\`demo.<path with / as .>\`. Edit a file and commit: the tool list follows the branch.
`,
};

export const DEMO_SEED_SQL = `
CREATE TABLE orders (
  id         int PRIMARY KEY,
  customer   text NOT NULL,
  email      text NOT NULL,
  status     text NOT NULL CHECK (status IN ('open', 'shipped', 'cancelled')),
  total      numeric(10, 2) NOT NULL,
  created_at timestamptz NOT NULL
);
INSERT INTO orders VALUES
  (1001, 'Ada Lovelace',     'ada@example.com',      'open',      129.90, now() - interval '2 hours'),
  (1002, 'Grace Hopper',     'grace@example.com',    'shipped',    42.00, now() - interval '1 day'),
  (1003, 'Alan Turing',      'alan@example.com',     'open',      310.15, now() - interval '3 hours'),
  (1004, 'Katherine Johnson','katherine@example.com','cancelled',  18.50, now() - interval '2 days'),
  (1005, 'Edsger Dijkstra',  'edsger@example.com',   'open',       75.00, now() - interval '30 minutes');
`;

export const DEMO_USER = 'demo@rungate.local';
export const DEMO_AGENT = 'demo-agent';
/** The demo's approver: a second human, whose own token (human: true) approves the demo's held updates. */
export const DEMO_APPROVER = 'lead@rungate.local';
/** The tool whose real (not dry) runs wait for the approver (rule demo-db-writes). */
export const DEMO_HELD_TOOL = 'demo.postgres.set_order_status';

export interface DemoFiles {
  configFile: string;
  token: string;
  /** The approver's own token (human: true in the demo's rungate.yaml). */
  approverToken: string;
  repository: string;
  targetDir: string;
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 'rungate', GIT_AUTHOR_EMAIL: 'demo@rungate.local', GIT_COMMITTER_NAME: 'rungate', GIT_COMMITTER_EMAIL: 'demo@rungate.local' },
  });
}

/** A local Git repository of the demo runbooks, made once; later starts keep the user's edits. */
function demoRepository(dir: string): void {
  if (existsSync(join(dir, '.git'))) return;
  mkdirSync(dir, { recursive: true });
  for (const [path, body] of Object.entries(DEMO_RUNBOOKS)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), body);
  }
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '.');
  git(dir, 'commit', '-q', '-m', 'demo runbooks');
}

/** Made once and kept (mode 0600), so a client configured yesterday still connects (and an approver's shell still approves). */
function demoToken(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const token = `rg_${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** The ticket key pair in `dir`, made on first use and kept. */
export function ticketKeys(dir: string): { signingKey: string; verifyKey: string } {
  const signingKey = join(dir, 'policy.ed25519');
  return existsSync(signingKey) ? { signingKey, verifyKey: `${signingKey}.pub` } : writeTicketKeys(dir, 'policy');
}

/**
 * Everything the demo needs under `<dataDir>/demo`: runbooks in Git, the agent's and the
 * approver's tokens, ticket keys and a rungate.yaml that lets the demo user run them on the
 * demo database and the local shell, its update held for one approval by the approver.
 */
export function prepareDemo(dataDir: string): DemoFiles {
  const root = join(dataDir, 'demo');
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const repository = join(root, 'runbooks');
  demoRepository(repository);
  const token = demoToken(join(root, 'agent-token'));
  const approverToken = demoToken(join(root, 'approver-token'));
  const keys = ticketKeys(join(dataDir, 'keys'));
  const sha256 = (secret: string) => createHash('sha256').update(secret).digest('hex');
  const configFile = join(root, 'rungate.yaml');
  writeFileSync(
    configFile,
    `# Written by \`rungate serve\` for its demo at every start; run your own with --config.
repositories:
  - name: demo
    url: ${repository}
    branch: main
    pollInterval: 2s
connections:
  - name: demo-db
    type: postgres
    url: env:RUNGATE_DEMO_DATABASE_URL
    pool: { max: 1 }
    masking: demo-pii
  - name: local-shell
    type: shell
    masking: demo-pii
masking:                              # applied by the executors before output leaves them
  - name: demo-pii
    entities: { email: redact }       # any e-mail address, in any column or output: [EMAIL]
    columns: [{ match: orders.customer, strategy: mask }]   # this column whatever it holds: ****lace
users:
  - name: ${DEMO_USER}
    groups: [engineering, auditors]   # auditors: may query the audit API
  - name: ${DEMO_APPROVER}
    groups: [sre-leads]               # approves the demo's updates (rule demo-db-writes)
tokens:
  - sha256: "${sha256(token)}"
    user: ${DEMO_USER}
    agent: ${DEMO_AGENT}
    scopes: [audit:read]   # the demo agent's token also reads the audit trail; a real agent's would not
  - sha256: "${sha256(approverToken)}"
    user: ${DEMO_APPROVER}
    human: true            # the approver's own token, not an agent's: only such a one approves
rules:
  - name: demo-db-writes              # the first matching rule decides: before the broader one
    groups: [engineering]
    connections: [demo-db]
    runbooks: ["demo/postgres/set_order_status.runbook.sql"]
    approval: { groups: [sre-leads], count: 1, ttl: 1h }   # a real run waits for ${DEMO_APPROVER}; a dry run never waits
  - name: engineering-demo-db
    groups: [engineering]
    connections: [demo-db]
    runbooks: ["demo/postgres/**"]
  - name: engineering-local-shell
    groups: [engineering]
    connections: [local-shell]
    runbooks: ["demo/shell/**"]
gitSync: { cacheDir: ${join(dataDir, 'git')} }
tickets:
  signingKey: file:${keys.signingKey}
  verifyKeys: [file:${keys.verifyKey}]
`,
    { mode: 0o600 },
  );
  return { configFile, token, approverToken, repository, targetDir: join(root, 'target') };
}
