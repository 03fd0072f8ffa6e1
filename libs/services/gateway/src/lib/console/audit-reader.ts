import { ErrorCode } from '@rungate/contracts';

/** What the audit query API answered: its body, or its refusal as it gave it. */
export type AuditAnswer<T> = { ok: true; body: T } | { ok: false; code: string; message: string };

/**
 * The audit query API (the audit service's GET /audit/…), asked with the signed-in user's own
 * bearer: what the console shows of the trail is what that API lets this user read, by its
 * own checks (auditor and reviewer groups, the audit:read scope, a narrowed token's view).
 */
export class AuditReader {
  constructor(private readonly url: () => string | undefined) {}

  get configured(): boolean {
    return this.url() !== undefined;
  }

  get<T>(bearer: string, path: string, params?: URLSearchParams): Promise<AuditAnswer<T>> {
    const query = params && params.size > 0 ? `?${params}` : '';
    return this.call<T>(bearer, `${path}${query}`, { method: 'GET' });
  }

  post<T>(bearer: string, path: string, body: unknown): Promise<AuditAnswer<T>> {
    return this.call<T>(bearer, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  private async call<T>(bearer: string, path: string, init: RequestInit): Promise<AuditAnswer<T>> {
    const base = this.url();
    if (!base) return { ok: false, code: 'SERVICE_UNAVAILABLE', message: 'the console does not know where the audit query API is: set console.auditUrl' };
    let response: Response;
    try {
      response = await fetch(`${base.replace(/\/+$/, '')}${path}`, {
        ...init,
        headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${bearer}`, accept: 'application/json' },
        signal: AbortSignal.timeout(15_000),
      });
    } catch {
      return { ok: false, code: 'SERVICE_UNAVAILABLE', message: 'the audit query API cannot be reached right now' };
    }
    const body = (await response.json().catch(() => undefined)) as { error?: { code?: unknown; message?: unknown } } | undefined;
    if (response.ok && body !== undefined) return { ok: true, body: body as T };
    const code = ErrorCode.safeParse(body?.error?.code);
    return {
      ok: false,
      code: code.success ? code.data : 'INTERNAL',
      message: typeof body?.error?.message === 'string' ? body.error.message : `the audit query API answered HTTP ${response.status}`,
    };
  }
}
