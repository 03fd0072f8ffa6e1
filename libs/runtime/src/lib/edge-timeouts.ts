import type { Server } from 'node:http';
import type { RungateConfig } from '@rungate/config';

/** Node checks its request timeouts only this often (its default is 30 s, which would stretch a 10 s limit to 40). */
const CHECK_EVERY_MS = 1000;

/**
 * Bounds how long a client may take to send a request (gateway.headersTimeout,
 * gateway.requestTimeout), on every HTTP listener Rungate starts: a client that dribbles its
 * headers or body is answered 408 and disconnected instead of holding a socket for Node's
 * default five minutes. Call before `listen` (the check interval is read then); later calls
 * (config reloads) change the limits of the running server.
 */
export function applyEdgeTimeouts(server: Server, gateway: RungateConfig['gateway']): void {
  server.headersTimeout = gateway.headersTimeout;
  server.requestTimeout = gateway.requestTimeout;
  // An option of createServer that Node reads when the server starts listening; not in its types as a property.
  if (!server.listening) (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(CHECK_EVERY_MS, gateway.headersTimeout);
}
