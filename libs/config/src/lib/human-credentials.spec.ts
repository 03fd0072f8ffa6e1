import { parseConfig } from './load';
import { problems } from '../testing/problems';

const SHA = 'a'.repeat(64);
const base = `
repositories: [{ name: demo, url: /srv }]
users: [{ name: lead@example.com, groups: [sre-leads] }]
`;

const withToken = (token: string) => `${base}tokens:\n  - { sha256: "${SHA}", user: lead@example.com${token} }\n`;
const withOidc = (extra: string) => `${base}oidc: { issuer: "https://id.example.com", audience: rungate${extra} }\n`;

/** Human credentials (ADR 18 §3): only these may approve a held run. */
describe('human credentials in rungate.yaml', () => {
  it('marks a static token human: true, where agent may name the client or be left out', () => {
    expect(parseConfig(withToken(', human: true')).tokens[0]).toMatchObject({ human: true });
    expect(parseConfig(withToken(', human: true')).tokens[0]?.agent).toBeUndefined();
    expect(parseConfig(withToken(', human: true, agent: cli')).tokens[0]).toMatchObject({ human: true, agent: 'cli' });
  });

  it('keeps a token without human: an agent\'s, which must name its agent', () => {
    expect(parseConfig(withToken(', agent: claude-code')).tokens[0]?.human).toBeUndefined();
    expect(parseConfig(withToken(', agent: claude-code, human: false')).tokens[0]?.human).toBe(false);
    expect(problems(withToken(''))).toEqual([
      { key: 'tokens[0].agent', message: "name the agent this token is for (recorded in the audit log), or set human: true for a human's own token" },
    ]);
    expect(problems(withToken(', human: false'))).toContainEqual({ key: 'tokens[0].agent', message: expect.stringMatching(/or set human: true/) });
  });

  it('refuses a human: that is not true or false, and look-alike keys', () => {
    expect(problems(withToken(', agent: cli, human: "yes"'))).toEqual([{ key: 'tokens[0].human', message: expect.any(String) }]);
    expect(problems(withToken(', agent: cli, isHuman: true'))).toContainEqual({ key: 'tokens[0]', message: 'unknown key(s): isHuman' });
  });

  it('lists OIDC clients whose tokens are a human acting directly; none by default', () => {
    expect(parseConfig(withOidc('')).oidc?.humanClients).toEqual([]);
    expect(parseConfig(withOidc(', humanClients: [rungate-cli, ops-portal]')).oidc?.humanClients).toEqual(['rungate-cli', 'ops-portal']);
  });

  it.each([
    ['a client twice', ', humanClients: [rungate-cli, rungate-cli]', 'oidc.humanClients', /name each client once/],
    ['an empty client id', ', humanClients: [""]', 'oidc.humanClients[0]', /.+/],
    ['a single string instead of a list', ', humanClients: rungate-cli', 'oidc.humanClients', /.+/],
    ['a misspelt key', ', humanClient: [rungate-cli]', 'oidc', /unknown key\(s\): humanClient/],
  ])('refuses %s', (_case, extra, key, message) => {
    expect(problems(withOidc(extra))).toContainEqual({ key, message: expect.stringMatching(message) });
  });
});
