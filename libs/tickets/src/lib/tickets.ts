import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { InternalError, RungateError, RunTicketClaims } from '@rungate/contracts';

const HEADER_TYPE = 'rungate-ticket+jws';
const MAX_CLOCK_SKEW_S = 5;
export const MAX_TICKET_TTL_S = 60;

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
}

export interface VerifyKey {
  kid: string;
  publicKey: KeyObject;
}

function base64url(input: Buffer | string): string {
  return Buffer.from(input).toString('base64url');
}

/** A key id derived from the public key, so rotation needs no separate naming scheme. */
export function keyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64url').slice(0, 16);
}

export function signingKeyFromPem(pem: string): SigningKey {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new InternalError('the ticket signing key must be an Ed25519 private key');
  return { kid: keyId(createPublicKey(privateKey)), privateKey };
}

export function verifyKeyFromPem(pem: string): VerifyKey {
  const publicKey = createPublicKey(pem);
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new InternalError('a ticket verify key must be an Ed25519 public key');
  return { kid: keyId(publicKey), publicKey };
}

export function generateTicketKeyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function sha256Hex(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** An Ed25519 signature is 64 bytes: 86 characters of base64url. */
const SIGNATURE_CHARS = 86;

/** A ticket whose claims are encoded but not yet signed: its length is already known. */
export interface PreparedTicket {
  /** The length of the signed ticket, in characters. */
  readonly length: number;
  sign(): string;
}

/**
 * Encodes claims as a compact JWS (EdDSA), to be signed by `sign()`: a caller can refuse a
 * ticket by its length, or sign while it waits for something else. Expiry is capped at 60 s
 * whatever the caller asks.
 *
 * The claims are policy's own, built from typed parts, and are not parsed again here: the
 * executor parses every ticket it receives against the strict schema (verifyTicket), so a
 * claim policy got wrong is refused there and nothing runs.
 */
export function prepareTicket(claims: RunTicketClaims, key: SigningKey): PreparedTicket {
  if (claims.exp - claims.iat > MAX_TICKET_TTL_S) throw new InternalError(`a run ticket lives at most ${MAX_TICKET_TTL_S}s`);
  const signingInput = `${base64url(JSON.stringify({ alg: 'EdDSA', typ: HEADER_TYPE, kid: key.kid }))}.${base64url(JSON.stringify(claims))}`;
  return {
    length: signingInput.length + 1 + SIGNATURE_CHARS,
    sign: () => `${signingInput}.${base64url(sign(null, Buffer.from(signingInput), key.privateKey))}`,
  };
}

/** Signs claims as a compact JWS (EdDSA); see prepareTicket. */
export function signTicket(claims: RunTicketClaims, key: SigningKey): string {
  return prepareTicket(claims, key).sign();
}

/** Most tickets an IssuedTickets holds; past it the oldest go (they are then verified as any ticket). */
const MAX_ISSUED_TICKETS = 100_000;

/**
 * The tickets this process signed, for executors in the same process (`rungate serve`, ADR
 * 25): the signer's private key is this process's, so checking its signature again proves
 * nothing a tampered process could not fake — an Ed25519 verify is ~100 µs of a call's CPU.
 * verifyTicket takes a ticket found here out (each is spared its signature check once) and
 * checks all the rest as for any ticket. Anything else — another string, a replay, a ticket
 * from elsewhere — is verified in full. A ticket is kept until it expires, at most.
 */
export class IssuedTickets {
  /** Ticket → when it expires (epoch ms); insertion order is issue order. */
  private readonly tickets = new Map<string, number>();

  add(ticket: string, claims: Pick<RunTicketClaims, 'exp'>, nowMs = Date.now()): void {
    for (const [issued, until] of this.tickets) {
      if (until >= nowMs && this.tickets.size < MAX_ISSUED_TICKETS) break;
      this.tickets.delete(issued);
    }
    this.tickets.set(ticket, (claims.exp + 1) * 1000);
  }

  /** True once for a ticket this process signed and that has not expired; it is forgotten then. */
  take(ticket: string, nowMs = Date.now()): boolean {
    const until = this.tickets.get(ticket);
    if (until === undefined) return false;
    this.tickets.delete(ticket);
    return until >= nowMs;
  }

  get size(): number {
    return this.tickets.size;
  }
}

/**
 * Verifies signature (against any of the current keys, for rotation), header, expiry and
 * shape. Every failure is a typed error; nothing about the ticket is trusted before this.
 * With `issued`, a ticket this process signed itself is spared the signature check, once
 * (IssuedTickets); its key must still be a current verify key, and all the rest is checked.
 */
export function verifyTicket(token: string, keys: readonly VerifyKey[], nowMs = Date.now(), issued?: IssuedTickets): RunTicketClaims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new RungateError('TICKET_INVALID', 'malformed run ticket');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  let header: { alg?: unknown; typ?: unknown; kid?: unknown };
  try {
    header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8'));
  } catch {
    throw new RungateError('TICKET_INVALID', 'malformed run ticket header');
  }
  if (header.alg !== 'EdDSA' || header.typ !== HEADER_TYPE) throw new RungateError('TICKET_INVALID', 'unsupported run ticket type');
  const key = keys.find((k) => k.kid === header.kid);
  if (!key) throw new RungateError('TICKET_INVALID', 'run ticket signed by an unknown key');
  const valid = issued?.take(token, nowMs) || verify(null, Buffer.from(`${headerPart}.${payloadPart}`), key.publicKey, Buffer.from(signaturePart, 'base64url'));
  if (!valid) throw new RungateError('TICKET_INVALID', 'run ticket signature does not verify');
  let claims: RunTicketClaims;
  try {
    claims = RunTicketClaims.parse(JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8')));
  } catch {
    throw new RungateError('TICKET_INVALID', 'run ticket claims are malformed');
  }
  const now = Math.floor(nowMs / 1000);
  if (claims.exp - claims.iat > MAX_TICKET_TTL_S) throw new RungateError('TICKET_INVALID', 'run ticket lifetime exceeds 60s');
  if (claims.iat > now + MAX_CLOCK_SKEW_S) throw new RungateError('TICKET_INVALID', 'run ticket issued in the future');
  if (claims.exp < now) throw new RungateError('TICKET_EXPIRED', 'run ticket expired; ask again');
  return claims;
}

/** The executor runs exactly the body that was authorized, byte for byte. */
export function assertBodyMatches(claims: RunTicketClaims, body: string): void {
  if (sha256Hex(body) !== claims.bodySha256) {
    throw new RungateError('BODY_MISMATCH', 'the body does not match the one the run ticket authorized');
  }
}
