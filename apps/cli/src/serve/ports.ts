import type { RungateConfig } from '@rungate/config';
import { UsageError } from '../cli/values';

/** How far above the MCP port `--port P` puts the audit query API: 8080 → 8082, the distributed defaults. */
export const AUDIT_PORT_OFFSET = 2;

/** Where serve listens. Flags beat rungate.yaml's `gateway.host`, `gateway.port` and `audit.port`. */
export interface ListenFlags {
  host?: string;
  /** The MCP endpoint's port; moves the audit API to port + 2 (0: free ports for both). */
  port?: number;
  auditPort?: number;
}

export interface ListenPlan {
  host: string;
  gateway: number;
  audit: number;
}

/**
 * The ports of one serve: `--port P` moves all of them (MCP on P, the audit API on P+2; P = 0
 * gives each a free port), so two serves on one machine need one flag each, not two. The
 * demo database always takes a free loopback port; /healthz, /readyz and /metrics are served
 * on the MCP port.
 */
export function listenPlan(config: RungateConfig, flags: ListenFlags): ListenPlan {
  const host = flags.host ?? config.gateway.host;
  const gateway = flags.port ?? config.gateway.port;
  const audit = flags.auditPort ?? (flags.port === undefined ? config.audit.port : flags.port === 0 ? 0 : flags.port + AUDIT_PORT_OFFSET);
  if (audit > 65535) throw new UsageError(`--port ${gateway} leaves no port for the audit API (${gateway}+${AUDIT_PORT_OFFSET}); pass --audit-port too`);
  if (audit !== 0 && audit === gateway) throw new UsageError(`the MCP endpoint and the audit API cannot share port ${audit}`);
  return { host, gateway, audit };
}
