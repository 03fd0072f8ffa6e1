import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningService } from '@rungate/runtime';
import { DOUBLE_TOKENS, doubleConfig, heldRun, startGatewayOverDouble, type GatewayOverDouble, type PolicyDouble } from '../libs/services/gateway/src/testing/approvals-policy-double';
import { runCli } from './support/stack';

const { lead: LEAD, leadAgent: LEAD_AGENT, alice: ALICE } = DOUBLE_TOKENS;

const CONFIG = doubleConfig();

/**
 * The approver commands — rungate approve, reject, runs --pending, runs show — as the built
 * CLI process runs them against the gateway's /v1/runs over real NATS: what they print, and
 * their exit codes (ERROR_EDGES: 1 refused, 2 usage or bad input). Policy's side of the bus is
 * a TEST DOUBLE here (approvals-policy-double: the approvals handler is policy's, tested with
 * policy); the gateway and the CLI are the real ones.
 */
describe('rungate approve, reject and runs (the built CLI against the gateway)', () => {
  let started: GatewayOverDouble;
  let dir: string;
  let gateway: RunningService;
  let policy: PolicyDouble;

  const cli = (token: string | undefined, ...args: string[]) => {
    const env: NodeJS.ProcessEnv = { ...process.env, RUNGATE_GATEWAY_URL: gateway.url };
    if (token === undefined) delete env['RUNGATE_TOKEN'];
    else env['RUNGATE_TOKEN'] = token;
    return runCli(args, { env, cwd: dir });
  };

  beforeAll(async () => {
    started = await startGatewayOverDouble(CONFIG, [heldRun('run-alice-1', 'alice@rungate.local'), heldRun('run-lead-1', 'lead@rungate.local')]);
    ({ gateway, policy, dir } = started);
  });

  afterAll(() => started?.close());

  it('runs --pending prints the runs waiting for this human as a table, --json as one object a line', async () => {
    const listed = await cli(LEAD, 'runs', '--pending');
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n')[0]).toMatch(/^RUN\s+TOOL\s+CONNECTION\s+REQUESTER\s+APPROVALS\s+EXPIRES$/);
    expect(listed.stdout).toMatch(/^run-alice-1\s+demo\.postgres\.set_order_status\s+demo-db\s+alice@rungate\.local via claude-code\s+0\/1\s+2026-12-07T13:00:00\.000Z$/m);
    expect(listed.stdout).not.toContain('run-lead-1');
    expect(listed.stderr).toContain('rungate approve RUN');
    const json = await cli(LEAD, 'runs', '--pending', '--json');
    expect(json.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { runId: string }).runId)).toEqual(['run-alice-1']);
    expect(policy.received.at(-1)).toMatchObject({ action: 'list', identity: { user: 'lead@rungate.local', human: true } });
  });

  it('runs show prints exactly what would run, and where', async () => {
    const shown = await cli(LEAD, 'runs', 'show', 'run-alice-1');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('state      pending');
    expect(shown.stdout).toContain(`runbook    demo/postgres/set_order_status.runbook.sql at ${'c'.repeat(40)}`);
    expect(shown.stdout).toContain('params     status="shipped" order_id="1001"');
    expect(shown.stdout).toContain("  | UPDATE orders SET status = 'shipped' WHERE id = 1001;");
    const json = await cli(LEAD, 'runs', 'show', 'run-alice-1', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ runId: 'run-alice-1', bodySha256: 'b'.repeat(64) });
  });

  it('approve sends the comment and says the run goes ahead; approving it again is refused, exit 1', async () => {
    const approved = await cli(LEAD, 'approve', 'run-alice-1', '--comment', 'checked order 1001');
    expect(approved).toMatchObject({ code: 0, stderr: '' });
    expect(approved.stdout).toBe('approved run-alice-1 (demo.postgres.set_order_status on demo-db): 1/1 approval: approved, it runs now exactly as shown (rungate runs show run-alice-1 for its outcome)\n');
    expect(policy.received.at(-1)).toMatchObject({ action: 'approve', runId: 'run-alice-1', comment: 'checked order 1001' });
    expect(await cli(LEAD, 'approve', 'run-alice-1')).toEqual({ code: 1, stdout: '', stderr: 'rungate approve: the gateway refused: RUN_NOT_PENDING: run run-alice-1 is approved\n' });
    const shown = await cli(LEAD, 'runs', 'show', 'run-alice-1');
    expect(shown.stdout).toMatch(/^decision {3}2026-12-07T12:01:00\.000Z {2}approved by lead@rungate\.local via cli: checked order 1001$/m);
  });

  it('reject sends the reason, with --token-file as well as RUNGATE_TOKEN', async () => {
    const tokenFile = join(dir, 'alice.token');
    writeFileSync(tokenFile, `${ALICE}\n`, { mode: 0o600 });
    const rejected = await cli(undefined, 'reject', 'run-lead-1', '--reason', 'wrong order', '--token-file', tokenFile);
    expect(rejected).toMatchObject({ code: 0, stdout: 'rejected run-lead-1 (demo.postgres.set_order_status on demo-db): it will not run\n' });
    expect(policy.received.at(-1)).toMatchObject({ action: 'reject', runId: 'run-lead-1', reason: 'wrong order', identity: { user: 'alice@rungate.local', human: true } });
  });

  it('exits 1 on a refusal: an agent token, an unknown run, an unknown token', async () => {
    expect(await cli(LEAD_AGENT, 'approve', 'run-lead-1')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^rungate approve: the gateway refused: AGENT_CANNOT_APPROVE: /) });
    expect(await cli(LEAD, 'runs', 'show', 'no-such-run')).toEqual({ code: 1, stdout: '', stderr: 'rungate runs show: the gateway refused: UNKNOWN_RUN: no run no-such-run\n' });
    expect(await cli('rg_not-a-token', 'runs', '--pending')).toEqual({ code: 1, stdout: '', stderr: 'rungate runs: the gateway refused: UNAUTHENTICATED: unknown or revoked token\n' });
  });

  it('exits 2 on bad input the gateway refuses, sending nothing on to policy', async () => {
    const before = policy.received.length;
    expect(await cli(LEAD, 'approve', 'run-lead-1', '--comment', 'x'.repeat(1001))).toEqual({
      code: 2,
      stdout: '',
      stderr: 'rungate approve: the gateway refused: BAD_REQUEST: comment is optional text of at most 1000 characters\n',
    });
    expect(await cli(LEAD, 'reject', 'run-lead-1', '--reason', '')).toMatchObject({ code: 2, stderr: expect.stringContaining('BAD_REQUEST: reason is required') });
    expect(policy.received).toHaveLength(before);
  });

  it.each([
    [['approve'], /^rungate approve: missing required argument 'run-id'/],
    [['reject', 'run-lead-1'], /^rungate reject: required option '--reason <text>' not specified/],
    [['runs'], /^rungate runs: say which runs: --pending/],
    [['runs', 'show'], /^rungate runs show: missing required argument 'run-id'/],
    [['approve', 'run-lead-1', '--force'], /^rungate approve: unknown option '--force'/],
  ])('exits 2 on a usage error: rungate %j', async (args, message) => {
    const result = await cli(LEAD, ...args);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(message);
  });

  it('exits 2 without a token, naming what it needs', async () => {
    expect(await cli(undefined, 'runs', '--pending')).toEqual({
      code: 2,
      stdout: '',
      stderr: 'rungate runs: set RUNGATE_TOKEN (or pass --token-file) to a token of a human, made for them and not for an agent (rungate token create --human, or human: true in rungate.yaml)\n',
    });
  });
});
