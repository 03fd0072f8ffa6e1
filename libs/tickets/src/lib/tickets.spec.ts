import { sign } from 'node:crypto';
import { RungateError, type RunTicketClaims } from '@rungate/contracts';
import {
  IssuedTickets,
  assertBodyMatches,
  generateTicketKeyPair,
  prepareTicket,
  sha256Hex,
  signTicket,
  signingKeyFromPem,
  verifyKeyFromPem,
  verifyTicket,
} from './tickets';

const body = "SELECT 1 WHERE 'a' = 'a'";
const now = 1_800_000_000_000;

function claims(overrides: Partial<RunTicketClaims> = {}): RunTicketClaims {
  const iat = Math.floor(now / 1000);
  return {
    v: 1,
    runId: 'run-1',
    iat,
    exp: iat + 30,
    identity: { user: 'alice@example.com', groups: ['engineering'], agent: 'claude-code', tokenId: 't1' },
    runbook: { repository: 'demo', path: 'postgres/get_user.runbook.sql', commit: 'abc', sha256: 'def' },
    bodySha256: sha256Hex(body),
    connection: { name: 'db', type: 'postgres' },
    params: { id: '1' },
    env: {},
    limits: { timeoutMs: 30000, maxRows: 100, maxBytes: 1000 },
    readOnly: true,
    dryRun: false,
    ...overrides,
  };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof RungateError ? error.code : 'UNTYPED';
  }
  return undefined;
}

describe('run tickets', () => {
  const pair = generateTicketKeyPair();
  const signing = signingKeyFromPem(pair.privatePem);
  const verifying = verifyKeyFromPem(pair.publicPem);

  it('round-trips claims signed by policy', () => {
    const token = signTicket(claims(), signing);
    expect(verifyTicket(token, [verifying], now)).toEqual(claims());
  });

  it('accepts tickets from either key during rotation', () => {
    const next = generateTicketKeyPair();
    const token = signTicket(claims(), signingKeyFromPem(next.privatePem));
    expect(verifyTicket(token, [verifying, verifyKeyFromPem(next.publicPem)], now).runId).toBe('run-1');
  });

  it('refuses a ticket forged with another key', () => {
    const forger = signingKeyFromPem(generateTicketKeyPair().privatePem);
    const forged = signTicket(claims(), { ...forger, kid: signing.kid });
    expect(codeOf(() => verifyTicket(forged, [verifying], now))).toBe('TICKET_INVALID');
  });

  it('refuses an expired ticket', () => {
    const token = signTicket(claims(), signing);
    expect(codeOf(() => verifyTicket(token, [verifying], now + 31_000))).toBe('TICKET_EXPIRED');
  });

  it('refuses a ticket whose claims were altered after signing', () => {
    const [header, , signature] = signTicket(claims(), signing).split('.');
    const payload = Buffer.from(JSON.stringify(claims({ params: { id: '2' } }))).toString('base64url');
    expect(codeOf(() => verifyTicket(`${header}.${payload}.${signature}`, [verifying], now))).toBe('TICKET_INVALID');
  });

  it('refuses a validly signed ticket carrying a claim this build does not know, at any depth', () => {
    // What a newer policy would sign: a condition (say, a future output stage) an older
    // executor could not apply. Dropping it would run the body without the condition.
    const signedWith = (payload: object) => {
      const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'rungate-ticket+jws', kid: signing.kid })).toString('base64url');
      const body64 = Buffer.from(JSON.stringify(payload)).toString('base64url');
      const signature = sign(null, Buffer.from(`${header}.${body64}`), signing.privateKey).toString('base64url');
      return `${header}.${body64}.${signature}`;
    };
    expect(verifyTicket(signedWith(claims()), [verifying], now).runId).toBe('run-1');
    expect(codeOf(() => verifyTicket(signedWith({ ...claims(), redactOutput: 'strict' }), [verifying], now))).toBe('TICKET_INVALID');
    const base = claims();
    expect(codeOf(() => verifyTicket(signedWith({ ...base, limits: { ...base.limits, maxCpuMs: 5 } }), [verifying], now))).toBe('TICKET_INVALID');
    expect(codeOf(() => verifyTicket(signedWith({ ...base, identity: { ...base.identity, impersonating: 'bob' } }), [verifying], now))).toBe('TICKET_INVALID');
  });

  it('names a runbook or an exploration, exactly one; an exploration is v2, read-only and no dry run', () => {
    const signedWith = (payload: object) => {
      const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'rungate-ticket+jws', kid: signing.kid })).toString('base64url');
      const body64 = Buffer.from(JSON.stringify(payload)).toString('base64url');
      const signature = sign(null, Buffer.from(`${header}.${body64}`), signing.privateKey).toString('base64url');
      return `${header}.${body64}.${signature}`;
    };
    const { runbook: _runbook, ...withoutRunbook } = claims();
    const explore = { tool: 'explore_sql', session: `ses_${'a'.repeat(24)}` };
    expect(verifyTicket(signedWith({ ...withoutRunbook, v: 2, explore }), [verifying], now).explore).toEqual(explore);
    expect(codeOf(() => verifyTicket(signedWith(withoutRunbook), [verifying], now))).toBe('TICKET_INVALID');
    expect(codeOf(() => verifyTicket(signedWith({ ...claims(), v: 2, explore }), [verifying], now))).toBe('TICKET_INVALID');
    expect(codeOf(() => verifyTicket(signedWith({ ...withoutRunbook, v: 1, explore }), [verifying], now))).toBe('TICKET_INVALID');
    expect(codeOf(() => verifyTicket(signedWith({ ...withoutRunbook, v: 2, readOnly: false, explore }), [verifying], now))).toBe('TICKET_INVALID');
    expect(codeOf(() => verifyTicket(signedWith({ ...withoutRunbook, v: 2, explore: { ...explore, write: true } }), [verifying], now))).toBe('TICKET_INVALID');
  });

  it('refuses garbage and unknown algorithms', () => {
    expect(codeOf(() => verifyTicket('not-a-ticket', [verifying], now))).toBe('TICKET_INVALID');
    const none = `${Buffer.from('{"alg":"none","typ":"rungate-ticket+jws"}').toString('base64url')}.e30.`;
    expect(codeOf(() => verifyTicket(none, [verifying], now))).toBe('TICKET_INVALID');
  });

  it('knows a prepared ticket\'s length before signing it', () => {
    for (const overrides of [{}, { params: { id: 'x'.repeat(5000) } }, { identity: { user: 'ü@example.com', groups: Array.from({ length: 50 }, (_, i) => `g${i}`) } }]) {
      const prepared = prepareTicket(claims(overrides), signing);
      const ticket = prepared.sign();
      expect(ticket).toHaveLength(prepared.length);
      expect(verifyTicket(ticket, [verifying], now)).toEqual(claims(overrides));
    }
  });

  it('signs what policy built without parsing it: the executor refuses claims policy got wrong', () => {
    // signTicket trusts its caller's typed claims; verifyTicket is where they are checked.
    const wrong = [
      { ...claims(), approvedBy: 'bob' },
      { ...claims(), limits: { timeoutMs: -1, maxRows: 100, maxBytes: 1000 } },
      { ...claims(), params: { id: 1 } },
      { ...claims(), runbook: undefined },
      { ...claims(), v: 3 },
    ] as unknown as RunTicketClaims[];
    for (const claim of wrong) expect(codeOf(() => verifyTicket(signTicket(claim, signing), [verifying], now))).toBe('TICKET_INVALID');
  });

  it('never signs a ticket that lives longer than 60 seconds', () => {
    expect(() => signTicket(claims({ exp: Math.floor(now / 1000) + 120 }), signing)).toThrow(/60s/);
  });

  it('refuses a body that differs from the authorized hash', () => {
    expect(() => assertBodyMatches(claims(), body)).not.toThrow();
    expect(codeOf(() => assertBodyMatches(claims(), `${body}; DROP TABLE users`))).toBe('BODY_MISMATCH');
  });

  describe('a ticket this process signed (IssuedTickets, ADR 25)', () => {
    /** A ticket as it would be with its signature replaced: the check would refuse it. */
    const badlySigned = (token: string) => `${token.split('.').slice(0, 2).join('.')}.${Buffer.alloc(64, 7).toString('base64url')}`;

    it('is spared its signature check once, then verified as any ticket', () => {
      const issued = new IssuedTickets();
      const token = badlySigned(signTicket(claims(), signing));
      issued.add(token, claims(), now);
      // The signature is not what let it through: it would not verify.
      expect(verifyTicket(token, [verifying], now, issued)).toEqual(claims());
      expect(codeOf(() => verifyTicket(token, [verifying], now, issued))).toBe('TICKET_INVALID');
      expect(issued.size).toBe(0);
    });

    it('is checked for everything else: a current verify key, expiry, the claims', () => {
      const issued = new IssuedTickets();
      const stranger = signingKeyFromPem(generateTicketKeyPair().privatePem);
      const unknownKey = signTicket(claims(), stranger);
      issued.add(unknownKey, claims(), now);
      expect(codeOf(() => verifyTicket(unknownKey, [verifying], now, issued))).toBe('TICKET_INVALID');
      const token = signTicket(claims(), signing);
      issued.add(token, claims(), now);
      expect(codeOf(() => verifyTicket(token, [verifying], now + 31_000, issued))).toBe('TICKET_EXPIRED');
      const unknownClaim = signTicket({ ...claims(), extra: true } as RunTicketClaims, signing);
      issued.add(unknownClaim, claims(), now);
      expect(codeOf(() => verifyTicket(unknownClaim, [verifying], now, issued))).toBe('TICKET_INVALID');
    });

    it('leaves every other ticket to its signature: another string, one never added', () => {
      const issued = new IssuedTickets();
      const token = signTicket(claims(), signing);
      issued.add(token, claims(), now);
      expect(codeOf(() => verifyTicket(badlySigned(token), [verifying], now, issued))).toBe('TICKET_INVALID');
      expect(verifyTicket(token, [verifying], now, issued).runId).toBe('run-1');
    });

    it('forgets a ticket once it expired, and holds at most 100,000', () => {
      const issued = new IssuedTickets();
      issued.add('old', { exp: Math.floor(now / 1000) }, now);
      expect(issued.take('old', now + 5_000)).toBe(false);
      issued.add('expiring', { exp: Math.floor(now / 1000) }, now);
      issued.add('fresh', { exp: Math.floor(now / 1000) + 30 }, now + 5_000);
      expect(issued.size).toBe(1);
      for (let i = 0; i < 100_005; i++) issued.add(`t${i}`, { exp: Math.floor(now / 1000) + 30 }, now);
      expect(issued.size).toBe(100_000);
      expect(issued.take('fresh', now)).toBe(false);
      expect(issued.take('t100004', now)).toBe(true);
    });
  });
});
