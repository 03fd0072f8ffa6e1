import { resolveSecret, type MaskingProfileConfig } from '@rungate/config';
import { RungateError, type RunOutput, type RunTicketClaims } from '@rungate/contracts';
import { compileMaskingProfile, maskingProfileDigest, maskMessage, maskRunOutput, MaskingTally, type MaskingProfile } from '@rungate/masking';

/** What the audit records of a run's masking: the profile and a count per entity kind, never a value. */
export interface MaskingReport {
  profile: string;
  sha256: string;
  counts: Record<string, number>;
}

/**
 * One run's masking, applied by the pipeline's output stage (docs/design.md §2, step 4): to the
 * adapter's output and to error messages, before anything is digested, audited or sent, so
 * raw values never leave the executor.
 */
export interface RunMasking {
  /** The ticket's profile; undefined when it selects none. */
  readonly profile?: { name: string; sha256: string };
  /** SQL: column rules need each result column's source table column (PostgreSQL's field info). */
  readonly needsSourceColumns: boolean;
  maskOutput(output: RunOutput, maxBytes: number): RunOutput;
  maskMessage(message: string): string;
  /** What was masked so far; undefined when the ticket selects no profile. */
  report(): MaskingReport | undefined;
}

export interface OutputMasking {
  /**
   * The masking the ticket's signed claims select. Throws MASKING_UNAVAILABLE when this
   * executor cannot apply exactly that profile, before anything runs: fail closed.
   */
  forRun(claims: RunTicketClaims): RunMasking;
}

const unmasked: RunMasking = {
  needsSourceColumns: false,
  maskOutput: (output) => output,
  maskMessage: (message) => message,
  report: () => undefined,
};

class ProfileRunMasking implements RunMasking {
  private readonly tally = new MaskingTally();
  readonly profile: { name: string; sha256: string };
  readonly needsSourceColumns: boolean;

  constructor(private readonly compiled: MaskingProfile) {
    this.profile = { name: compiled.name, sha256: compiled.sha256 };
    this.needsSourceColumns = compiled.columns.length > 0;
  }

  maskOutput(output: RunOutput, maxBytes: number): RunOutput {
    return maskRunOutput(output, this.compiled, this.tally, maxBytes);
  }

  maskMessage(message: string): string {
    return maskMessage(message, this.compiled, this.tally);
  }

  report(): MaskingReport {
    return { profile: this.profile.name, sha256: this.profile.sha256, counts: this.tally.toRecord() };
  }
}

type ProfileEntry = { sha256: string; compiled: MaskingProfile } | { sha256: string; problem: string };

/**
 * The profiles of this executor's rungate.yaml, compiled once per configuration (hash keys
 * resolved here, the only place that holds them). A run gets the profile its ticket names
 * only if this executor's definition of it has the digest policy signed (ADR 14).
 */
export class MaskingProfiles implements OutputMasking {
  private entries = new Map<string, ProfileEntry>();

  constructor(definitions: readonly MaskingProfileConfig[] = [], env: NodeJS.ProcessEnv = process.env) {
    this.load(definitions, env);
  }

  /**
   * Replaces the profiles (on start and on every configuration change). A profile whose hash
   * key cannot be read stays known but unusable — runs naming it are refused — and its
   * problem is returned for the log.
   */
  load(definitions: readonly MaskingProfileConfig[], env: NodeJS.ProcessEnv = process.env): string[] {
    const problems: string[] = [];
    const entries = new Map<string, ProfileEntry>();
    for (const definition of definitions) {
      const sha256 = maskingProfileDigest(definition);
      try {
        const hashKey = definition.hashKey === undefined ? undefined : resolveSecret(definition.hashKey, env);
        entries.set(definition.name, { sha256, compiled: compileMaskingProfile(definition, hashKey) });
      } catch (error) {
        const problem = `masking profile ${definition.name} cannot be applied: ${(error as Error).message}`;
        entries.set(definition.name, { sha256, problem });
        problems.push(problem);
      }
    }
    this.entries = entries;
    return problems;
  }

  forRun(claims: RunTicketClaims): RunMasking {
    const wanted = claims.masking;
    if (!wanted) return unmasked;
    const entry = this.entries.get(wanted.profile);
    const refuse = (why: string) =>
      new RungateError('MASKING_UNAVAILABLE', `run ${claims.runId} must be masked with profile ${wanted.profile}, but ${why}; nothing was executed`);
    if (!entry) throw refuse('this executor has no such profile (its rungate.yaml differs from policy\'s)');
    if (entry.sha256 !== wanted.sha256) {
      throw refuse('this executor\'s definition of it differs from the one policy signed (rungate.yaml changed between them, or they run different versions); retry once both have the same configuration');
    }
    if ('problem' in entry) throw refuse('this executor cannot apply it (see its log)');
    return new ProfileRunMasking(entry.compiled);
  }
}
