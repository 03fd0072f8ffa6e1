import { RungateError } from '@rungate/contracts';
import { SecretKeyedTargets, resolveTargetSecret } from './targets';

interface Opened {
  id: number;
  material: string;
}

function cache() {
  const retired: [Opened, string][] = [];
  let opened = 0;
  const targets = new SecretKeyedTargets<Opened>((target, connection) => retired.push([target, connection]));
  const targetFor = (connection: string, material: string) => targets.targetFor(connection, { material }, () => ({ id: ++opened, material }));
  return { targets, targetFor, retired, opens: () => opened };
}

describe('SecretKeyedTargets', () => {
  it('opens a connection once while its material is unchanged', () => {
    const { targetFor, retired, opens } = cache();
    const first = targetFor('app-db', 'postgres://u:one@db/app');
    expect(targetFor('app-db', 'postgres://u:one@db/app')).toBe(first);
    expect(opens()).toBe(1);
    expect(retired).toEqual([]);
  });

  it('opens a new target when the secret changes and retires the old one', () => {
    const { targetFor, retired } = cache();
    const old = targetFor('app-db', 'postgres://u:one@db/app');
    const rotated = targetFor('app-db', 'postgres://u:two@db/app');
    expect(rotated).not.toBe(old);
    expect(rotated.material).toBe('postgres://u:two@db/app');
    expect(retired).toEqual([[old, 'app-db']]);
    expect(targetFor('app-db', 'postgres://u:two@db/app')).toBe(rotated);
  });

  it('keeps connections apart by name', () => {
    const { targetFor, targets } = cache();
    const a = targetFor('a', 'same');
    const b = targetFor('b', 'same');
    expect(a).not.toBe(b);
    expect(targets.targets()).toEqual([a, b]);
  });

  it('keeps the old target when opening the new one fails', () => {
    const { targets, targetFor, retired } = cache();
    const old = targetFor('app-db', 'good');
    expect(() =>
      targets.targetFor('app-db', { material: 'broken' }, () => {
        throw new RungateError('TARGET_UNAVAILABLE', 'connection app-db: broken; nothing was executed');
      }),
    ).toThrow('broken');
    expect(retired).toEqual([]);
    expect(targetFor('app-db', 'good')).toBe(old);
  });

  it('clear() hands back every target and forgets them', () => {
    const { targets, targetFor, opens } = cache();
    const a = targetFor('a', 'x');
    expect(targets.clear()).toEqual([a]);
    expect(targets.targets()).toEqual([]);
    targetFor('a', 'x');
    expect(opens()).toBe(2);
  });
});

describe('resolveTargetSecret', () => {
  it('resolves an env: reference', () => {
    expect(resolveTargetSecret('app-db', 'env:APP_URL', { APP_URL: 'postgres://db/app' })).toBe('postgres://db/app');
  });

  it('is TARGET_UNAVAILABLE naming the connection and the key when the reference cannot be resolved', () => {
    let failure: unknown;
    try {
      resolveTargetSecret('app-db', 'env:MISSING_URL', {}, 'tls');
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(RungateError);
    expect(failure).toMatchObject({ code: 'TARGET_UNAVAILABLE' });
    expect((failure as Error).message).toMatch(/^connection app-db: tls: .*MISSING_URL.*; nothing was executed$/);
  });
});
