import { createHash } from 'node:crypto';
import { resolveSecret } from '@rungate/config';
import { RungateError } from '@rungate/contracts';

/** A connection the executor cannot reach or open, before anything of the run was sent. */
export function targetUnavailable(connection: string, why: string): RungateError {
  return new RungateError('TARGET_UNAVAILABLE', `connection ${connection}: ${why}; nothing was executed`);
}

/**
 * A connection's secret reference resolved, or TARGET_UNAVAILABLE naming the connection and,
 * when given, the key (`tls`, `privateKey`…) whose reference failed.
 */
export function resolveTargetSecret(connection: string, ref: string, env: NodeJS.ProcessEnv, key?: string): string {
  try {
    return resolveSecret(ref, env);
  } catch (error) {
    throw targetUnavailable(connection, `${key === undefined ? '' : `${key}: `}${(error as Error).message}`);
  }
}

/**
 * One open target (a pool, a cluster client) per connection name, kept while what it was
 * opened from is unchanged. Secrets are resolved on every run and are part of that material,
 * so a rotated password or key (a re-written secret file, a changed rungate.yaml) opens a new
 * target for new runs and retires the old one, which finishes its runs and closes. Only a
 * digest of the material is kept.
 */
export class SecretKeyedTargets<T> {
  private readonly entries = new Map<string, { fingerprint: string; target: T }>();

  /** `retire` is handed a target its connection's material no longer matches. */
  constructor(private readonly retire: (target: T, connection: string) => void) {}

  /**
   * The target of `connection` opened from `material` (anything JSON can write). `open` runs
   * only when there is none yet or the material changed; if it throws, the old target stays.
   */
  targetFor(connection: string, material: unknown, open: () => T): T {
    const fingerprint = createHash('sha256').update(JSON.stringify(material)).digest('hex');
    const existing = this.entries.get(connection);
    if (existing?.fingerprint === fingerprint) return existing.target;
    const target = open();
    this.entries.set(connection, { fingerprint, target });
    if (existing) this.retire(existing.target, connection);
    return target;
  }

  /** The targets open now. */
  targets(): T[] {
    return [...this.entries.values()].map((entry) => entry.target);
  }

  /** Forgets every target and returns them, for the caller to close. */
  clear(): T[] {
    const targets = this.targets();
    this.entries.clear();
    return targets;
  }
}
