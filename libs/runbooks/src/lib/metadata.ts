import { ConnectionType, type RunbookLanguage, type RunbookMetadata } from '@rungate/contracts';
import type { Position } from './template';

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;

const DEFAULT_CONNECTION_TYPES: Record<RunbookLanguage, ConnectionType[]> = {
  sql: ['postgres'],
  shell: ['ssh', 'shell', 'kubernetes'],
  kubernetes: ['kubernetes'],
};

function parseTimeout(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h)$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
}

/** Reads `@key value` lines from the runbook's leading comment block. */
export function readMetadata(language: RunbookLanguage, source: string): { metadata: RunbookMetadata; findings: { message: string; position: Position }[] } {
  const metadata: RunbookMetadata = {
    timeoutMs: DEFAULT_TIMEOUT_MS,
    readOnly: false,
    destructive: false,
    idempotent: false,
    tags: [],
    connectionTypes: DEFAULT_CONNECTION_TYPES[language],
  };
  const findings: { message: string; position: Position }[] = [];
  const comment = language === 'sql' ? /^\s*--\s?(.*)$/ : /^\s*#\s?(.*)$/;
  const lines = source.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] as string;
    if (index === 0 && line.startsWith('#!')) continue;
    if (line.trim() === '') continue;
    const match = comment.exec(line);
    if (!match) break;
    const text = (match[1] as string).trim();
    if (!text.startsWith('@')) continue;
    const position = { line: index + 1, column: line.indexOf('@') + 1 };
    const [, key = '', rest = ''] = /^@([A-Za-z-]+)\s*(.*)$/.exec(text) ?? [];
    const value = rest.trim();
    switch (key) {
      case 'description':
        metadata.description = metadata.description ? `${metadata.description} ${value}` : value;
        break;
      case 'timeout': {
        const ms = parseTimeout(value);
        if (ms === undefined || ms <= 0 || ms > MAX_TIMEOUT_MS) findings.push({ message: '@timeout takes a duration such as 30s, 5m or 1h (at most 24h)', position });
        else metadata.timeoutMs = ms;
        break;
      }
      case 'readonly':
        metadata.readOnly = true;
        break;
      case 'destructive':
        metadata.destructive = true;
        break;
      case 'idempotent':
        metadata.idempotent = true;
        break;
      case 'tags':
        metadata.tags = value.split(',').map((t) => t.trim()).filter(Boolean);
        break;
      case 'connection-types': {
        const types = value.split(',').map((t) => t.trim()).filter(Boolean);
        const unknown = types.filter((t) => !ConnectionType.safeParse(t).success);
        if (unknown.length || types.length === 0) findings.push({ message: `@connection-types: unknown type(s) ${unknown.join(', ')}; use ${ConnectionType.options.join(', ')}`, position });
        else metadata.connectionTypes = types as ConnectionType[];
        break;
      }
      case 'action':
        if (language !== 'kubernetes' || (value !== 'apply' && value !== 'delete')) findings.push({ message: '@action is apply or delete, for Kubernetes manifests only', position });
        else metadata.action = value;
        break;
      default:
        findings.push({ message: `unknown metadata @${key}; known: @description @timeout @readonly @destructive @idempotent @tags @connection-types @action`, position });
    }
  }
  if (metadata.readOnly && metadata.destructive) findings.push({ message: '@readonly and @destructive contradict each other', position: { line: 1, column: 1 } });
  return { metadata, findings };
}
