import { BuiltInEntity, MaskingProfileConfig, type MaskingProfileConfig as ProfileDefinition, type MaskingStrategy } from '@rungate/config';
import { compileMaskingProfile, type MaskingProfile } from '../lib/profile';

/** A parsed profile definition, as rungate.yaml would give it. */
export function profileDefinition(input: Record<string, unknown>): ProfileDefinition {
  return MaskingProfileConfig.parse({ name: 'test', ...input });
}

/** Every built-in entity with one strategy: what the detector and property tests run. */
export function allEntities(strategy: MaskingStrategy, extra: Record<string, unknown> = {}): MaskingProfile {
  const entities = Object.fromEntries(BuiltInEntity.options.map((kind) => [kind, strategy]));
  const definition = profileDefinition({ entities, ...(strategy === 'hash' ? { hashKey: 'env:TEST_KEY' } : {}), ...extra });
  return compileMaskingProfile(definition, strategy === 'hash' ? 'test-hash-key' : undefined);
}
