import { RungateError } from '@rungate/contracts';
import { parseConfig } from '@rungate/config';
import { authenticateStaticToken, tokenSha256 } from './identity';

const TOKEN = 'rg_static-token-for-the-spec';

function config(expiresAt?: string) {
  return parseConfig(`
repositories: [{ name: demo, url: /tmp/runbooks }]
users: [{ name: alice@example.com, groups: [engineering] }]
tokens:
  - sha256: "${tokenSha256(TOKEN)}"
    user: alice@example.com
    agent: ci-bot
${expiresAt ? `    expiresAt: ${expiresAt}` : ''}
`);
}

function refusal(run: () => unknown): RungateError | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return error as RungateError;
  }
}

describe('static tokens from rungate.yaml', () => {
  it('authenticate as their user, with the user\'s groups, when they carry no expiry', () => {
    expect(authenticateStaticToken(config(), TOKEN)).toMatchObject({ user: 'alice@example.com', groups: ['engineering'], agent: 'ci-bot' });
  });

  it('work until expiresAt (written unquoted in YAML), and are refused from that instant as expired', () => {
    const expiring = config('2027-01-31T00:00:00Z');
    const instant = Date.parse('2027-01-31T00:00:00Z');
    expect(authenticateStaticToken(expiring, TOKEN, instant - 1)).toMatchObject({ agent: 'ci-bot' });
    const refused = refusal(() => authenticateStaticToken(expiring, TOKEN, instant));
    expect(refused).toBeInstanceOf(RungateError);
    expect(refused).toMatchObject({ code: 'UNAUTHENTICATED', message: 'token expired' });
  });

  it('honour a time zone offset', () => {
    const expiring = config('"2027-01-31T02:00:00+02:00"');
    expect(refusal(() => authenticateStaticToken(expiring, TOKEN, Date.parse('2027-01-31T00:00:00Z')))).toMatchObject({ message: 'token expired' });
  });

  it('are an agent\'s unless marked human: true; a human token may leave out the agent (ADR 18 §3)', () => {
    expect(authenticateStaticToken(config(), TOKEN).human).toBeUndefined();
    const human = parseConfig(`
repositories: [{ name: demo, url: /tmp/runbooks }]
users: [{ name: lead@example.com, groups: [sre-leads] }]
tokens:
  - { sha256: "${tokenSha256('rg_lead')}", user: lead@example.com, human: true }
  - { sha256: "${tokenSha256('rg_lead_cli')}", user: lead@example.com, agent: cli, human: true }
  - { sha256: "${tokenSha256('rg_lead_bot')}", user: lead@example.com, agent: lead-bot, human: false }
`);
    const lead = authenticateStaticToken(human, 'rg_lead');
    expect(lead).toMatchObject({ user: 'lead@example.com', groups: ['sre-leads'], human: true });
    expect(lead).not.toHaveProperty('agent');
    expect(authenticateStaticToken(human, 'rg_lead_cli')).toMatchObject({ agent: 'cli', human: true });
    expect(authenticateStaticToken(human, 'rg_lead_bot')).not.toHaveProperty('human');
  });
});
