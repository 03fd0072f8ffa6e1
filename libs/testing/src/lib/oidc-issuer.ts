import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';

export interface IssuerUser {
  email: string;
  groups: string[];
}

export interface OidcIssuer {
  issuer: string;
  /** Every token request it answered, for the tests' assertions. */
  exchanges: { clientId: string; redirectUri: string; verifierMatched: boolean }[];
  close(): Promise<void>;
}

/**
 * A small OpenID Connect issuer for tests, on a free loopback port: discovery, JWKS, an
 * authorization endpoint that signs `user` in at once (no consent screen) and a token endpoint
 * that checks the code, its client, redirect URI and PKCE verifier (S256), then issues an
 * ES256 JWT access token for `audience` with the user's email, groups and the scopes asked for.
 */
export async function startOidcIssuer(options: { audience: string; user: IssuerUser; clientId: string }): Promise<OidcIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'ES256', use: 'sig' };
  const codes = new Map<string, { clientId: string; redirectUri: string; challenge: string; scope: string }>();
  const exchanges: OidcIssuer['exchanges'] = [];
  let issuer = '';
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, { issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`, code_challenge_methods_supported: ['S256'] });
    }
    if (url.pathname === '/jwks') return json(200, { keys: [jwk] });
    if (url.pathname === '/authorize') {
      const q = url.searchParams;
      if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || q.get('client_id') !== options.clientId) return json(400, { error: 'invalid_request' });
      const code = randomBytes(16).toString('base64url');
      codes.set(code, { clientId: q.get('client_id') as string, redirectUri: q.get('redirect_uri') as string, challenge: q.get('code_challenge') as string, scope: q.get('scope') ?? '' });
      const back = new URL(q.get('redirect_uri') as string);
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state') ?? '');
      return res.writeHead(302, { location: back.toString() }).end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const grant = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        const verifier = form.get('code_verifier') ?? '';
        const verifierMatched = grant !== undefined && createHash('sha256').update(verifier).digest('base64url') === grant.challenge;
        exchanges.push({ clientId: form.get('client_id') ?? '', redirectUri: form.get('redirect_uri') ?? '', verifierMatched });
        if (!grant || !verifierMatched || grant.clientId !== form.get('client_id') || grant.redirectUri !== form.get('redirect_uri')) return json(400, { error: 'invalid_grant' });
        void sign(privateKey, issuer, options, grant.scope).then((token) => json(200, { access_token: token, token_type: 'Bearer', expires_in: 600 }));
      });
      return undefined;
    }
    return json(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    exchanges,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function sign(key: CryptoKey, issuer: string, options: { audience: string; user: IssuerUser; clientId: string }, scope: string): Promise<string> {
  return new SignJWT({ email: options.user.email, groups: options.user.groups, client_id: options.clientId, scope })
    .setProtectedHeader({ alg: 'ES256', kid: 'test-key' })
    .setIssuer(issuer)
    .setAudience(options.audience)
    .setSubject(options.user.email)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(key);
}
