import { profileDefinition } from '../testing/profiles';
import { compileMaskingProfile, maskingProfileDigest, selectMaskingProfile } from './profile';

describe('maskingProfileDigest', () => {
  const definition = profileDefinition({ entities: { email: 'redact' }, columns: ['ssn'] });

  it('is the same for the same definition, however it was written', () => {
    const spelledOut = profileDefinition({ threshold: 0.5, entities: { email: { strategy: 'redact' } }, columns: [{ match: 'ssn', strategy: 'redact' }], custom: [] });
    expect(maskingProfileDigest(spelledOut)).toBe(maskingProfileDigest(definition));
    expect(maskingProfileDigest(definition)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with anything that changes what is masked', () => {
    const digest = maskingProfileDigest(definition);
    for (const changed of [
      { entities: { email: 'mask' }, columns: ['ssn'] },
      { entities: { email: 'redact' }, columns: [] },
      { entities: { email: 'redact' }, columns: ['ssn'], threshold: 0.9 },
      { entities: { email: 'redact', phone: 'redact' }, columns: ['ssn'] },
    ]) {
      expect(maskingProfileDigest(profileDefinition(changed))).not.toBe(digest);
    }
  });
});

describe('selectMaskingProfile', () => {
  it('takes the rule\'s profile over the connection\'s, and none from a rule switches masking off', () => {
    expect(selectMaskingProfile({ masking: 'strict' }, { masking: 'basic' })).toBe('strict');
    expect(selectMaskingProfile({}, { masking: 'basic' })).toBe('basic');
    expect(selectMaskingProfile(undefined, { masking: 'basic' })).toBe('basic');
    expect(selectMaskingProfile({ masking: 'none' }, { masking: 'basic' })).toBeUndefined();
    expect(selectMaskingProfile({}, {})).toBeUndefined();
  });
});

describe('compileMaskingProfile', () => {
  it('refuses a hash strategy without its key, so a profile never hashes with an empty one', () => {
    const definition = profileDefinition({ entities: { email: 'hash' }, hashKey: 'env:MASKING_KEY' });
    expect(() => compileMaskingProfile(definition)).toThrow('masking profile test uses the hash strategy but has no hash key');
    expect(compileMaskingProfile(definition, 'k').sha256).toBe(maskingProfileDigest(definition));
  });
});
