import { RungateConfig } from '@rungate/config';
import { gatewayOrigin, resourceMetadataUrl } from './protected-resource';

function config(gateway: Record<string, unknown> = {}): RungateConfig {
  return RungateConfig.parse({ repositories: [{ name: 'demo', url: '/tmp/runbooks' }], gateway: { host: '0.0.0.0', port: 8080, ...gateway } });
}

describe('the origin the gateway advertises as its OAuth protected resource', () => {
  it('is the address and port the request really arrived at, not the configured port', () => {
    expect(gatewayOrigin(config(), { localAddress: '127.0.0.1', localPort: 41234 })).toBe('http://127.0.0.1:41234');
    expect(gatewayOrigin(config(), { localAddress: '::ffff:10.0.0.7', localPort: 8080 })).toBe('http://10.0.0.7:8080');
    expect(gatewayOrigin(config(), { localAddress: '::1', localPort: 9000 })).toBe('http://[::1]:9000');
    expect(resourceMetadataUrl(config(), { localAddress: '127.0.0.1', localPort: 41234 })).toBe('http://127.0.0.1:41234/.well-known/oauth-protected-resource/mcp');
  });

  it('is gateway.publicUrl when configured, whatever the connection says', () => {
    const behindProxy = config({ publicUrl: 'https://rungate.example.com/' });
    expect(gatewayOrigin(behindProxy, { localAddress: '10.0.0.7', localPort: 8080 })).toBe('https://rungate.example.com');
    expect(resourceMetadataUrl(behindProxy, { localAddress: '10.0.0.7', localPort: 8080 })).toBe('https://rungate.example.com/.well-known/oauth-protected-resource/mcp');
  });
});
