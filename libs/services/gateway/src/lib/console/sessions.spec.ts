import { ConsoleSessions, csrfMatches } from './sessions';
import { html } from './html';

describe('ConsoleSessions', () => {
  let now = 1_000_000;
  const sessions = () => new ConsoleSessions(() => ({ sessionTtl: 60_000, loginLinkTtl: 10_000 }), () => now);

  beforeEach(() => {
    now = 1_000_000;
  });

  it('exchanges a login code for a session once; a second try with the same code fails', () => {
    const store = sessions();
    const { code } = store.issueLoginCode('rg_bearer', 'ada');
    const first = store.redeem(code);
    expect(first?.session).toMatchObject({ bearer: 'rg_bearer', user: 'ada' });
    expect(store.get(first?.id)).toBe(first?.session);
    expect(store.redeem(code)).toBeUndefined();
  });

  it('refuses an expired code, and spends it all the same', () => {
    const store = sessions();
    const { code } = store.issueLoginCode('rg_bearer', 'ada');
    now += 10_000;
    expect(store.redeem(code)).toBeUndefined();
    now -= 10_000;
    expect(store.redeem(code)).toBeUndefined();
  });

  it('ends a session at its TTL, and when ended', () => {
    const store = sessions();
    const opened = store.open('rg_bearer', 'ada');
    now += 59_999;
    expect(store.get(opened.id)).toBeDefined();
    now += 1;
    expect(store.get(opened.id)).toBeUndefined();
    const again = store.open('rg_bearer', 'ada');
    store.end(again.id);
    expect(store.get(again.id)).toBeUndefined();
    expect(store.get('not-a-session')).toBeUndefined();
  });

  it('matches only the session\'s own CSRF token', () => {
    const { session } = sessions().open('rg_bearer', 'ada');
    expect(csrfMatches(session, session.csrf)).toBe(true);
    expect(csrfMatches(session, undefined)).toBe(false);
    expect(csrfMatches(session, `${session.csrf}x`)).toBe(false);
    expect(csrfMatches(session, session.csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')))).toBe(false);
  });
});

describe('html', () => {
  it('escapes every interpolated value but nested templates', () => {
    const name = `<script>alert("x")</script>&'`;
    expect(html`<p title="${name}">${name}${html`<b>${name}</b>`}${[html`<i>1</i>`, '<2>']}${undefined}${false}</p>`.text).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;<b>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</b><i>1</i>&lt;2&gt;</p>',
    );
  });
});
