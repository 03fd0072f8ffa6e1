import { describeSshFailure, type SshFailureContext } from './ssh-errors';

const context: SshFailureContext = { connection: 'bastion', address: 'bastion.internal:22', user: 'ops', hostKeyType: 'ssh-ed25519', hostKeyRejected: false };

function failure(message: string, fields: { level?: string; code?: string } = {}): Error & { level?: string; code?: string } {
  return Object.assign(new Error(message), fields);
}

describe('describeSshFailure', () => {
  it('names a host key that is not the pinned one, whatever ssh2 said, and what to do', () => {
    const error = describeSshFailure(failure('Host denied (verification failed)', { level: 'handshake' }), { ...context, hostKeyRejected: true });
    expect(error.code).toBe('TARGET_UNAVAILABLE');
    expect(error.message).toMatch(/^connection bastion \(bastion\.internal:22\): the server's host key is not the one pinned in hostKey.*nothing was executed.*update hostKey in rungate\.yaml/);
  });

  it.each([
    [failure('Handshake failed: no matching host key format', { level: 'handshake' }), 'the server has no ssh-ed25519 host key, the type pinned in hostKey, so it cannot be verified'],
    [failure('All configured authentication methods failed', { level: 'client-authentication' }), 'the server refused to authenticate user ops with the configured credentials'],
    [failure('Timed out while waiting for handshake', { level: 'client-timeout' }), 'the SSH server did not answer in time'],
    [failure('connect ECONNREFUSED 10.0.0.1:22', { level: 'client-socket', code: 'ECONNREFUSED' }), 'connection refused'],
    [failure('getaddrinfo ENOTFOUND bastion.internal', { level: 'client-dns', code: 'ENOTFOUND' }), 'host not found'],
    [failure('read EWHATEVER', { level: 'client-socket', code: 'EWHATEVER' }), 'socket error EWHATEVER'],
    [failure('Handshake failed: no matching C->S cipher', { level: 'handshake' }), 'the SSH handshake failed: no matching C->S cipher'],
    [failure('Signature verification failed: Error: at /secret/path.js:1', { level: 'handshake' }), 'the SSH handshake failed'],
    [failure('something else entirely'), 'the SSH connection failed or closed'],
  ])('maps %s', (error, reason) => {
    const mapped = describeSshFailure(error, context);
    expect(mapped.code).toBe('TARGET_UNAVAILABLE');
    expect(mapped.message).toBe(`connection bastion (bastion.internal:22): ${reason}; nothing was executed`);
  });
});
