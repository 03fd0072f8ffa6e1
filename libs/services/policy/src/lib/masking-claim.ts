import type { ConnectionConfig, RungateConfig } from '@rungate/config';
import { RungateError, type RunTicketClaims } from '@rungate/contracts';
import { maskingProfileDigest, selectMaskingProfile } from '@rungate/masking';

/**
 * The masking profile the allowing rule (over its connection) selects, signed by name and by
 * the digest of its definition, so executors apply exactly it or refuse (ADR 14). Only the
 * definition is read here: its hash key stays a reference, resolved by executors alone.
 */
export function maskingClaim(config: Pick<RungateConfig, 'rules' | 'masking'>, ruleName: string, connection: ConnectionConfig): RunTicketClaims['masking'] {
  const profile = selectMaskingProfile(
    config.rules.find((rule) => rule.name === ruleName),
    connection,
  );
  if (profile === undefined) return undefined;
  const definition = config.masking.find((candidate) => candidate.name === profile);
  // rungate.yaml is refused when a rule or connection names an unknown profile; never sign a run without it.
  if (!definition) throw new RungateError('INTERNAL', `masking profile ${profile} is not configured; the run was not authorized`);
  return { profile, sha256: maskingProfileDigest(definition) };
}
