import { isIP } from 'node:net';
import { Duration, SecretRef } from './primitives';
import { z } from 'zod';

/** `audit.sinks` of rungate.yaml: SIEM deliveries hosted by the audit service (libs/audit-sinks). */

/** Sink names become JetStream consumer names (`rungate-sink-<name>`), so they stay token-safe. */
export const SinkName = z
  .string()
  .max(48)
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'use lowercase letters, digits, "-" and "_", starting with a letter or digit');

export const SinkStart = z
  .union([
    z.enum(['all', 'new']),
    z.strictObject({ sequence: z.number().int().positive().describe('first AUDIT stream sequence to deliver') }),
    z.strictObject({ time: z.iso.datetime({ offset: true }).describe('deliver events stored at or after this RFC 3339 time') }),
  ])
  .describe('where a NEW sink starts on the AUDIT stream (all, new, {sequence}, {time}); an existing sink always resumes where it stopped');
export type SinkStart = z.infer<typeof SinkStart>;

export const SinkRetry = z
  .strictObject({
    initialDelay: Duration.default(1000).describe('first backoff after a failed delivery'),
    maxDelay: Duration.default(60_000).describe('backoff cap; a failing sink is retried at this pace forever'),
    alertAfter: z.number().int().positive().default(5).describe('consecutive failures after which every failure is logged as an error'),
  })
  .refine((r) => r.maxDelay >= r.initialDelay, { message: 'maxDelay must not be below initialDelay', path: ['maxDelay'] });

const common = {
  name: SinkName.describe('unique sink name; the durable consumer is rungate-sink-<name>'),
  format: z.enum(['native', 'ocsf']).default('native').describe('native: the AuditEvent JSON as stored; ocsf: OCSF 1.1 API Activity (docs/siem.md)'),
  subject: z
    .string()
    .regex(/^audit(\.([A-Za-z0-9_-]+|\*))*(\.>)?$/, 'a subject filter inside audit.>, e.g. audit.> or audit.run.>')
    .refine((s) => s !== 'audit', 'use audit.> for every event')
    .default('audit.>')
    .describe('only events on these subjects go to the sink'),
  start: SinkStart.default('all'),
  timeout: Duration.default(10_000).describe('per delivery attempt (request or socket write); ack wait is derived from it'),
  batch: z
    .strictObject({ maxEvents: z.number().int().min(2).max(1000).describe('events per delivery') })
    .optional()
    .describe('off by default: one event per delivery. On: a webhook POSTs a JSON array, syslog writes several frames at once'),
  retry: SinkRetry.default({ initialDelay: 1000, maxDelay: 60_000, alertAfter: 5 }),
};

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export const WebhookSinkConfig = z.strictObject({
  type: z.literal('webhook'),
  ...common,
  url: z
    .url()
    .superRefine((value, ctx) => {
      if (!URL.canParse(value)) return;
      const url = new URL(value);
      if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'no credentials in the URL; the HMAC secret authenticates deliveries' });
      if (url.protocol === 'https:') return;
      if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
      ctx.addIssue({ code: 'custom', message: 'must be https:// (http:// only for a loopback address)' });
    })
    .describe('HTTPS endpoint that receives POSTed JSON; http:// only for loopback'),
  secret: SecretRef.describe('HMAC-SHA256 key for X-Rungate-Signature'),
  ca: z.string().min(1).optional().describe('PEM file of the CA that signed the receiver certificate (default: system CAs)'),
});
export type WebhookSinkConfig = z.infer<typeof WebhookSinkConfig>;

const FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  ntp: 12, security: 13, console: 14, solaris_cron: 15, local0: 16, local1: 17, local2: 18, local3: 19, local4: 20,
  local5: 21, local6: 22, local7: 23,
} as const;

export const SyslogSinkConfig = z
  .strictObject({
    type: z.literal('syslog'),
    ...common,
    host: z.string().min(1).describe('syslog receiver host'),
    port: z.number().int().min(1).max(65535).optional().describe('default 6514 with tls, 601 without'),
    tls: z.boolean().default(false).describe('RFC 5425 TLS; the receiver certificate is always verified'),
    ca: z.string().min(1).optional().describe('PEM file of the CA that signed the receiver certificate (default: system CAs)'),
    servername: z.string().min(1).optional().describe('name the receiver certificate must carry (default: host)'),
    facility: z
      .union([z.enum(Object.keys(FACILITIES) as [keyof typeof FACILITIES, ...(keyof typeof FACILITIES)[]]), z.number().int().min(0).max(23)])
      .default('authpriv')
      .transform((f) => (typeof f === 'number' ? f : FACILITIES[f]))
      .describe('name or number 0-23'),
    hostname: z
      .string()
      .regex(/^[!-~]{1,255}$/, 'printable ASCII without spaces')
      .optional()
      .describe('HOSTNAME field (default: the machine hostname)'),
    structuredDataId: z
      .string()
      .max(32)
      .regex(/^[!#-<>-?A-\\^-~]+@\d+(\.\d+)*$/, 'name@<private enterprise number>, at most 32 characters')
      .default('rungate@32473')
      .describe('SD-ID of the event element; 32473 is the documentation PEN of RFC 5612'),
  })
  .refine((s) => s.tls || (s.ca === undefined && s.servername === undefined), {
    message: 'ca and servername need tls: true',
    path: ['tls'],
  });
export type SyslogSinkConfig = z.infer<typeof SyslogSinkConfig>;

export const AuditSinkConfig = z.discriminatedUnion('type', [WebhookSinkConfig, SyslogSinkConfig]);
export type AuditSinkConfig = z.infer<typeof AuditSinkConfig>;
export type AuditSinkConfigInput = z.input<typeof AuditSinkConfig>;

/** The whole `audit.sinks` list: names are unique because each owns a durable consumer. */
export const AuditSinkConfigs = z.array(AuditSinkConfig).superRefine((sinks, ctx) => {
  const seen = new Set<string>();
  sinks.forEach((sink, index) => {
    if (seen.has(sink.name)) ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `duplicate sink name "${sink.name}"` });
    seen.add(sink.name);
  });
});

