import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { eventually, startOidcIssuer, type OidcIssuer, type ServiceProcess } from '@rungate/testing';
import { chromium, type Browser, type Page } from 'playwright-core';
import { mcpClient, runCli, startServe, type CallResult } from './support/stack';

const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
// rungate_run_status: the demo's update may be held for an approval.
const DEMO_TOOLS = ['demo.postgres.list_orders', 'demo.postgres.set_order_status', 'demo.shell.disk_usage', 'rungate_run_status'];
const OPS_USER = 'ops@rungate.local';
const LEAD_USER = 'lead@rungate.local';

interface AxeViolation {
  id: string;
  impact: string | null;
  nodes: { target: unknown[] }[];
}

/** axe-core's WCAG 2.x A and AA rules on the page as it is; a violation names its rule and elements. */
async function accessibilityViolations(page: Page): Promise<string[]> {
  // Injected from the test, not the page: the console's CSP allows no script but its own.
  await page.addScriptTag({ content: AXE }).catch(async () => {
    await page.evaluate(AXE);
  });
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: AxeViolation[] }> } }).axe;
    return (await axe.run((globalThis as unknown as { document: unknown }).document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })).violations;
  });
  return violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
}

/** The web console (ADR 23) in headless Chromium, against `rungate serve` with the bundled demo. */
describe('web console: rungate serve in a real browser', () => {
  let dir: string;
  let dataDir: string;
  let server: ServiceProcess;
  let url: string;
  let link: string;
  let client: Client;
  let browser: Browser;
  let issuer: OidcIssuer | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rungate-console-'));
    dataDir = join(dir, '.rungate');
    const served = await startServe('serve', ['--port', '0', '--audit-port', '0', '--data-dir', dataDir]);
    server = served.process;
    url = served.url;
    link = /Web console\s+(http:\/\/\S+\/console\/login\?code=[A-Za-z0-9_-]+)/.exec(server.output())?.[1] as string;
    client = await mcpClient(url, served.token as string);
    browser = await chromium.launch({
      executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
      headless: true,
      chromiumSandbox: false,
      args: ['--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await issuer?.close();
    await client?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function signIn(loginLink: string): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    await page.goto(loginLink);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/console\/catalog$/);
    return page;
  }

  it('prints a one-time link; it signs the demo user in once, with a Secure, HttpOnly, SameSite=Strict cookie, and never again', async () => {
    expect(link).toBeDefined();
    const page = await signIn(link);
    expect(await page.locator('header .who strong').textContent()).toBe('demo@rungate.local');
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'rungate_console', path: '/console', httpOnly: true, secure: true, sameSite: 'Strict' });
    // The page holds no bearer token of any kind.
    expect(await page.content()).not.toMatch(/rg_[A-Za-z0-9_-]{20,}/);

    const again = await (await browser.newContext()).newPage();
    await again.goto(link);
    await again.getByRole('button', { name: 'Sign in' }).click();
    await again.waitForLoadState();
    expect(await again.getByRole('alert').textContent()).toContain('not valid');
    expect(again.url()).toMatch(/\/console\/login$/);
    await again.context().close();
    await page.context().close();
  });

  it('shows the catalog tools/list gives this user, under a CSP with no inline script or style, and passes axe', async () => {
    const page = await signIn(await newLink('demo@rungate.local'));
    const response = await page.reload();
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const tools = await page.locator('tbody tr td:first-child code').allTextContents();
    expect(tools.sort()).toEqual(DEMO_TOOLS);
    const repository = page.getByRole('region', { name: 'demo' });
    expect(await repository.textContent()).toMatch(/Commit [0-9a-f]{40}, synced .*Lint: every runbook passed/s);
    expect(await repository.locator('tr', { hasText: 'demo.postgres.list_orders' }).textContent()).toContain('demo-db — rule engineering-demo-db');
    expect(await repository.locator('tr', { hasText: 'demo.shell.disk_usage' }).textContent()).toContain('local-shell — rule engineering-local-shell');
    expect(await page.locator('script:not([src])').count()).toBe(0);
    expect(await page.locator('[style]').count()).toBe(0);
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.context().close();
  });

  it('lists a run, shows its detail and timeline, and searches the audit trail', async () => {
    const result = (await client.callTool({ name: 'demo.postgres.list_orders', arguments: { status: 'open' } })) as CallResult;
    expect(result.isError).toBeFalsy();
    await client.callTool({ name: 'demo.nope', arguments: {} }).catch(() => undefined);
    const page = await signIn(await newLink('demo@rungate.local'));

    await page.getByRole('link', { name: 'Runs' }).click();
    await page.waitForURL(/\/console\/runs$/);
    const row = page.locator('tbody tr', { hasText: 'demo.postgres.list_orders' }).first();
    expect(await row.textContent()).toContain('succeeded');
    // The list is live: a run made now appears without a reload.
    expect(await page.locator('tbody tr', { hasText: 'demo.shell.disk_usage' }).count()).toBe(0);
    expect(((await client.callTool({ name: 'demo.shell.disk_usage', arguments: {} })) as CallResult).isError).toBeFalsy();
    await page.locator('tbody tr', { hasText: 'demo.shell.disk_usage' }).waitFor({ timeout: 20_000 });
    expect(await accessibilityViolations(page)).toEqual([]);
    await row.getByRole('link').click();
    await page.waitForURL(/\/console\/runs\/[^/]+$/);
    const detail = await page.locator('main').textContent();
    expect(detail).toContain('demo@rungate.local');
    expect(detail).toContain('demo-agent');
    expect(detail).toMatch(/at commit [0-9a-f]{40}/);
    expect(detail).toContain('audit.run.decided');
    expect(detail).toContain('audit.run.completed');
    expect(await accessibilityViolations(page)).toEqual([]);

    await page.getByRole('link', { name: 'Audit' }).click();
    await page.waitForURL(/\/console\/audit$/);
    await page.getByLabel('Outcome').fill('denied');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/outcome=denied/);
    const outcomes = await page.locator('#results tbody tr td:nth-child(7)').allTextContents();
    expect(outcomes.length).toBeGreaterThan(0);
    expect(outcomes.every((text) => text.startsWith('denied'))).toBe(true);
    expect(await page.locator('#results').textContent()).toContain('every event shown verifies');
    expect(await accessibilityViolations(page)).toEqual([]);

    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: /Export these events/ }).click();
    const exported = readFileSync(await (await download).path(), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { event: { outcome?: { status: string } } });
    expect(exported.length).toBe(outcomes.length);
    expect(exported.every((e) => e.event.outcome?.status === 'denied')).toBe(true);

    await page.getByRole('link', { name: 'Exploration sessions' }).click();
    await page.waitForURL(/\/console\/sessions$/);
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.context().close();
  });

  it('refuses a form without the session\'s CSRF token, and signs out with one', async () => {
    const page = await signIn(await newLink('demo@rungate.local'));
    const forged = await page.request.post(`${url}/console/logout`, { form: { _csrf: 'forged' }, headers: { origin: url } });
    expect(forged.status()).toBe(403);
    // An approval is refused the same way before policy is asked: a forged token, or the session's own from another site.
    const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
    expect((await page.request.post(`${url}/console/approvals/run_x/approve`, { form: { _csrf: 'forged' }, headers: { origin: url } })).status()).toBe(403);
    expect((await page.request.post(`${url}/console/approvals/run_x/reject`, { form: { _csrf: csrf, reason: 'no' }, headers: { origin: 'https://evil.example' } })).status()).toBe(403);
    await page.goto(`${url}/console/catalog`);
    expect(page.url()).toMatch(/\/console\/catalog$/);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/console\/login$/);
    await page.goto(`${url}/console/catalog`);
    expect(page.url()).toMatch(/\/console\/login$/);
    await page.context().close();
  });

  it('shows another user only the runbooks their rules grant, and not the audit trail', async () => {
    const configFile = join(dataDir, 'demo', 'rungate.yaml');
    const config = readFileSync(configFile, 'utf8')
      .replace(/^users:\n/m, `users:\n  - name: ${OPS_USER}\n    groups: [support]\n`)
      .replace(/^rules:\n/m, 'rules:\n  - name: support-shell\n    groups: [support]\n    connections: [local-shell]\n    runbooks: ["demo/shell/**"]\n');
    writeFileSync(configFile, config);
    const opsLink = await eventually(() => newLink(OPS_USER), 30_000, 250);
    const page = await signIn(opsLink);
    expect(await page.locator('tbody tr td:first-child code').allTextContents()).toEqual(['demo.shell.disk_usage']);
    expect(await page.locator('tbody tr').textContent()).toContain('local-shell — rule support-shell');
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.waitForURL(/\/console\/audit$/);
    expect(await page.getByRole('alert').textContent()).toContain(`${OPS_USER} may not read the audit trail`);
    expect(await page.locator('#results table').count()).toBe(0);
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.context().close();
  });

  it('makes a narrowed agent token for the user, which lists only what it is narrowed to, and revokes it', async () => {
    const page = await signIn(await newLink('demo@rungate.local'));
    await page.getByRole('link', { name: 'Tokens' }).click();
    await page.waitForURL(/\/console\/tokens$/);
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.getByLabel('Agent name').fill('shell-bot');
    await page.getByLabel(/^Runbooks/).fill('demo/shell/**');
    await page.getByRole('button', { name: 'Make token' }).click();
    await page.getByLabel('New token').waitFor();
    const token = await page.getByLabel('New token').inputValue();
    expect(token).toMatch(/^rg_/);
    const row = page.locator('tbody tr', { hasText: 'shell-bot' });
    expect(await row.textContent()).toContain('runbooks demo/shell/**');
    const narrowed = await mcpClient(url, token);
    expect((await narrowed.listTools()).tools.map((t) => t.name)).toEqual(['demo.shell.disk_usage']);
    await narrowed.close();

    await row.getByRole('button', { name: /^Revoke/ }).click();
    await page.getByText(/^Revoked tok_/).waitFor();
    expect(await page.locator('tbody tr', { hasText: 'shell-bot' }).textContent()).toContain('revoked');
    await expect(mcpClient(url, token)).rejects.toThrow();
    await page.context().close();
  });

  it('holds an agent\'s call for approval: a second user approves it in the console and watches it execute; the requester cannot approve their own', async () => {
    // The demo holds demo.postgres.set_order_status for one approval by lead@rungate.local (rule
    // demo-db-writes). Policy refuses the requester's own approval as SELF_APPROVAL before it asks
    // whether they are in an approver group.
    await approveInTheConsole();
  });

  async function approveInTheConsole(): Promise<void> {
    const requester = await signIn(await newLink('demo@rungate.local'));
    // Policy holds the call once its catalog view says so (the reloaded rules are policy's own).
    await eventually(async () => {
      await requester.goto(`${url}/console/catalog`);
      const row = await requester.locator('tr', { hasText: 'demo.postgres.set_order_status' }).textContent();
      if (!row?.includes('demo-db — rule demo-db-writes (needs an approval)')) throw new Error(`not held yet: ${row}`);
    }, 30_000, 250);

    const hold = async (args: Record<string, unknown>): Promise<string> => {
      const held = (await client.callTool({ name: 'demo.postgres.set_order_status', arguments: args })) as CallResult;
      expect(held.isError).toBeFalsy();
      const { runId, status } = held.structuredContent as { runId: string; status: string };
      expect(status).toBe('approval_required');
      return runId;
    };
    const runId = await hold({ order_id: 1003, status: 'cancelled' });
    const refused = await hold({ order_id: 1005, status: 'shipped' });

    // The requester sees their run, pending, with no decision to make; a forged approval is refused by policy.
    await requester.goto(`${url}/console/approvals/${runId}`);
    expect(await requester.locator('.state').textContent()).toBe('pending');
    expect(await requester.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    expect(await requester.getByRole('status').textContent()).toContain('This is your own run');
    const csrf = await requester.locator('input[name="_csrf"]').first().inputValue();
    const forged = await requester.request.post(`${url}/console/approvals/${runId}/approve`, { form: { _csrf: csrf, comment: 'mine' }, headers: { origin: url } });
    expect(await forged.text()).toContain('(SELF_APPROVAL)');
    await requester.reload();
    expect(await requester.locator('.state').textContent()).toBe('pending');
    await requester.goto(`${url}/console/approvals`);
    expect(await requester.locator('#results').textContent()).toContain('Nothing waits for your approval.');

    const approver = await signIn(await newLink(LEAD_USER));
    await approver.getByRole('link', { name: 'Approvals' }).click();
    await approver.waitForURL(/\/console\/approvals$/);
    const queued = approver.locator('#results tbody tr', { hasText: runId });
    expect(await queued.textContent()).toContain('demo@rungate.local');
    expect(await approver.locator('#results tbody tr', { hasText: refused }).count()).toBe(1);
    expect(await accessibilityViolations(approver)).toEqual([]);

    // One is rejected, with the reason on the record; it never runs. A rejection without a reason is not even sent.
    await approver.getByRole('link', { name: refused }).click();
    await approver.waitForURL(new RegExp(`/console/approvals/${refused}$`));
    const approverCsrf = await approver.locator('input[name="_csrf"]').first().inputValue();
    const blank = await approver.request.post(`${url}/console/approvals/${refused}/reject`, { form: { _csrf: approverCsrf, reason: '  ' }, headers: { origin: url } });
    expect(await blank.text()).toContain('Not sent: a rejection needs a reason');
    expect(await blank.text()).toContain('<strong class="state">pending</strong>');
    await approver.getByLabel('Reason for rejecting').fill('not before the customer confirms');
    await approver.getByRole('button', { name: 'Reject' }).click();
    await approver.getByText('Rejected.', { exact: true }).waitFor();
    expect(await approver.locator('.state').textContent()).toBe('rejected');
    expect(await approver.locator('main').textContent()).toContain('lead@rungate.local rejected — not before the customer confirms');
    await approver.getByRole('link', { name: 'Approvals' }).click();
    await approver.waitForURL(/\/console\/approvals$/);
    expect(await approver.locator('#results tbody tr', { hasText: refused }).count()).toBe(0);
    await queued.getByRole('link', { name: runId }).click();
    await approver.waitForURL(new RegExp(`/console/approvals/${runId}$`));
    const detail = await approver.locator('main').textContent();
    expect(detail).toContain("SET status = 'cancelled'");
    expect(detail).toContain('WHERE id = 1003');
    expect(detail).toMatch(/demo\/postgres\/set_order_status\.runbook\.sql at commit [0-9a-f]{40}/);
    expect(detail).toContain('demo@rungate.local via demo-agent');
    expect(await accessibilityViolations(approver)).toEqual([]);
    await approver.getByLabel('Comment (optional)').fill('ok, customer asked');
    await approver.getByRole('button', { name: 'Approve' }).click();
    await approver.getByText('Approved.', { exact: true }).waitFor();
    // The page follows the run as policy executes it.
    await approver.locator('.state', { hasText: /^executed$/ }).waitFor({ timeout: 30_000 });
    const done = await approver.locator('main').textContent();
    expect(done).toContain('lead@rungate.local approved — ok, customer asked');
    expect(done).toContain('succeeded');
    expect(await approver.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    expect(await accessibilityViolations(approver)).toEqual([]);
    await approver.context().close();

    // The requester (an auditor) finds the decision on the run's audit timeline, beside its execution.
    await requester.goto(`${url}/console/approvals/${runId}`);
    expect(await requester.locator('.state').textContent()).toBe('executed');
    await requester.getByRole('link', { name: 'its audit timeline' }).click();
    await requester.waitForURL(new RegExp(`/console/runs/${runId}$`));
    const timeline = await requester.locator('main').textContent();
    expect(timeline).toContain('audit.run.approved');
    expect(timeline).toContain('audit.run.completed');
    expect(timeline).toContain('held for approval');
    await requester.context().close();
    // It ran on the database, exactly as approved.
    const orders = async (status: string): Promise<unknown[]> => {
      const listed = (await client.callTool({ name: 'demo.postgres.list_orders', arguments: { status } })) as CallResult;
      return ((listed.structuredContent as { rows: { id: unknown }[] }).rows ?? []).map((row) => row.id);
    };
    expect(await orders('cancelled')).toContain(1003);
    expect(await orders('shipped')).not.toContain(1005);
  }

  it('signs in with an OIDC issuer (code flow with PKCE): the access token it gives is the identity policy checks', async () => {
    issuer = await startOidcIssuer({ audience: 'rungate-console-e2e', clientId: 'rungate-console', user: { email: 'grace@example.com', groups: ['engineering', 'auditors'] } });
    const configFile = join(dataDir, 'demo', 'rungate.yaml');
    writeFileSync(configFile, `${readFileSync(configFile, 'utf8')}\noidc:\n  issuer: ${issuer.issuer}\n  audience: rungate-console-e2e\nconsole:\n  oidc: { clientId: rungate-console }\n`);
    const page = await (await browser.newContext()).newPage();
    await eventually(async () => {
      await page.goto(`${url}/console/login`);
      if ((await page.getByRole('link', { name: `Sign in with ${issuer?.issuer}` }).count()) === 0) throw new Error('the configuration is not reloaded yet');
    }, 30_000, 250);
    await page.getByRole('link', { name: `Sign in with ${issuer.issuer}` }).click();
    await page.waitForURL(/\/console\/catalog$/);
    expect(issuer.exchanges).toEqual([{ clientId: 'rungate-console', redirectUri: `${url}/console/oidc/callback`, verifierMatched: true }]);
    expect(await page.locator('header .who strong').textContent()).toBe('grace@example.com');
    expect((await page.locator('tbody tr td:first-child code').allTextContents()).sort()).toEqual(DEMO_TOOLS);
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.waitForURL(/\/console\/audit$/);
    await page.getByLabel('User').fill('grace@example.com');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/user=grace/);
    expect(await page.locator('#results tbody').textContent()).toContain('audit.admin.console.signed_in');
    expect(await accessibilityViolations(page)).toEqual([]);

    // The callback works once: the state is spent, and a forged one never matched this browser's cookie.
    await page.goto(`${url}/console/oidc/callback?state=forged&code=forged`);
    expect(await page.getByRole('alert').textContent()).toContain('The sign-in failed');
    await page.context().close();
  });

  async function newLink(user: string): Promise<string> {
    const { code, stdout, stderr } = await runCli(['console', 'link', '--user', user, '--data-dir', dataDir]);
    if (code !== 0) throw new Error(`rungate console link exited ${code}: ${stderr}`);
    return stdout.trim();
  }
});
