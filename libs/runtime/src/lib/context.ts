import { readEnvironment, type RungateConfig } from '@rungate/config';
import { KvRunLedger, type AuditSink, type Bus, type RunLedger } from '@rungate/messaging';
import { databaseUrl, openDatabase } from '@rungate/persistence';
import type { IssuedTickets } from '@rungate/tickets';
import type { CustomTransportStrategy } from '@nestjs/microservices';
import type { NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { InternalError } from '@rungate/contracts';

/** The wiring every service shares, built once in bootstrap before Nest starts. */
export interface ServiceContext {
  readonly service: string;
  readonly configFile: string;
  readonly config: ConfigHolder;
  /** Absent in the all-in-one mode, where nothing crosses a broker. */
  readonly nc?: NatsConnection;
  readonly bus: Bus;
  readonly audit: AuditSink;
  /** The transport for request handlers; NATS unless the all-in-one mode supplies its own. */
  readonly transport?: (queue: string) => CustomTransportStrategy;
  /** The replay guard, when not the JetStream KV bucket (the all-in-one mode keeps it in its database). */
  readonly ledger?: RunLedger;
  /** Rungate's own database, when one is shared in-process (the all-in-one mode's PGlite). */
  readonly database?: () => Promise<DataSource>;
  /** The tickets policy signed, for executors in the same process (the all-in-one mode, ADR 25). */
  readonly issuedTickets?: IssuedTickets;
}

/** The run ledger executors claim run ids in: the context's own, else JetStream KV. */
export async function openRunLedger(ctx: ServiceContext): Promise<RunLedger> {
  if (ctx.ledger) return ctx.ledger;
  if (!ctx.nc) throw new InternalError(`${ctx.service}: no run ledger (neither NATS nor an in-process ledger)`);
  return KvRunLedger.open(ctx.nc.jetstream());
}

/** True when the service can reach Rungate's own database (DATABASE_URL, or the in-process one). */
export function hasServiceDatabase(ctx: ServiceContext): boolean {
  return Boolean(ctx.database || readEnvironment().DATABASE_URL);
}

/** Rungate's own database: the in-process one, else a connection to DATABASE_URL. */
export async function openServiceDatabase(ctx: ServiceContext): Promise<DataSource> {
  return ctx.database ? ctx.database() : openDatabase(databaseUrl());
}

/** Where a reloaded configuration came from: the file, and the exact bytes it was parsed from. */
export interface ConfigOrigin {
  file: string;
  content: Buffer;
}

export type ConfigListener = (config: RungateConfig, previous: RungateConfig, origin?: ConfigOrigin) => void;

/** Holds the current configuration; later reloads swap it atomically. */
export class ConfigHolder {
  private listeners: ConfigListener[] = [];

  constructor(private value: RungateConfig) {}

  get current(): RungateConfig {
    return this.value;
  }

  /** `origin`: the file it was read from, when a reload read one (what its audit record names). */
  replace(next: RungateConfig, origin?: ConfigOrigin): void {
    const previous = this.value;
    this.value = next;
    for (const listener of this.listeners) listener(next, previous, origin);
  }

  onChange(listener: ConfigListener): void {
    this.listeners.push(listener);
  }
}

export const SERVICE_CONTEXT = Symbol('SERVICE_CONTEXT');
export const CONFIG = Symbol('CONFIG');
export const BUS = Symbol('BUS');
export const AUDIT_SINK = Symbol('AUDIT_SINK');
export const NATS_CONNECTION = Symbol('NATS_CONNECTION');
