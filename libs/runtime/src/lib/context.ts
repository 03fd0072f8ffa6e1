import type { RungateConfig } from '@rungate/config';
import type { AuditSink, Bus } from '@rungate/messaging';
import type { CustomTransportStrategy } from '@nestjs/microservices';
import type { NatsConnection } from 'nats';

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
}

/** Holds the current configuration; later reloads swap it atomically. */
export class ConfigHolder {
  private listeners: ((config: RungateConfig, previous: RungateConfig) => void)[] = [];

  constructor(private value: RungateConfig) {}

  get current(): RungateConfig {
    return this.value;
  }

  replace(next: RungateConfig): void {
    const previous = this.value;
    this.value = next;
    for (const listener of this.listeners) listener(next, previous);
  }

  onChange(listener: (config: RungateConfig, previous: RungateConfig) => void): void {
    this.listeners.push(listener);
  }
}

export const SERVICE_CONTEXT = Symbol('SERVICE_CONTEXT');
export const CONFIG = Symbol('CONFIG');
export const BUS = Symbol('BUS');
export const AUDIT_SINK = Symbol('AUDIT_SINK');
export const NATS_CONNECTION = Symbol('NATS_CONNECTION');
