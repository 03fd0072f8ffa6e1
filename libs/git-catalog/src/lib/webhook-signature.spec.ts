import { createHmac } from 'node:crypto';
import { signWebhookBody, verifyWebhook } from './webhook-signature';

const secret = 'hook-secret';
const body = Buffer.from('{"ref":"refs/heads/main","after":"abc"}');
const hex = createHmac('sha256', secret).update(body).digest('hex');

describe('verifyWebhook', () => {
  it('accepts GitHub’s X-Hub-Signature-256', () => {
    expect(verifyWebhook({ 'X-Hub-Signature-256': `sha256=${hex}` }, body, secret)).toEqual({ ok: true, scheme: 'x-hub-signature-256' });
    expect(signWebhookBody(body, secret)).toBe(`sha256=${hex}`);
  });

  it('accepts Gitea, Forgejo and Gogs signatures (bare hex)', () => {
    expect(verifyWebhook({ 'x-gitea-signature': hex }, body, secret)).toMatchObject({ ok: true, scheme: 'x-gitea-signature' });
    expect(verifyWebhook({ 'x-forgejo-signature': hex.toUpperCase() }, body, secret)).toMatchObject({ ok: true });
    expect(verifyWebhook({ 'x-gogs-signature': hex }, body, secret)).toMatchObject({ ok: true });
  });

  it('accepts Bitbucket Data Center’s X-Hub-Signature with sha256 only', () => {
    expect(verifyWebhook({ 'x-hub-signature': `sha256=${hex}` }, body, secret)).toMatchObject({ ok: true, scheme: 'x-hub-signature' });
    const sha1 = createHmac('sha1', secret).update(body).digest('hex');
    expect(verifyWebhook({ 'x-hub-signature': `sha1=${sha1}` }, body, secret)).toEqual({ ok: false, reason: 'x-hub-signature must be sha256=<hex>' });
  });

  it('accepts GitLab’s X-Gitlab-Token when it equals the secret', () => {
    expect(verifyWebhook({ 'x-gitlab-token': secret }, body, secret)).toMatchObject({ ok: true, scheme: 'x-gitlab-token' });
    expect(verifyWebhook({ 'x-gitlab-token': 'hook-secreT' }, body, secret)).toMatchObject({ ok: false });
  });

  it('refuses a signature over a different body, with a different secret, or malformed', () => {
    expect(verifyWebhook({ 'x-hub-signature-256': `sha256=${hex}` }, Buffer.from(`${body.toString()} `), secret)).toMatchObject({ ok: false });
    expect(verifyWebhook({ 'x-hub-signature-256': signWebhookBody(body, 'other') }, body, secret)).toMatchObject({ ok: false });
    expect(verifyWebhook({ 'x-hub-signature-256': `sha256=${hex.slice(0, 63)}` }, body, secret)).toMatchObject({ ok: false });
    expect(verifyWebhook({ 'x-hub-signature-256': `sha256=${hex}00` }, body, secret)).toMatchObject({ ok: false });
    expect(verifyWebhook({ 'x-hub-signature-256': hex }, body, secret)).toMatchObject({ ok: false });
    expect(verifyWebhook({ 'x-hub-signature-256': [`sha256=${hex}`, `sha256=${hex}`] }, body, secret)).toMatchObject({ ok: false });
  });

  it('refuses an unsigned delivery', () => {
    expect(verifyWebhook({ 'content-type': 'application/json' }, body, secret)).toMatchObject({ ok: false, reason: expect.stringContaining('no signature') });
  });

  it('judges by the strongest header present: a valid token does not excuse a bad HMAC', () => {
    expect(verifyWebhook({ 'x-hub-signature-256': 'sha256=00', 'x-gitlab-token': secret }, body, secret)).toMatchObject({ ok: false });
  });
});
