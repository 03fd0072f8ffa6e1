import { randomUUID } from 'node:crypto';
import { loadConfig } from '@rungate/config';
import { maskingProfileDigest } from '@rungate/masking';
import { AuditEvent, ExecResult, execSubject, type ConnectionType, type RunTicketClaims } from '@rungate/contracts';
import { NatsBus, connectNats, decodeJson } from '@rungate/messaging';
import { createServiceContext, startService, type RunningService, type ServiceDefinition } from '@rungate/runtime';
import { sha256Hex, signTicket, type SigningKey } from '@rungate/tickets';
import type { NatsConnection, Subscription } from 'nats';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '@rungate/test-util';

export interface SignedRequest {
  ticket: string;
  body: string;
  runId: string;
  claims: RunTicketClaims;
}

/** A NATS connection that records every `audit.run.*` event published while it is open. */
export interface RecordingBus {
  nc: NatsConnection;
  bus: NatsBus;
  /** Every `audit.run.*` event published while the harness runs, from any test file. */
  audit: AuditEvent[];
  subscription: Subscription;
}

export async function connectRecordingBus(name: string): Promise<RecordingBus> {
  const nc = await connectNats({ name });
  const audit: AuditEvent[] = [];
  const subscription = nc.subscribe('audit.run.>', {
    callback: (error, msg) => {
      if (error) return;
      const parsed = AuditEvent.safeParse(decodeJson(msg.data));
      if (parsed.success) audit.push(parsed.data);
    },
  });
  await nc.flush();
  return { nc, bus: new NatsBus(nc), audit, subscription };
}

/** What a test ticket says unless a test says otherwise: a valid, unexpired run of `body`. */
export function testClaims(
  body: string,
  run: { path: string; connection: RunTicketClaims['connection']; groups: string[]; rule: string; params?: Record<string, string> },
  overrides: Partial<RunTicketClaims> = {},
): RunTicketClaims {
  const now = Math.floor(Date.now() / 1000);
  return {
    v: 1,
    runId: randomUUID(),
    iat: now,
    exp: now + 30,
    identity: { user: 'alice@example.com', groups: run.groups, agent: 'claude-code', tokenId: 'tok-1' },
    runbook: { repository: 'demo', path: run.path, commit: 'c0ffee0000000000000000000000000000000000', sha256: sha256Hex(body) },
    bodySha256: sha256Hex(body),
    connection: run.connection,
    params: run.params ?? {},
    env: {},
    limits: { timeoutMs: 10_000, maxRows: 1000, maxBytes: 1024 * 1024 },
    readOnly: false,
    dryRun: false,
    rule: run.rule,
    ...overrides,
  };
}

/** Writes public ticket keys into `dir` and returns their `file:` references for tickets.verifyKeys. */
export function writeVerifyKeys(dir: string, publicPems: readonly string[]): string[] {
  return publicPems.map((pem, index) => {
    const file = join(dir, `policy-${index}.ed25519.pub`);
    writeFileSync(file, pem);
    return `file:${file}`;
  });
}

/** The ticket claim policy would sign for a masking profile of the rungate.yaml in `configFile`. */
export function maskingClaimFor(configFile: string, profile: string): NonNullable<RunTicketClaims['masking']> {
  const definition = loadConfig(configFile).masking.find((candidate) => candidate.name === profile);
  if (!definition) throw new Error(`no masking profile ${profile} in ${configFile}`);
  return { profile, sha256: maskingProfileDigest(definition) };
}

export function signedRequest(claims: RunTicketClaims, body: string, key: SigningKey): SignedRequest {
  return { ticket: signTicket(claims, key), body, runId: claims.runId, claims };
}

/**
 * What every executor's test harness shares: real NATS, replicas started in this process,
 * requests on the type's exec subject and the audit events they caused. The AUDIT stream is
 * shared with every other test file, so tests look only at their own run ids and body digests.
 */
export abstract class ExecutorHarnessBase {
  readonly services: RunningService[] = [];
  readonly nc: NatsConnection;
  readonly bus: NatsBus;
  readonly audit: AuditEvent[];
  private readonly subscription: Subscription;

  protected constructor(
    private readonly type: ConnectionType,
    recording: RecordingBus,
  ) {
    this.nc = recording.nc;
    this.bus = recording.bus;
    this.audit = recording.audit;
    this.subscription = recording.subscription;
  }

  /** Starts one executor replica in this process (its own NATS connection, same queue group). */
  protected async startDefinition(definition: ServiceDefinition, configFile: string): Promise<RunningService> {
    const service = await startService(definition, await createServiceContext(definition.name, configFile));
    this.services.push(service);
    return service;
  }

  exec(payload: unknown, timeoutMs = 30_000): Promise<ExecResult> {
    return this.bus.request(execSubject(this.type), payload, ExecResult, { timeoutMs });
  }

  /** Resolves with the error a request was answered with; fails the test if it succeeded. */
  async refusal(payload: unknown): Promise<{ code: string; message: string }> {
    try {
      const result = await this.exec(payload);
      throw new Error(`expected a refusal, got ${JSON.stringify(result)}`);
    } catch (error) {
      const { code, message } = error as { code?: string; message: string };
      if (!code) throw error;
      return { code, message };
    }
  }

  eventsFor(runId: string): AuditEvent[] {
    return this.audit.filter((event) => event.runId === runId);
  }

  /** Waits until the run's events include `types` (the core subscription may trail the reply). */
  async eventually(runId: string, types: string[]): Promise<AuditEvent[]> {
    return eventually(async () => {
      const events = this.eventsFor(runId);
      const seen = events.map((event) => event.type);
      if (!types.every((type) => seen.includes(type))) throw new Error(`run ${runId}: saw ${seen.join(', ') || 'nothing'}, want ${types.join(', ')}`);
      return events;
    }, 10_000);
  }

  /** Refusals of unverified requests carry no run id; they are found by the digest of their body. */
  async refusalByBody(body: string): Promise<AuditEvent> {
    const digest = sha256Hex(body);
    return eventually(async () => {
      const event = this.audit.find((e) => e.details?.['bodySha256'] === digest);
      if (!event) throw new Error(`no audit event for body ${digest}`);
      return event;
    }, 10_000);
  }

  /** Stops the replicas and the recording connection; subclasses then release their own. */
  protected async disconnect(): Promise<void> {
    for (const service of this.services.splice(0)) await service.close();
    this.subscription.unsubscribe();
    await this.nc.drain();
  }
}
