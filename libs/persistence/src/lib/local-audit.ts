import { InternalError, RungateError, type AuditEvent, type AuditEventInput } from '@rungate/contracts';
import { assertRunId, completeAuditEvent, ledgerUnavailable, runReplayed, type AuditSink, type PublishOptions, type RunLedger, type TicketTimes } from '@rungate/messaging';
import { MAX_TICKET_TTL_S } from '@rungate/tickets';
import type { DataSource } from 'typeorm';
import { AuditStore, type AuditStoreOptions } from './audit-store';
import { claimRuns, type RunClaim } from './run-claims';

/** How many recent event ids are remembered to drop a re-published event, as JetStream's duplicate window does. */
const RECENT_IDS = 10_000;
/** Most events and claims one commit takes; the rest wait for the next. */
const MAX_BATCH = 1000;
/**
 * How long past its ticket's expiry a claimed run id is remembered: a ticket is refused once
 * `exp` is before the current whole second, so nothing can present it after this.
 */
const CLAIM_MEMORY_PAST_EXPIRY_MS = 2000;
/**
 * Longest a trailing event (PublishOptions.trailing: a run's outcome, after its reply) waits to
 * share the commit of what comes next — at one call at a time, the next call's `decided` —
 * instead of a commit of its own that the next call's would then wait behind.
 */
export const TRAILING_WAIT_MS = 3;

interface PendingEvent {
  event: AuditEvent;
  /** Stored only if this claim, in the same commit, is new (claimAndRecordStart). */
  ifClaimed?: PendingClaim;
  resolve: (event: AuditEvent) => void;
  reject: (error: unknown) => void;
}

interface PendingClaim extends RunClaim {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * The all-in-one mode's audit trail: no stream in between, each event is chained and
 * committed to the append-only table before `publish` resolves — write-ahead exactly as with
 * JetStream's ack, and one writer, so the chain's order is the order of publication.
 *
 * Group commit (issue 19, ADR 20): what is published while a commit is in flight, or in the
 * same turn of the event loop, waits for the next commit and goes in together — one
 * transaction for the lot instead of one each. Each publish still resolves only once the
 * transaction holding its row committed, and a failed commit fails every publish in it.
 * The run ledger's claims (`runLedger()`) ride in the same transactions, ahead of the rows.
 *
 * Claim ahead (ADR 20): a sole writer is the only one taking claims on its database, so it
 * can tell at once whether a run id is new — from the run ids it claimed itself while their
 * tickets live — for a ticket issued after it opened (any earlier ticket may have been claimed
 * by the process before, so it waits for the database to say). Such a run goes ahead while its
 * claim and `started` commit. After a commit fails, the next run waits for its own commit
 * again, until one succeeds.
 */
export class LocalAuditLog implements AuditSink {
  private readonly store: AuditStore;
  private seq?: number;
  private readonly recent = new Set<string>();
  private readonly listeners = new Set<(event: AuditEvent) => void>();
  private events: PendingEvent[] = [];
  private claims: PendingClaim[] = [];
  private writing = false;
  /** The whole second this log opened in: a ticket issued in it or before waits for its commit. */
  private readonly openedSecond = Math.floor(Date.now() / 1000);
  /** Run ids this log claimed, each until nothing can present its ticket (epoch ms). */
  private readonly taken = new Map<string, number>();
  /** A commit failed and none succeeded since: every claim waits for its commit. */
  private commitFailed = false;
  /** Trailing events published since the last commit began, in order, waiting for company. */
  private trailing: PendingEvent[] = [];
  private trailingTimer?: NodeJS.Timeout;

  private readonly trailingWaitMs: number;

  /** `soleWriter`: nothing else appends to this database's chain (see AuditStoreOptions). */
  constructor(
    private readonly db: DataSource,
    options: AuditStoreOptions & { trailingWaitMs?: number } = {},
  ) {
    this.store = new AuditStore(db, options);
    this.trailingWaitMs = options.trailingWaitMs ?? TRAILING_WAIT_MS;
  }

  publish(input: AuditEventInput, options?: PublishOptions): Promise<AuditEvent> {
    const event = completeAuditEvent(input);
    return new Promise<AuditEvent>((resolve, reject) => {
      if (options?.trailing) {
        this.trailing.push({ event, resolve, reject });
        this.trailingTimer ??= setTimeout(() => {
          this.trailingTimer = undefined;
          this.releaseTrailing();
          this.schedule();
        }, this.trailingWaitMs);
        return;
      }
      this.releaseTrailing();
      this.events.push({ event, resolve, reject });
      this.schedule();
    });
  }

  /** Trailing events go ahead of what is published after them: the chain keeps publication order. */
  private releaseTrailing(): void {
    if (this.trailing.length === 0) return;
    this.events.push(...this.trailing);
    this.trailing = [];
    clearTimeout(this.trailingTimer);
    this.trailingTimer = undefined;
  }

  /**
   * The replay guard on the same database, each claim committed in the log's next
   * transaction; `claimAndRecordStart` puts a run's claim and its `started` event in one.
   */
  runLedger(): RunLedger {
    return {
      claim: (runId, holder) => this.claim(runId, holder),
      claimAndRecordStart: (runId, holder, started) => this.claim(runId, holder, started),
      ...(this.store.atOnce ? { claimAhead: (runId: string, holder: string, started: AuditEventInput, ticket: TicketTimes) => this.claimAhead(runId, holder, started, ticket) } : {}),
    };
  }

  /** Waits for the commit. Held from the start for as long as any ticket lives; let go only if the commit failed. */
  private async claim(runId: string, holder: string, started?: AuditEventInput): Promise<void> {
    assertRunId(runId);
    if (this.holds(runId)) throw runReplayed(runId);
    const committed = this.commitClaim(runId, holder, started);
    this.remember(runId, Date.now() + MAX_TICKET_TTL_S * 1000 + CLAIM_MEMORY_PAST_EXPIRY_MS);
    try {
      await committed;
    } catch (error) {
      if (!(error instanceof RungateError && error.code === 'TICKET_REPLAYED')) this.taken.delete(runId);
      throw error;
    }
  }

  private claimAhead(runId: string, holder: string, started: AuditEventInput, ticket: TicketTimes): { recorded: Promise<void> } | undefined {
    assertRunId(runId);
    // Issued by this process's policy, after this log opened: on this clock, never ahead of it.
    if (this.commitFailed || ticket.iat <= this.openedSecond || ticket.iat > Math.floor(Date.now() / 1000)) return undefined;
    if (this.holds(runId)) throw runReplayed(runId);
    const recorded = this.commitClaim(runId, holder, started);
    // Taken from now on, whatever its commit does: the run may be executing.
    this.remember(runId, ticket.exp * 1000 + CLAIM_MEMORY_PAST_EXPIRY_MS);
    return { recorded };
  }

  /** Queues the claim (and its `started`, stored only if the claim is new) for the next commit. */
  private commitClaim(runId: string, holder: string, started?: AuditEventInput): Promise<void> {
    const event = started && completeAuditEvent(started);
    return new Promise<void>((resolve, reject) => {
      this.releaseTrailing();
      const pending: PendingClaim = { runId, holder, resolve, reject };
      this.claims.push(pending);
      // The claim's outcome is the caller's answer; the event settles with the same commit.
      if (event) this.events.push({ event, ifClaimed: pending, resolve: () => undefined, reject: () => undefined });
      this.schedule();
    });
  }

  private holds(runId: string): boolean {
    const now = Date.now();
    for (const [id, until] of this.taken) {
      // Roughly in expiry order: stop at the first one still current.
      if (until > now) break;
      this.taken.delete(id);
    }
    const until = this.taken.get(runId);
    return until !== undefined && until > now;
  }

  private remember(runId: string, until: number): void {
    this.taken.delete(runId);
    this.taken.set(runId, until);
  }

  /** Called with every stored event, after it is committed (e.g. to follow the trail live). */
  onEvent(listener: (event: AuditEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private schedule(): void {
    if (this.writing) return;
    this.writing = true;
    // One turn of the event loop gathers what its I/O callbacks publish into one commit.
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    while (this.events.length > 0 || this.claims.length > 0) {
      const events = this.events.splice(0, MAX_BATCH);
      const claims = this.claims.splice(0, MAX_BATCH);
      await this.commit(events, claims);
    }
    this.writing = false;
  }

  /** One transaction: the claims, then the events not stored before (and of claimed runs), chained in order. */
  private async commit(events: readonly PendingEvent[], claims: readonly PendingClaim[]): Promise<void> {
    // The same run id twice in one batch: the first claims it, the others are replays of it.
    const firsts = new Map<string, PendingClaim>();
    const replays: PendingClaim[] = [];
    for (const claim of claims) {
      if (firsts.has(claim.runId)) replays.push(claim);
      else firsts.set(claim.runId, claim);
    }
    let claimed = new Set<string>();
    let stored: PendingEvent[] = [];
    try {
      if (events.length === 0) {
        // Claims alone: one statement, no chain to extend.
        claimed = await claimRuns(this.db, [...firsts.values()]);
      } else if (this.store.atOnce) {
        ({ claimed, stored } = await this.commitAtOnce(events, [...firsts.values()]));
      } else {
        this.seq ??= (await this.store.loadHead()).seq;
        const from = this.seq;
        await this.store.append(async (db) => {
          claimed = await claimRuns(db, [...firsts.values()]);
          stored = this.storable(events, (claim) => firsts.get(claim.runId) === claim && claimed.has(claim.runId));
          return stored.map((pending, i) => ({ seq: from + i + 1, subject: pending.event.type, data: JSON.stringify(pending.event), event: pending.event }));
        });
        this.seq = from + stored.length;
      }
      this.commitFailed = false;
    } catch (error) {
      this.commitFailed = true;
      this.seq = undefined;
      const message = (error as Error).message;
      for (const pending of events) {
        pending.reject(new RungateError('AUDIT_UNAVAILABLE', `the audit log did not store ${pending.event.type}; nothing was executed (${message})`));
      }
      for (const claim of claims) claim.reject(ledgerUnavailable(claim.runId));
      return;
    }
    for (const claim of firsts.values()) {
      if (claimed.has(claim.runId)) claim.resolve();
      else claim.reject(runReplayed(claim.runId));
    }
    for (const claim of replays) claim.reject(runReplayed(claim.runId));
    for (const pending of stored) {
      this.recent.add(pending.event.id);
      if (this.recent.size > RECENT_IDS) this.recent.delete(this.recent.values().next().value as string);
      for (const listener of this.listeners) listener(pending.event);
    }
    for (const pending of events) pending.resolve(pending.event);
  }

  /**
   * The commit as one message to the embedded database's thread (AuditStore.appendAtOnce):
   * it assumes every claim is new. When some were taken already, nothing is stored and it runs
   * once more with the others only (those are replays: a claim is never taken back, and this
   * log is the only one taking them); it fails the commit if even those are not new.
   */
  private async commitAtOnce(events: readonly PendingEvent[], claims: PendingClaim[]): Promise<{ claimed: Set<string>; stored: PendingEvent[] }> {
    let contenders = claims;
    for (let attempt = 0; attempt < 2; attempt++) {
      const claimed = new Set(contenders.map((c) => c.runId));
      const contending = new Set(contenders);
      const stored = this.storable(events, (claim) => contending.has(claim));
      this.seq ??= (await this.store.loadHead()).seq;
      const from = this.seq;
      const outcome = await this.store.appendAtOnce(
        contenders,
        stored.map((pending, i) => ({ seq: from + i + 1, subject: pending.event.type, data: JSON.stringify(pending.event), event: pending.event })),
      );
      if ('stored' in outcome) {
        this.seq = from + stored.length;
        return { claimed, stored };
      }
      contenders = contenders.filter((c) => !outcome.taken.has(c.runId));
    }
    throw new InternalError('the embedded database refused claims that were new a moment before');
  }

  /** The events to store: each id once and not stored before, a run's `started` only with its new claim. */
  private storable(events: readonly PendingEvent[], won: (claim: PendingClaim) => boolean): PendingEvent[] {
    const fresh: PendingEvent[] = [];
    const inBatch = new Set<string>();
    for (const pending of events) {
      if (pending.ifClaimed && !won(pending.ifClaimed)) continue;
      if (this.recent.has(pending.event.id) || inBatch.has(pending.event.id)) continue;
      inBatch.add(pending.event.id);
      fresh.push(pending);
    }
    return fresh;
  }
}
