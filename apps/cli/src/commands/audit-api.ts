import { readFileSync } from 'node:fs';
import { readEnvironment } from '@rungate/config';
import { ERROR_EDGES, ErrorCode } from '@rungate/contracts';
import { z } from 'zod';
import { UsageError } from '../cli/values';

/** One page of `GET /audit/events`. */
export const AuditPage = z.object({
  events: z.array(z.object({ seq: z.number(), hash: z.string(), valid: z.boolean(), event: z.record(z.string(), z.unknown()) })),
  nextCursor: z.string().optional(),
});

/**
 * How the CLI reaches a Rungate HTTP API — the audit query API (`--url`, RUNGATE_AUDIT_URL) or
 * the gateway's /v1/runs (`--url`, RUNGATE_GATEWAY_URL) — and the token it sends
 * (`--token-file`, else RUNGATE_TOKEN).
 */
export interface AuditApiOptions {
  url: string;
  tokenFile?: string;
}

/** A failure talking to a Rungate HTTP API, with the exit code it maps to. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    /** Worth retrying while following (the service restarts, the network blips). */
    readonly transient = false,
  ) {
    super(message);
  }
}

export interface AuditApi {
  url: string;
  get<T extends z.ZodType>(path: string, params: URLSearchParams, reply: T): Promise<z.output<T>>;
  post<T extends z.ZodType>(path: string, body: unknown, reply: T): Promise<z.output<T>>;
}

/** The audit query API as the CLI calls it. */
export function auditApi(options: AuditApiOptions, who = 'a user in an auditor group'): AuditApi {
  return rungateApi(options, who, 'the audit service');
}

/**
 * A Rungate HTTP API as the CLI calls it: bearer from --token-file or RUNGATE_TOKEN, replies
 * validated with zod, a refusal's `{error: {code, message}}` mapped to its exit code (ERROR_EDGES).
 */
export function rungateApi(options: AuditApiOptions, who: string, service: string): AuditApi {
  const token = (options.tokenFile ? readFileSync(options.tokenFile, 'utf8') : (readEnvironment().RUNGATE_TOKEN ?? '')).trim();
  if (!token) throw new UsageError(`set RUNGATE_TOKEN (or pass --token-file) to a token of ${who}`);
  const url = options.url.replace(/\/+$/, '');
  const call = async <T extends z.ZodType>(path: string, init: RequestInit, reply: T): Promise<z.output<T>> => {
    let response: Response;
    try {
      response = await fetch(`${url}${path}`, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}`, accept: 'application/json' } });
    } catch (error) {
      throw new ApiError(`cannot reach ${service} at ${url} (${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message})`, 1, true);
    }
    const body = (await response.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
    if (!response.ok) {
      const reason = body?.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${response.status}`;
      const code = ErrorCode.safeParse(body?.error?.code);
      throw new ApiError(`${service} refused: ${reason}`, code.success ? ERROR_EDGES[code.data].exit : 1, response.status >= 500);
    }
    const parsed = reply.safeParse(body);
    if (!parsed.success) throw new ApiError(`${service} at ${url} answered something this CLI does not understand (a different Rungate version?)`, 1);
    return parsed.data;
  };
  return {
    url,
    get: (path, params, reply) => call(`${path}${params.size > 0 ? `?${params}` : ''}`, {}, reply),
    post: (path, body, reply) => call(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }, reply),
  };
}

/** Runs a command against an HTTP API; its own failures are one line on stderr and their exit code. */
export async function withApi(command: string, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    process.stderr.write(`${command}: ${error.message}\n`);
    return error.exitCode;
  }
}
