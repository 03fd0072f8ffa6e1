import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type WebhookHeaders = Record<string, string | string[] | undefined>;

export type WebhookScheme = 'x-hub-signature-256' | 'x-hub-signature' | 'x-gitea-signature' | 'x-forgejo-signature' | 'x-gogs-signature' | 'x-gitlab-token';

export type WebhookVerdict = { ok: true; scheme: WebhookScheme } | { ok: false; reason: string };

/**
 * Header schemes in order of preference; a delivery is judged by the first one it carries.
 * - GitHub, Gitea ≥1.19, Forgejo: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
 * - Bitbucket Data Center: `X-Hub-Signature: sha256=<hex>` (SHA-1 signatures are refused)
 * - Gitea, Forgejo, Gogs: `X-Gitea-Signature` / `X-Forgejo-Signature` / `X-Gogs-Signature: <hex>`
 * - GitLab: `X-Gitlab-Token: <the secret itself>`; GitLab signs nothing, so the shared secret
 *   is compared (in constant time) — weaker than an HMAC, acceptable only over TLS.
 */
const SCHEMES: { header: WebhookScheme; kind: 'hmac-prefixed' | 'hmac-hex' | 'token' }[] = [
  { header: 'x-hub-signature-256', kind: 'hmac-prefixed' },
  { header: 'x-gitea-signature', kind: 'hmac-hex' },
  { header: 'x-forgejo-signature', kind: 'hmac-hex' },
  { header: 'x-gogs-signature', kind: 'hmac-hex' },
  { header: 'x-hub-signature', kind: 'hmac-prefixed' },
  { header: 'x-gitlab-token', kind: 'token' },
];

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
}

function sameDigest(expected: Buffer, providedHex: string): boolean {
  if (!/^[0-9a-f]{64}$/i.test(providedHex)) return false;
  return timingSafeEqual(expected, Buffer.from(providedHex, 'hex'));
}

/** Checks a webhook delivery against the repository's secret over the raw request body. */
export function verifyWebhook(headers: WebhookHeaders, body: Buffer, secret: string): WebhookVerdict {
  const lower: WebhookHeaders = {};
  for (const [key, value] of Object.entries(headers)) lower[key.toLowerCase()] = value;
  for (const { header, kind } of SCHEMES) {
    if (lower[header] === undefined) continue;
    const value = single(lower[header])?.trim();
    if (value === undefined) return { ok: false, reason: `${header} appears more than once` };
    if (kind === 'token') {
      const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
      return timingSafeEqual(digest(value), digest(secret)) ? { ok: true, scheme: header } : { ok: false, reason: `${header} does not match` };
    }
    const expected = createHmac('sha256', secret).update(body).digest();
    let hex = value;
    if (kind === 'hmac-prefixed') {
      if (!value.toLowerCase().startsWith('sha256=')) return { ok: false, reason: `${header} must be sha256=<hex>` };
      hex = value.slice('sha256='.length);
    }
    return sameDigest(expected, hex) ? { ok: true, scheme: header } : { ok: false, reason: `${header} does not match the body` };
  }
  return { ok: false, reason: 'no signature header (X-Hub-Signature-256, X-Gitea-Signature, X-Gitlab-Token, …)' };
}

/** What a git host would send: `sha256=<hex>` over the body. */
export function signWebhookBody(body: Buffer | string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
