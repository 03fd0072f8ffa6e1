/**
 * Policy decision cost (issue 4): one decision with 1,000 rules and 10,000 runbooks,
 * `tools/list` for a user who sees 10,000 runbooks, and the cost of resolving a token.
 */
import { createHash, randomBytes } from 'node:crypto';
import { RungateConfig, type RuleConfig } from '@rungate/config';
import type { Identity, RunbookEntry } from '@rungate/contracts';
import { authenticateStaticToken, decide, listTools, tokenSha256 } from '@rungate/policy';
import { fmt, record, stats, timeSync } from './support';

const RUNBOOKS = 10_000;
const RULES = 1_000;

function entry(i: number): RunbookEntry {
  const team = `team${i % 100}`;
  return {
    repository: 'ops',
    path: `${team}/postgres/task_${i}.runbook.sql`,
    tool: `ops.${team}.postgres.task_${i}`,
    language: 'sql',
    sha256: createHash('sha256').update(String(i)).digest('hex'),
    metadata: { timeoutMs: 30_000, readOnly: i % 2 === 0, destructive: false, idempotent: false, tags: [], connectionTypes: ['postgres'] },
    parameters: [
      { name: 'user_id', type: 'number', required: true },
      { name: 'email', type: 'email', required: false, maxLength: 200 },
    ],
  };
}

const entries = Array.from({ length: RUNBOOKS }, (_, i) => entry(i));
// 999 rules for other teams, then the one that lets the platform group see everything.
const rules: RuleConfig[] = Array.from({ length: RULES - 1 }, (_, i) => ({
  name: `team-rule-${i}`,
  groups: [`team${i % 100}`],
  connections: [`db-${i % 10}`],
  runbooks: [`ops/team${i % 100}/**`],
}));
rules.push({ name: 'platform', groups: ['platform'], connections: ['db-*'], runbooks: ['ops/**'] });

const tokens = Array.from({ length: 1000 }, (_, i) => ({ token: `rg_${randomBytes(24).toString('base64url')}`, i }));
const config = RungateConfig.parse({
  repositories: [{ name: 'ops', url: '/srv/ops' }],
  connections: Array.from({ length: 10 }, (_, i) => ({ name: `db-${i}`, type: 'postgres', url: 'env:DB' })),
  users: [{ name: 'pat@example.com', groups: ['platform'] }],
  tokens: tokens.map((t) => ({ sha256: tokenSha256(t.token), user: 'pat@example.com', agent: `agent-${t.i}` })),
  rules,
});

const platform: Identity = { user: 'pat@example.com', groups: ['platform'], agent: 'bench', scope: {} };
const single = config.connections.slice(3, 4);

let i = 0;
const decision = stats(
  timeSync(() => decide({ identity: platform, runbook: `ops/${entries[i++ % RUNBOOKS]?.path}`, connection: 'db-3' }, rules), 20_000),
);
const list = stats(timeSync(() => listTools(platform, entries, single, rules), 30, 3));
const lastToken = tokens[tokens.length - 1]?.token ?? '';
const tokenCost = stats(timeSync(() => authenticateStaticToken(config, lastToken), 5000));

console.log(`decision (1,000 rules, 10,000 runbooks): p50 ${fmt(decision.p50)}  p99 ${fmt(decision.p99)}   target ≤ 20 µs p50`);
console.log(`tools/list of 10,000 visible runbooks:   p50 ${fmt(list.p50)}  p99 ${fmt(list.p99)}   target ≤ 50 ms`);
console.log(`static token resolution (1,000 tokens):  p50 ${fmt(tokenCost.p50)}  p99 ${fmt(tokenCost.p99)}`);
const result = { decisionP50Us: decision.p50 * 1000, decisionP99Us: decision.p99 * 1000, listP50Ms: list.p50, listP99Ms: list.p99, tokenP50Us: tokenCost.p50 * 1000 };
record('policy', result);
console.log(JSON.stringify(result));
