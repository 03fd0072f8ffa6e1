import { ConfigError, parseConfig } from './load';

const base = 'repositories: [{ name: demo, url: /srv }]\nconnections: [{ name: prod, type: postgres, url: env:PROD }]\n';

function problems(text: string): { key: string; message: string }[] {
  try {
    parseConfig(base + text);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('console:', () => {
  it('defaults to on, 8h sessions and 10m login links', () => {
    expect(parseConfig(base).console).toEqual({ enabled: true, sessionTtl: 8 * 3_600_000, loginLinkTtl: 600_000 });
  });

  it('refuses console.oidc without an issuer in oidc:, an unknown key and TTLs out of range', () => {
    expect(problems('console: { oidc: { clientId: c } }')).toEqual([expect.objectContaining({ key: 'console.oidc', message: expect.stringContaining('oidc:') })]);
    expect(problems('console: { enable: true }').map((p) => p.key)).toEqual(['console']);
    expect(problems('console: { sessionTtl: 48h, loginLinkTtl: 1s }').map((p) => p.key).sort()).toEqual(['console.loginLinkTtl', 'console.sessionTtl']);
    expect(problems('console: { oidc: { clientId: c, clientSecret: s3cret } }').map((p) => p.key)).toContain('console.oidc.clientSecret');
  });

  it('takes console.oidc with an issuer, its scopes by default openid, email and audit:read', () => {
    const config = parseConfig(base + 'oidc: { issuer: "https://id.example.com", audience: rungate }\nconsole: { oidc: { clientId: rungate-console, clientSecret: env:CONSOLE_SECRET } }');
    expect(config.console.oidc).toEqual({ clientId: 'rungate-console', clientSecret: 'env:CONSOLE_SECRET', scopes: ['openid', 'email', 'audit:read'] });
  });
});
