import { z } from 'zod';
import { RungateEnvironment } from './environment';
import { RungateConfig } from './schema';

export interface ConfigKey {
  key: string;
  type: string;
  required: boolean;
  default?: string;
  description?: string;
}

type JsonSchema = {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  additionalProperties?: boolean | JsonSchema;
  default?: unknown;
  description?: string;
  pattern?: string;
  format?: string;
};

function typeOf(schema: JsonSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return variants.map(typeOf).join(' \\| ');
  if (schema.type === 'array') {
    if (schema.items?.oneOf || schema.items?.anyOf) return 'list of objects (variants below)';
    return `list of ${schema.items ? typeOf(schema.items) : 'any'}`;
  }
  if (schema.type === 'object' && schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    return `map of ${typeOf(schema.additionalProperties)}`;
  }
  if (Array.isArray(schema.type)) return schema.type.join(' \\| ');
  return schema.type ?? 'any';
}

function walk(schema: JsonSchema, prefix: string, required: boolean, out: ConfigKey[]): void {
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants && variants.every((v) => v.type === 'object' && v.properties)) {
    for (const variant of variants) {
      const discriminator = Object.entries(variant.properties ?? {}).find(([, p]) => p.const !== undefined);
      const label = discriminator ? ` (${discriminator[0]}: ${String(discriminator[1].const)})` : '';
      walk({ ...variant, description: schema.description ?? variant.description }, `${prefix}${label}`, required, out);
    }
    return;
  }
  // A bare `list[]` row says nothing its fields don't; variant rows name the variant.
  if (prefix && !(prefix.endsWith('[]') && schema.type === 'object')) {
    out.push({
      key: prefix,
      type: typeOf(schema),
      required,
      ...(schema.default !== undefined ? { default: JSON.stringify(schema.default) } : {}),
      ...(schema.description ? { description: schema.description } : {}),
    });
  }
  if (schema.type === 'object' && schema.properties) {
    for (const [name, child] of Object.entries(schema.properties)) {
      walk(child, prefix ? `${prefix}.${name}` : name, (schema.required ?? []).includes(name) && child.default === undefined, out);
    }
  }
  if (schema.type === 'array' && schema.items && (schema.items.properties || schema.items.oneOf)) {
    walk(schema.items, `${prefix}[]`, false, out);
  }
}

/** Every key of rungate.yaml, straight from the zod schema services validate with. */
export function configReference(): ConfigKey[] {
  const schema = z.toJSONSchema(RungateConfig, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const out: ConfigKey[] = [];
  walk(schema, '', true, out);
  return out;
}

/** Every environment variable Rungate reads (readEnvironment), from the same kind of schema. */
export function environmentReference(): ConfigKey[] {
  const schema = z.toJSONSchema(RungateEnvironment, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const out: ConfigKey[] = [];
  walk(schema, '', true, out);
  return out;
}

export function renderConfigReference(): string {
  const escape = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const rows = (keys: ConfigKey[]) =>
    keys.map((k) => `| \`${k.key}\` | ${k.type} | ${k.required ? 'yes' : ''} | ${k.default ? `\`${escape(k.default)}\`` : ''} | ${escape(k.description ?? '')} |`);
  return [
    '# Configuration reference (`rungate.yaml`)',
    '',
    'Generated from the zod schemas in `libs/config` (`npm run docs:config`); a test fails when it is out of date.',
    'Secrets are references — `env:NAME` or `file:/path` — never literal values. Environment variables are for wiring only (below).',
    '',
    '| key | type | required | default | description |',
    '|---|---|---|---|---|',
    ...rows(configReference()),
    '',
    '## Environment variables',
    '',
    'Read in one place (`readEnvironment`) and validated before a service or command starts: an invalid value is refused',
    'naming the variable (never repeating the value), exit code 2. An empty variable counts as unset.',
    '',
    '| variable | type | required | default | description |',
    '|---|---|---|---|---|',
    ...rows(environmentReference()),
    '',
  ].join('\n');
}
