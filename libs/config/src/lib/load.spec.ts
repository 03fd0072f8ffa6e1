import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configPath, loadConfig, parseConfig } from './load';
import { resolveSecret } from './secrets';
import { problems } from '../testing/problems';

const minimal = `
repositories:
  - name: demo
    url: /srv/runbooks
connections:
  - name: app-db
    type: postgres
    url: env:APP_DATABASE_URL
users:
  - name: alice@example.com
    groups: [engineering]
tokens:
  - sha256: "${'a'.repeat(64)}"
    user: alice@example.com
    agent: claude-code
rules:
  - name: eng
    groups: [engineering]
    connections: [app-db]
    runbooks: ["demo/**"]
`;


describe('rungate.yaml', () => {
  it('parses a minimal configuration with defaults', () => {
    const config = parseConfig(minimal);
    expect(config.repositories[0]).toMatchObject({ name: 'demo', branch: 'main', pollInterval: 10_000 });
    expect(config.gateway).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(config.connections[0]).toMatchObject({ type: 'postgres', pool: { max: 10 } });
  });

  it('refuses a literal secret where a reference is required, naming the key', () => {
    const text = minimal.replace('env:APP_DATABASE_URL', 'postgres://app:hunter2@db/app');
    expect(problems(text)).toEqual([{ key: 'connections[0].url', message: expect.stringContaining('secret reference') }]);
  });

  it('names unknown keys, unknown users and unknown connections', () => {
    const text = minimal.replace('agent: claude-code', 'agent: claude-code\n    user_name: x').replace('connections: [app-db]', 'connections: [app-db, nope]');
    const found = problems(text);
    expect(found).toContainEqual({ key: 'tokens[0]', message: 'unknown key(s): user_name' });
    expect(found).toContainEqual({ key: 'rules[0].connections[1]', message: 'unknown connection "nope"' });
    expect(problems(minimal.replace('user: alice@example.com', 'user: mallory@example.com'))).toContainEqual({
      key: 'tokens[0].user',
      message: 'unknown user "mallory@example.com" (not in users:)',
    });
  });

  it('takes an expiry on a static token as an RFC 3339 time with a time zone, and refuses anything else', () => {
    const expiring = (value: string) => minimal.replace('agent: claude-code', `agent: claude-code\n    expiresAt: ${value}`);
    expect(parseConfig(expiring('2027-01-31T00:00:00Z')).tokens[0]?.expiresAt).toBe('2027-01-31T00:00:00Z');
    for (const bad of ['2027-01-31', '2027-01-31T00:00:00', '8h', 'tomorrow']) {
      expect(problems(expiring(bad))).toEqual([{ key: 'tokens[0].expiresAt', message: 'an RFC 3339 time with its time zone, e.g. 2027-01-31T00:00:00Z' }]);
    }
    expect(problems(minimal.replace('agent: claude-code', 'agent: claude-code\n    ttl: 8h'))).toContainEqual({ key: 'tokens[0]', message: 'unknown key(s): ttl' });
  });

  it('bounds how long a client may take to send a request, well under Node\'s 300 s, and limits failed tokens and attempt records', () => {
    const config = parseConfig(minimal);
    expect(config.gateway).toMatchObject({ headersTimeout: 10_000, requestTimeout: 30_000, maxBodyBytes: 1024 * 1024, authFailureLimit: { failures: 20, window: 60_000 } });
    expect(config.audit.attemptLimit).toEqual({ events: 20, window: 60_000, keys: 1000 });
    expect(parseConfig(`${minimal}gateway: { headersTimeout: 2s, requestTimeout: 5s, authFailureLimit: { failures: 5, window: 10m } }\n`).gateway).toMatchObject({
      headersTimeout: 2000,
      requestTimeout: 5000,
      authFailureLimit: { failures: 5, window: 600_000 },
    });
    expect(problems(`${minimal}gateway: { headersTimeout: 40s, requestTimeout: 30s }\n`)).toEqual([{ key: 'gateway.headersTimeout', message: 'headersTimeout must not be longer than requestTimeout' }]);
    expect(problems(`${minimal}gateway: { callTimeout: 30s, heldCallWait: 31s }\n`)).toEqual([
      { key: 'gateway.heldCallWait', message: 'heldCallWait must not be longer than callTimeout, which bounds the whole call' },
    ]);
    expect(problems(`${minimal}gateway: { requestTimeout: 10m }\n`)).toEqual([{ key: 'gateway.requestTimeout', message: 'at most 5m (a slow client holds a connection this long)' }]);
    expect(problems(`${minimal}gateway: { authFailureLimit: { failures: 0, window: 1m } }\n`)).toEqual([{ key: 'gateway.authFailureLimit.failures', message: expect.any(String) }]);
    expect(problems(`${minimal}audit: { attemptLimit: { events: 5, window: forever } }\n`)).toEqual([{ key: 'audit.attemptLimit.window', message: expect.any(String) }]);
  });

  it('answers a held call at once unless gateway.heldCallWait says how long to keep it open, within callTimeout', () => {
    expect(parseConfig(minimal).gateway.heldCallWait).toBe(0);
    expect(parseConfig(`${minimal}gateway: { heldCallWait: 0 }\n`).gateway.heldCallWait).toBe(0);
    expect(parseConfig(`${minimal}gateway: { heldCallWait: 0s }\n`).gateway.heldCallWait).toBe(0);
    expect(parseConfig(`${minimal}gateway: { heldCallWait: 45s }\n`).gateway.heldCallWait).toBe(45_000);
    expect(parseConfig(`${minimal}gateway: { callTimeout: 5m, heldCallWait: 5m }\n`).gateway.heldCallWait).toBe(300_000);
    expect(problems(`${minimal}gateway: { heldCallWait: 2m }\n`)).toEqual([{ key: 'gateway.heldCallWait', message: 'heldCallWait must not be longer than callTimeout, which bounds the whole call' }]);
    for (const bad of ['-1', 'soon', '1.5']) expect(problems(`${minimal}gateway: { heldCallWait: ${bad} }\n`)).toEqual([{ key: 'gateway.heldCallWait', message: expect.any(String) }]);
  });

  it('gives a static token only the scopes it lists, and only known ones', () => {
    expect(parseConfig(minimal).tokens[0]?.scopes).toEqual([]);
    expect(parseConfig(minimal.replace('agent: claude-code', 'agent: claude-code\n    scopes: [audit:read]')).tokens[0]?.scopes).toEqual(['audit:read']);
    expect(problems(minimal.replace('agent: claude-code', 'agent: claude-code\n    scopes: [audit:write]'))).toEqual([{ key: 'tokens[0].scopes[0]', message: expect.any(String) }]);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(problems('repositories: [\n')[0]?.key).toMatch(/^line \d+$/);
  });

  it('reports a missing file with the path and how to point at another', () => {
    expect(() => loadConfig('/nonexistent/rungate.yaml')).toThrow(/\/nonexistent\/rungate.yaml[\s\S]*file not found/);
  });

  it('takes the path from --config, then RUNGATE_CONFIG, then ./rungate.yaml', () => {
    expect(configPath(['node', 'x', '--config', '/a.yaml'], {})).toBe('/a.yaml');
    expect(configPath(['node', 'x', '--config=/b.yaml'], {})).toBe('/b.yaml');
    expect(configPath(['node', 'x'], { RUNGATE_CONFIG: '/c.yaml' })).toBe('/c.yaml');
    expect(configPath(['node', 'x'], {})).toMatch(/rungate\.yaml$/);
  });
});

describe('secret references', () => {
  it('resolves env: and file: references', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-secret-'));
    writeFileSync(join(dir, 'key'), 'sekret\n');
    expect(resolveSecret('env:DB', { DB: 'postgres://x' })).toBe('postgres://x');
    expect(resolveSecret(`file:${join(dir, 'key')}`)).toBe('sekret');
  });

  it('fails without revealing anything when a reference cannot be resolved', () => {
    expect(() => resolveSecret('env:MISSING', {})).toThrow('secret env:MISSING: environment variable is not set');
    expect(() => resolveSecret('postgres://literal', {})).toThrow(/must be a reference/);
  });
});
