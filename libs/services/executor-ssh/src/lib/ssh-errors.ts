import { RungateError } from '@rungate/contracts';

export interface SshFailureContext {
  connection: string;
  /** `host:port`: enough to find the server, nothing to log in with. */
  address: string;
  user: string;
  hostKeyType: string;
  /** The server presented a host key other than the pinned one. */
  hostKeyRejected: boolean;
}

/** Socket error codes and what an operator should read for them. */
const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  EPIPE: 'connection closed by the server',
};

/**
 * Maps what ssh2 reports while connecting to a TARGET_UNAVAILABLE an agent can act on. Every
 * message names the connection and says nothing ran; none carries key material, a password
 * or ssh2's own text beyond a socket error code.
 */
export function describeSshFailure(error: Error & { level?: string; code?: unknown }, context: SshFailureContext): RungateError {
  const prefix = `connection ${context.connection} (${context.address})`;
  const nothingRan = 'nothing was executed';
  if (context.hostKeyRejected) {
    return new RungateError(
      'TARGET_UNAVAILABLE',
      `${prefix}: the server's host key is not the one pinned in hostKey, so Rungate refused to connect; ${nothingRan}. ` +
        'If the host key was changed on purpose, an operator must update hostKey in rungate.yaml; otherwise someone may be impersonating the host.',
    );
  }
  const message = error.message ?? '';
  if (/no matching host key format/.test(message)) {
    return new RungateError('TARGET_UNAVAILABLE', `${prefix}: the server has no ${context.hostKeyType} host key, the type pinned in hostKey, so it cannot be verified; ${nothingRan}`);
  }
  if (error.level === 'client-authentication') {
    return new RungateError('TARGET_UNAVAILABLE', `${prefix}: the server refused to authenticate user ${context.user} with the configured credentials; ${nothingRan}`);
  }
  if (error.level === 'client-timeout') {
    return new RungateError('TARGET_UNAVAILABLE', `${prefix}: the SSH server did not answer in time; ${nothingRan}`);
  }
  if (error.level === 'client-socket' || error.level === 'client-dns') {
    const code = typeof error.code === 'string' ? error.code : undefined;
    const reason = (code && SOCKET_ERRORS[code]) ?? (code ? `socket error ${code}` : 'the connection failed');
    return new RungateError('TARGET_UNAVAILABLE', `${prefix}: ${reason}; ${nothingRan}`);
  }
  // Only ssh2's fixed negotiation messages are quoted; others can carry stack traces.
  const negotiation = /^Handshake failed: (no matching [\w >-]+)$/.exec(message);
  if (negotiation) return new RungateError('TARGET_UNAVAILABLE', `${prefix}: the SSH handshake failed: ${negotiation[1]}; ${nothingRan}`);
  if (error.level === 'handshake' || error.level === 'protocol') {
    return new RungateError('TARGET_UNAVAILABLE', `${prefix}: the SSH handshake failed; ${nothingRan}`);
  }
  return new RungateError('TARGET_UNAVAILABLE', `${prefix}: the SSH connection failed or closed; ${nothingRan}`);
}
