import type { MessageHandler } from '@nestjs/microservices';
import type { RungateConfig } from '@rungate/config';
import { RungateError, Subjects, ToolsReply, type AuditEvent, type AuditEventInput, type Identity, type RepositoryCatalog } from '@rungate/contracts';
import { InProcessBroker, InProcessBus, InProcessRpcServer, completeAuditEvent, type AuditSink } from '@rungate/messaging';
import { parseRunbook, toolName } from '@rungate/runbooks';
import { ConfigHolder, startService, type RunningService } from '@rungate/runtime';
import { eventually } from '@rungate/testing';
import { sha256Hex } from '@rungate/tickets';
import { policyService } from '../lib/definition';

export class RecordingSink implements AuditSink {
  events: AuditEvent[] = [];
  /** While set, a publish is recorded at once but acknowledged only when this settles: rejected, it is AUDIT_UNAVAILABLE. */
  ack?: Promise<void>;

  async publish(input: AuditEventInput): Promise<AuditEvent> {
    const event = completeAuditEvent(input);
    this.events.push(event);
    if (this.ack) await this.ack.catch(() => Promise.reject(new RungateError('AUDIT_UNAVAILABLE', `the audit stream did not acknowledge ${event.type}; nothing was executed`)));
    return event;
  }
}

function handler(fn: (payload: unknown) => unknown): MessageHandler {
  return Object.assign(async (payload: unknown) => ({ ok: true, value: await fn(payload) }), { isEventHandler: false }) as unknown as MessageHandler;
}

export interface PolicyHarness {
  bus: InProcessBus;
  audit: RecordingSink;
  config: ConfigHolder;
  close(): Promise<void>;
}

/**
 * The policy service over the in-process broker, with git-sync's side of the bus answering
 * from `runbooks` (path → source) in repository `demo`. Resolves once `ready` sees its tools.
 */
export async function startPolicy(config: RungateConfig, runbooks: Record<string, string>, ready: Identity): Promise<PolicyHarness> {
  const broker = new InProcessBroker();
  const bus = new InProcessBus(broker);
  const catalog: RepositoryCatalog = {
    repository: 'demo',
    commit: 'a'.repeat(40),
    syncedAt: new Date().toISOString(),
    stale: false,
    rejected: [],
    runbooks: Object.entries(runbooks).map(([path, source]) => {
      const result = parseRunbook(path, source);
      if (!result.ok) throw new Error(JSON.stringify(result.findings));
      const { language, metadata, parameters, sha256 } = result.runbook;
      return { repository: 'demo', path, tool: toolName('demo', path), language, metadata, parameters: [...parameters], sha256 };
    }),
  };
  broker.register(Subjects.catalogGet, handler(() => ({ catalogs: [catalog] })));
  broker.register(
    Subjects.catalogContent,
    handler((p) => {
      const content = runbooks[(p as { path: string }).path] as string;
      return { content, sha256: sha256Hex(content) };
    }),
  );
  const audit = new RecordingSink();
  const holder = new ConfigHolder(config);
  const policy: RunningService = await startService(policyService, {
    service: 'policy',
    configFile: '',
    config: holder,
    bus,
    audit,
    transport: () => new InProcessRpcServer(broker),
  });
  await eventually(async () => {
    const { tools } = await bus.request(Subjects.policyTools, { identity: ready }, ToolsReply, { timeoutMs: 1000 });
    if (tools.length === 0) throw new Error('catalog not loaded');
  });
  return { bus, audit, config: holder, close: () => policy.close() };
}
