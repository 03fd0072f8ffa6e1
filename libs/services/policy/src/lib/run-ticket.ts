import type { ConnectionConfig, RungateConfig } from '@rungate/config';
import type { OutputGuardrail, RunTicketClaims } from '@rungate/contracts';
import type { Guardrails } from '@rungate/guardrails';
import { maskingClaim } from './masking-claim';
import type { PreparedTicket } from '@rungate/tickets';
import type { TicketSigner } from './ticket-signer';

/** A runbook run as policy signs it: everything but the times, the version and what the configuration in force adds. */
export type RunbookClaims = Omit<RunTicketClaims, 'v' | 'iat' | 'exp' | 'guardrails' | 'masking' | 'explore'> & { rule: string };

export interface SignedRun {
  ticket: string;
  outputGuardrails: OutputGuardrail[];
  masking: RunTicketClaims['masking'];
}

/** A run ticket encoded but not yet signed: its length is known (see prepareTicket). */
export type PreparedRun = Omit<SignedRun, 'ticket'> & { ticket: PreparedTicket };

/**
 * Signs a runbook's run ticket for `tickets.ttl`, with the output guardrails and the masking
 * profile of the configuration in force: at the call for an allowed run, after the quorum for
 * a held one (ADR 18 §5), so an approved run's output is checked and masked as any other's.
 */
export function signRunbookTicket(
  signer: TicketSigner,
  config: RungateConfig,
  guardrails: Guardrails,
  connection: ConnectionConfig,
  claims: RunbookClaims,
): SignedRun {
  const prepared = prepareRunbookTicket(signer, config, guardrails, connection, claims);
  return { ...prepared, ticket: prepared.ticket.sign() };
}

/** signRunbookTicket's claims, encoded but not yet signed. */
export function prepareRunbookTicket(
  signer: TicketSigner,
  config: RungateConfig,
  guardrails: Guardrails,
  connection: ConnectionConfig,
  claims: RunbookClaims,
): PreparedRun {
  const runbook = claims.runbook as NonNullable<RunTicketClaims['runbook']>;
  const outputGuardrails = guardrails.outputFor({ connection: connection.name, runbook: `${runbook.repository}/${runbook.path}`, rule: claims.rule });
  const masking = maskingClaim(config, claims.rule, connection);
  const now = Math.floor(Date.now() / 1000);
  const ttlSeconds = Math.max(1, Math.floor(config.tickets.ttl / 1000));
  const ticket = signer.prepare({
    // v2: the executor must apply something to the output; a v1-only executor refuses it.
    v: outputGuardrails.length > 0 || masking ? 2 : 1,
    ...claims,
    iat: now,
    exp: now + ttlSeconds,
    ...(outputGuardrails.length > 0 ? { guardrails: outputGuardrails } : {}),
    ...(masking ? { masking } : {}),
  });
  return { ticket, outputGuardrails, masking };
}
