import { createHash, randomBytes } from 'node:crypto';
import { parseConfig, type RungateConfig } from '@rungate/config';
import { TokenStore, openDatabase } from '@rungate/persistence';
import { ConfigHolder, type ServiceContext } from '@rungate/runtime';
import { createTestDatabase, startOidcIssuer, type OidcIssuer, type TestDatabase } from '@rungate/testing';
import { tokenSha256 } from '@rungate/policy';
import type { DataSource } from 'typeorm';
import { Authenticator } from './authenticator';
import { PolicyDatabase } from './policy-database';

const AUDIENCE = 'https://rungate.example.com';
const CONSOLE_CLIENT = 'rungate-console';
const HUMAN_TOKEN = 'rg_lead-human-static-token';
const AGENT_TOKEN = 'rg_lead-agent-static-token';

/** An access token from the issuer, got the way a browser gets one: authorization code with PKCE. */
async function accessToken(issuer: OidcIssuer, clientId: string): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const redirectUri = 'http://127.0.0.1/callback';
  const authorize = new URL(`${issuer.issuer}/authorize`);
  authorize.search = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: 'S256', state: 's', scope: 'openid email' }).toString();
  const redirect = await fetch(authorize, { redirect: 'manual' });
  const code = new URL(redirect.headers.get('location') as string).searchParams.get('code') as string;
  const token = await fetch(`${issuer.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, client_id: clientId, redirect_uri: redirectUri, code_verifier: verifier }).toString(),
  });
  return ((await token.json()) as { access_token: string }).access_token;
}

/**
 * Who holds a human credential (ADR 18 §3), as policy authenticates every bearer: a static
 * token with human: true, a stored token made --human (PostgreSQL), an access token of a
 * client in oidc.humanClients or of the console's own client. Everything else is an agent,
 * `human` absent.
 */
describe('human credentials, as policy authenticates them', () => {
  let pg: TestDatabase;
  let db: DataSource;
  let issuer: OidcIssuer;
  let config: ConfigHolder;
  let authenticator: Authenticator;

  const yaml = (oidc: string) =>
    parseConfig(`
repositories: [{ name: demo, url: /srv }]
users: [{ name: lead@rungate.local, groups: [sre-leads] }]
tokens:
  - { sha256: "${tokenSha256(HUMAN_TOKEN)}", user: lead@rungate.local, human: true }
  - { sha256: "${tokenSha256(AGENT_TOKEN)}", user: lead@rungate.local, agent: claude-code }
${oidc}
`);

  beforeAll(async () => {
    pg = await createTestDatabase('rg_human_tokens');
    db = await openDatabase(pg.url);
    issuer = await startOidcIssuer({ audience: AUDIENCE, user: { email: 'lead@rungate.local', groups: ['sre-leads'] }, clientId: CONSOLE_CLIENT });
    config = new ConfigHolder(yaml(`oidc: { issuer: "${issuer.issuer}", audience: "${AUDIENCE}" }`));
    const ctx = { service: 'policy', configFile: '', config, database: async () => db } as unknown as ServiceContext;
    authenticator = new Authenticator(config, new PolicyDatabase(ctx));
  });

  afterAll(async () => {
    await issuer?.close();
    await db?.destroy();
    await pg?.drop();
  });

  it('a static token is a human only with human: true', async () => {
    expect((await authenticator.authenticate(HUMAN_TOKEN)).identity).toMatchObject({ user: 'lead@rungate.local', groups: ['sre-leads'], human: true });
    expect((await authenticator.authenticate(AGENT_TOKEN)).identity).not.toHaveProperty('human');
  });

  it('a stored token is a human only when made --human, and stays one across its lookups', async () => {
    const store = new TokenStore(db);
    const human = await store.create({ user: 'lead@rungate.local', agent: 'cli', ttlMs: 60_000, human: true });
    const agent = await store.create({ user: 'lead@rungate.local', agent: 'claude-code', ttlMs: 60_000 });
    expect(human.record.human).toBe(true);
    expect(agent.record).not.toHaveProperty('human');
    expect((await authenticator.authenticate(human.token)).identity).toMatchObject({ agent: 'cli', tokenId: human.record.id, human: true });
    expect((await authenticator.authenticate(agent.token)).identity).not.toHaveProperty('human');
    expect((await store.list()).map((t) => [t.agent, t.human ?? false])).toEqual([
      ['cli', true],
      ['claude-code', false],
    ]);
  });

  it('an access token is a human for the console\'s own client or one in oidc.humanClients, an agent for any other, following reloads', async () => {
    const bearer = await accessToken(issuer, CONSOLE_CLIENT);
    const oidc = `oidc: { issuer: "${issuer.issuer}", audience: "${AUDIENCE}" }`;
    expect((await authenticator.authenticate(bearer)).identity).toMatchObject({ user: 'lead@rungate.local', agent: CONSOLE_CLIENT });
    expect((await authenticator.authenticate(bearer)).identity).not.toHaveProperty('human');

    const withConsole: RungateConfig = yaml(`${oidc}\nconsole: { oidc: { clientId: ${CONSOLE_CLIENT} } }`);
    config.replace(withConsole);
    expect((await authenticator.authenticate(bearer)).identity).toMatchObject({ agent: CONSOLE_CLIENT, human: true });

    config.replace(yaml(`oidc: { issuer: "${issuer.issuer}", audience: "${AUDIENCE}", humanClients: [${CONSOLE_CLIENT}] }`));
    expect((await authenticator.authenticate(bearer)).identity).toMatchObject({ human: true });

    config.replace(yaml(`oidc: { issuer: "${issuer.issuer}", audience: "${AUDIENCE}", humanClients: [rungate-cli] }`));
    expect((await authenticator.authenticate(bearer)).identity).not.toHaveProperty('human');
  });
});
