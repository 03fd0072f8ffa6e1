/**
 * What guardrails add to a call (issue 17), each against work the same step already does:
 * the input guardrails policy runs on one call (SQL parsed by libpg-query) against signing
 * that call's run ticket, and the output guardrails an executor runs on 1,000 rows against
 * the digest it computes of every output.
 */
import { parseConfig } from '@rungate/config';
import type { SqlOutput } from '@rungate/contracts';
import { Guardrails, OutputGuardrails, loadSqlParser } from '@rungate/guardrails';
import { outputDigest } from '@rungate/executors';
import { parseRunbook, renderRunbook, validateArguments } from '@rungate/runbooks';
import { generateTicketKeyPair, sha256Hex, signTicket, signingKeyFromPem } from '@rungate/tickets';
import { record, runBench, stats, statsLine, timeSync } from './support';

const CONFIG = `
repositories: [{ name: ops, url: /srv/ops }]
connections: [{ name: prod-db, type: postgres, url: env:DB }]
rules: [{ name: eng, groups: [eng], connections: ["*"], runbooks: ["ops/**"], guardrails: [row-cap] }]
guardrails:
  - { name: no-unbounded-writes, on: input, connections: [prod-db], match: { sql: { requireWhere: true, forbid: [ddl, transaction] } } }
  - { name: one-statement, on: input, runbooks: ["ops/**"], match: { sql: { maxStatements: 1, statements: [select, dml] } } }
  - { name: no-drop-word, on: input, runbooks: ["**"], match: { words: [drop, truncate] }, action: warn }
  - { name: no-secrets-in, on: input, runbooks: ["**"], match: { pattern: 'sk_(live|test)_[A-Za-z0-9]{16,}' } }
  - { name: row-cap, on: output, match: { maxRows: 5000 } }
  - { name: no-card-numbers, on: output, runbooks: ["**"], match: { pattern: '\\b\\d{4}-\\d{4}-\\d{4}-\\d{4}\\b' } }
  - { name: no-secrets-out, on: output, runbooks: ["**"], match: { words: [password, secret] } }
`;

const SOURCE = `-- @description Re-point a user's e-mail address
UPDATE users
SET email = '{{ .email | required "New email is required" | type "email" }}', updated_at = now()
WHERE user_id = {{ .user_id | type "number" | required "User ID is required" }}
  AND tenant = '{{ .tenant }}';
`;

runBench(async () => {
  const config = parseConfig(CONFIG);
  const guardrails = Guardrails.compile(config, await loadSqlParser());
  const parsed = parseRunbook('pg/update_email.runbook.sql', SOURCE);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.findings));
  const validation = validateArguments(parsed.runbook, { email: 'ada@example.com', user_id: 42, tenant: 'eu-1' });
  if (!validation.ok) throw new Error(JSON.stringify(validation.errors));
  const values = validation.values;
  const body = renderRunbook(parsed.runbook, values);
  const subject = { connection: 'prod-db', runbook: 'ops/pg/update_email.runbook.sql', rule: 'eng' };
  if (guardrails.checkInput({ ...subject, body, language: 'sql', params: values }).length > 0) throw new Error('the bench call should pass');

  const key = signingKeyFromPem(generateTicketKeyPair().privatePem);
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    v: 2 as const,
    runId: 'bench',
    iat: now,
    exp: now + 30,
    identity: { user: 'pat@example.com', groups: ['eng'] },
    runbook: { repository: 'ops', path: 'pg/update_email.runbook.sql', commit: 'c'.repeat(40), sha256: parsed.runbook.sha256 },
    bodySha256: sha256Hex(body),
    connection: { name: 'prod-db', type: 'postgres' as const },
    params: values,
    env: {},
    limits: { timeoutMs: 30_000, maxRows: 1000, maxBytes: 1 << 20 },
    readOnly: false,
    dryRun: false,
    guardrails: guardrails.outputFor(subject),
  };
  const sign = stats(timeSync(() => signTicket(claims, key), 5000));
  const input = stats(timeSync(() => guardrails.checkInput({ ...subject, body, language: 'sql', params: values }), 20_000));

  const rows = Array.from({ length: 1000 }, (_, i) =>
    Object.fromEntries(Array.from({ length: 10 }, (_, c) => [`col_${c}`, c === 0 ? i : `value ${i}.${c} of an ordinary row`])),
  );
  const output: SqlOutput = { kind: 'sql', columns: [], rows, rowCount: rows.length, statements: [{ command: 'SELECT', rowCount: rows.length }], truncated: false };
  const outputGuardrails = OutputGuardrails.compile(guardrails.outputFor(subject));
  const digest = stats(timeSync(() => outputDigest(output), 300, 30));
  const checked = stats(timeSync(() => outputGuardrails.check(output), 300, 30));

  const line = statsLine(58);
  line('sign one run ticket (baseline)', sign);
  line('4 input guardrails on the call (SQL parsed once)', input);
  line('digest 1,000 rows × 10 columns (baseline)', digest);
  line('3 output guardrails on the same rows', checked);
  const result = {
    inputP50Us: input.p50 * 1000,
    inputRatio: input.p50 / sign.p50,
    outputP50Ms: checked.p50,
    outputRatio: checked.p50 / digest.p50,
  };
  record('guardrails', result);
  console.log(JSON.stringify(result));
});
