import { Controller, Get, Inject } from '@nestjs/common';
import type { RungateConfig } from '@rungate/config';
import { CONFIG, type ConfigHolder } from '@rungate/runtime';

export const METADATA_PATH = '/.well-known/oauth-protected-resource';

export function gatewayBaseUrl(config: RungateConfig): string {
  return (config.gateway.publicUrl ?? `http://${config.gateway.host}:${config.gateway.port}`).replace(/\/$/, '');
}

/** The MCP endpoint is the protected resource; its metadata lives at the RFC 9728 path for it. */
export function resourceMetadataUrl(config: RungateConfig): string {
  return `${gatewayBaseUrl(config)}${METADATA_PATH}/mcp`;
}

/** OAuth 2.1 protected-resource metadata (RFC 9728), as MCP clients discover it. */
@Controller()
export class ProtectedResourceController {
  constructor(@Inject(CONFIG) private readonly config: ConfigHolder) {}

  @Get([METADATA_PATH, `${METADATA_PATH}/mcp`])
  metadata(): Record<string, unknown> {
    const config = this.config.current;
    return {
      resource: `${gatewayBaseUrl(config)}/mcp`,
      authorization_servers: config.oidc ? [config.oidc.issuer] : [],
      bearer_methods_supported: ['header'],
      resource_name: 'Rungate',
      ...(config.oidc?.scopes.length ? { scopes_supported: config.oidc.scopes } : {}),
    };
  }
}
