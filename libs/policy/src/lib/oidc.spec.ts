import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OidcConfig } from '@rungate/config';
import { RungateError } from '@rungate/contracts';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { OidcVerifier } from './oidc';

describe('OIDC access tokens', () => {
  let server: Server;
  let issuer: string;
  let key: CryptoKey;
  let verifier: OidcVerifier;
  const audience = 'https://rungate.example.com/mcp';

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    key = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
      else if (req.url === '/jwks') res.end(JSON.stringify({ keys: [jwk] }));
      else res.writeHead(404).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    verifier = new OidcVerifier(OidcConfig.parse({ issuer, audience }));
  });

  afterAll(() => new Promise((resolve) => server.close(resolve)));

  function token(claims: Record<string, unknown> = {}, options: { exp?: string | number; aud?: string; iss?: string } = {}) {
    return new SignJWT({ email: 'alice@example.com', groups: ['engineering'], client_id: 'claude-code', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setSubject('u-1')
      .setIssuer(options.iss ?? issuer)
      .setAudience(options.aud ?? audience)
      .setIssuedAt()
      .setJti('j-1')
      .setExpirationTime(options.exp ?? '5m')
      .sign(key);
  }

  async function reason(promise: Promise<unknown>): Promise<string> {
    try {
      await promise;
    } catch (error) {
      expect(error).toBeInstanceOf(RungateError);
      expect((error as RungateError).code).toBe('UNAUTHENTICATED');
      return (error as RungateError).message;
    }
    throw new Error('expected a refusal');
  }

  it('accepts a valid token: the human from email, groups from the claim, the agent from the client id', async () => {
    const { identity, expiresAt } = await verifier.verify(await token());
    expect(identity).toEqual({ user: 'alice@example.com', groups: ['engineering'], agent: 'claude-code', tokenId: 'jwt:j-1', scope: {}, scopes: [] });
    expect(expiresAt).toBeGreaterThan(Date.now());
  });

  it('is a human acting directly only for a client listed as human-facing (oidc.humanClients); any other client is an agent', async () => {
    expect((await verifier.verify(await token())).identity).not.toHaveProperty('human');
    const humans = new OidcVerifier(OidcConfig.parse({ issuer, audience, humanClients: ['rungate-cli'] }));
    expect((await humans.verify(await token({ client_id: 'rungate-cli' }))).identity).toMatchObject({ agent: 'rungate-cli', human: true });
    expect((await humans.verify(await token())).identity).not.toHaveProperty('human');
    // The client is what agentClaims read: azp when the token has no client_id.
    expect((await humans.verify(await token({ client_id: undefined, azp: 'rungate-cli' }))).identity).toMatchObject({ human: true });
    // The list the verifier is given (policy adds the console's own client) is what counts.
    const console = new OidcVerifier(OidcConfig.parse({ issuer, audience }), ['rungate-console']);
    expect((await console.verify(await token({ client_id: 'rungate-console' }))).identity).toMatchObject({ human: true });
  });

  it('grants audit:read only when the issuer put it in the scope claim (space-separated, or an scp list)', async () => {
    expect((await verifier.verify(await token({ scope: 'openid audit:read profile' }))).identity.scopes).toEqual(['audit:read']);
    expect((await verifier.verify(await token({ scp: ['audit:read'] }))).identity.scopes).toEqual(['audit:read']);
    expect((await verifier.verify(await token({ scope: 'audit:readwrite audit' }))).identity.scopes).toEqual([]);
  });

  it('refuses expired, wrong-audience, wrong-issuer and malformed tokens with reasons safe to show', async () => {
    expect(await reason(verifier.verify(await token({}, { exp: Math.floor(Date.now() / 1000) - 60 })))).toBe('token expired');
    expect(await reason(verifier.verify(await token({}, { aud: 'https://other.example.com' })))).toBe('token audience is not this gateway');
    expect(await reason(verifier.verify(await token({}, { iss: 'https://evil.example.com' })))).toBe('token issuer is not trusted');
    expect(await reason(verifier.verify('abc.def.ghi'))).toMatch(/malformed|could not be verified/);
  });

  it('refuses tokens signed with an algorithm outside the allow-list or by an unknown key', async () => {
    const hs = await new SignJWT({ email: 'x' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('a-shared-secret-of-enough-length!!'));
    expect(await reason(verifier.verify(hs))).toBe('token signing algorithm is not allowed');
    const other = await generateKeyPair('ES256');
    const foreign = await new SignJWT({ email: 'x' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k2' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setExpirationTime('5m')
      .sign(other.privateKey);
    expect(await reason(verifier.verify(foreign))).toBe('token signed by an unknown key');
  });
});
