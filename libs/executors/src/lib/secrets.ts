const REDACTED = '[REDACTED]';

/** Credentials embedded in any URL (`scheme://user:password@host`), whichever secret produced them. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]*:[^\s/@]*@/gi;

/**
 * Removes known secret values from text that may leave the process (error messages, log
 * lines, audit events). Drivers quote what they were given — a connection string, a host
 * with its user — so every message an executor emits goes through one of these.
 */
export class SecretScrubber {
  private readonly secrets: string[];

  constructor(secrets: readonly string[]) {
    const variants = new Set<string>();
    for (const secret of secrets) {
      if (secret.length < 3) continue;
      variants.add(secret);
      variants.add(encodeURIComponent(secret));
      try {
        variants.add(decodeURIComponent(secret));
      } catch {
        // Not percent-encoded: the secret itself is enough.
      }
    }
    // Longest first, so a password inside a URL never leaves the URL's other parts behind.
    this.secrets = [...variants].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
  }

  /** The secrets worth hiding in a connection URL: the whole URL, its password and its user info. */
  static forUrl(url: string): SecretScrubber {
    const secrets = [url];
    try {
      const parsed = new URL(url);
      if (parsed.password) secrets.push(parsed.password, `${parsed.username}:${parsed.password}`);
    } catch {
      // An unparsable URL is still hidden as a whole.
    }
    return new SecretScrubber(secrets);
  }

  scrub(text: string): string {
    let result = text;
    for (const secret of this.secrets) result = result.split(secret).join(REDACTED);
    return result.replace(URL_CREDENTIALS, `$1${REDACTED}@`);
  }
}
