import { isIPv6 } from 'node:net';
import { Controller, Get, Inject, Req } from '@nestjs/common';
import type { RungateConfig } from '@rungate/config';
import { CONFIG, type ConfigHolder } from '@rungate/runtime';
import type { Request } from 'express';

export const METADATA_PATH = '/.well-known/oauth-protected-resource';
/** The protected resource: the MCP endpoint. */
export const MCP_PATH = '/mcp';

/** Where a request arrived: the local end of its connection. */
export interface ArrivalAddress {
  localAddress?: string;
  localPort?: number;
}

function hostOf(address: string): string {
  // A dual-stack socket reports IPv4 clients as IPv4-mapped IPv6 addresses.
  const plain = address.startsWith('::ffff:') && !isIPv6(address.slice(7)) ? address.slice(7) : address;
  return isIPv6(plain) ? `[${plain}]` : plain;
}

/**
 * The gateway's origin as a client reaches it: `gateway.publicUrl` when configured (it wins:
 * behind a proxy, TLS terminator or port mapping only the operator knows the public address),
 * else the address and port the request's connection really arrived at — which is what
 * `--port`, `PORT` or a port of 0 made it, not what the configuration file says.
 *
 * `Host` and `X-Forwarded-*` are not consulted: any client can set them, and a proxy that does
 * not strip them would let one client's request name another origin in what the gateway
 * advertises (and what a cache in front of it keeps). An operator who runs behind a proxy says
 * so once, with publicUrl.
 */
export function gatewayOrigin(config: RungateConfig, arrival: ArrivalAddress): string {
  if (config.gateway.publicUrl) return config.gateway.publicUrl.replace(/\/+$/, '');
  if (!arrival.localAddress || arrival.localPort === undefined) return `http://${config.gateway.host}:${config.gateway.port}`;
  return `http://${hostOf(arrival.localAddress)}:${arrival.localPort}`;
}

/** The URL of the MCP endpoint's RFC 9728 metadata: the well-known path with the resource's path appended (§3.1). */
export function resourceMetadataUrl(config: RungateConfig, arrival: ArrivalAddress): string {
  return `${gatewayOrigin(config, arrival)}${METADATA_PATH}${MCP_PATH}`;
}

/** OAuth 2.1 protected-resource metadata (RFC 9728), as MCP clients discover it. */
@Controller()
export class ProtectedResourceController {
  constructor(@Inject(CONFIG) private readonly config: ConfigHolder) {}

  /**
   * RFC 9728 §3.3: the `resource` is the identifier the well-known URL was made from. The
   * path-suffixed URL (what MCP clients try first) describes the MCP endpoint; the bare one
   * describes the origin, which a client may also use as the resource for `/mcp`.
   */
  @Get([METADATA_PATH, `${METADATA_PATH}${MCP_PATH}`])
  metadata(@Req() req: Request): Record<string, unknown> {
    const config = this.config.current;
    const origin = gatewayOrigin(config, req.socket);
    return {
      resource: req.path.replace(/\/+$/, '') === METADATA_PATH ? origin : `${origin}${MCP_PATH}`,
      authorization_servers: config.oidc ? [config.oidc.issuer] : [],
      bearer_methods_supported: ['header'],
      resource_name: 'Rungate',
      ...(config.oidc?.scopes.length ? { scopes_supported: config.oidc.scopes } : {}),
    };
  }
}
