import { IDEMPOTENCY_KEY_TTL_MS, InMemoryIdempotencyKeys, argumentsDigest, checkIdempotencyKey } from './idempotency';

describe('idempotency keys', () => {
  it.each(['0d6f0f4e-6a43-4c59-9d0e-3f4a3c1b2a10', 'retry:2025-06-01T10:00:00Z#3', 'k'.repeat(255), '!~'])('accepts %s', (key) => {
    expect(checkIdempotencyKey(key)).toEqual({ ok: true, key });
  });

  it('accepts no key at all', () => {
    expect(checkIdempotencyKey(undefined)).toEqual({ ok: true });
  });

  it.each([
    ['empty', ''],
    ['a NUL', 'a\u0000b'],
    ['a lone surrogate', 'a\ud800'],
    ['a space', 'a b'],
    ['a control character', 'a\tb'],
    ['non-ASCII', 'clé'],
    ['256 characters', 'k'.repeat(256)],
  ])('refuses %s, recording the key as sent', (_label, key) => {
    expect(checkIdempotencyKey(key)).toEqual({ ok: false, problem: expect.stringMatching(/^must be 1 to 255 visible ASCII characters/), recorded: { idempotencyKey: key } });
  });

  it.each([
    [42, 'a number', { idempotencyKeyType: 'a number', idempotencyKey: 42 }],
    [true, 'a boolean', { idempotencyKeyType: 'a boolean', idempotencyKey: true }],
    [null, 'null', { idempotencyKeyType: 'null', idempotencyKey: null }],
    [['a'], 'a list', { idempotencyKeyType: 'a list' }],
    [{ k: 'v' }, 'an object', { idempotencyKeyType: 'an object' }],
  ])('refuses %j: not a string', (value, type, recorded) => {
    expect(checkIdempotencyKey(value)).toEqual({ ok: false, problem: `must be a string, not ${type}`, recorded });
  });

  it('records at most 1 KiB of a very long key, with its length', () => {
    const result = checkIdempotencyKey('x'.repeat(5000));
    expect(result).toMatchObject({ ok: false, recorded: { idempotencyKey: 'x'.repeat(1024), idempotencyKeyLength: 5000 } });
  });

  it('digests a call by connection, dry run and values, whatever the order of the values, keyed', () => {
    const key = Buffer.alloc(32, 1);
    const call = { connection: 'db', dryRun: false, values: { a: '1', b: '2' } };
    expect(argumentsDigest(key, call)).toBe(argumentsDigest(key, { ...call, values: { b: '2', a: '1' } }));
    expect(argumentsDigest(key, call)).not.toBe(argumentsDigest(key, { ...call, dryRun: true }));
    expect(argumentsDigest(key, call)).not.toBe(argumentsDigest(key, { ...call, connection: 'other' }));
    expect(argumentsDigest(key, call)).not.toBe(argumentsDigest(key, { ...call, values: { a: '1', b: '3' } }));
    // A value cannot pose as a name/value boundary.
    expect(argumentsDigest(key, { ...call, values: { a: '1","b' } })).not.toBe(argumentsDigest(key, { ...call, values: { a: '1', b: '' } }));
    expect(argumentsDigest(Buffer.alloc(32, 2), call)).not.toBe(argumentsDigest(key, call));
  });

  it('binds in memory once per key for a day', async () => {
    let now = 0;
    const keys = new InMemoryIdempotencyKeys(() => now);
    await expect(keys.bind('run-1', 'd1', 'kid')).resolves.toEqual({ ok: true });
    await expect(keys.bind('run-1', 'd1', 'kid')).resolves.toEqual({ ok: true });
    await expect(keys.bind('run-1', 'd2', 'kid')).resolves.toEqual({ ok: false, reason: 'other-arguments' });
    await expect(keys.bind('run-1', 'd1', 'kid-2')).resolves.toEqual({ ok: false, reason: 'other-signing-key' });
    now = IDEMPOTENCY_KEY_TTL_MS;
    await expect(keys.bind('run-1', 'd2', 'kid')).resolves.toEqual({ ok: true });
  });
});
