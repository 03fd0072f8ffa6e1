import type { JsonValue } from '@rungate/contracts';

/**
 * PostgreSQL's text output turned into JSON that loses nothing. Rows arrive as the text the
 * server printed (the simple query protocol), and are converted by type OID:
 *
 * | PostgreSQL                              | JSON                                             |
 * |-----------------------------------------|--------------------------------------------------|
 * | int2, int4, oid, float4, float8         | number (NaN / ±Infinity as strings)              |
 * | int8, numeric, money                    | string: exact digits, never rounded to a double  |
 * | bool                                    | boolean                                          |
 * | json, jsonb                             | the parsed value                                 |
 * | timestamptz                             | ISO 8601 in UTC with the server's microseconds (`2024-05-01T12:00:00.123456Z`) |
 * | timestamp (no time zone)                | ISO 8601 without a zone (`2024-05-01T12:00:00.5`) |
 * | timetz                                  | `HH:MM:SS[.ffffff]±HH:MM`                        |
 * | bytea                                   | `\x`-prefixed lowercase hex, as PostgreSQL prints it and accepts it back |
 * | arrays (any element type, any depth)    | JSON arrays of converted elements, NULL as null  |
 * | everything else (text, uuid, date, time, interval, inet, enums, ranges, composites…) | the text PostgreSQL printed |
 *
 * Values that do not look like the ISO forms (a session with another DateStyle, BC dates,
 * infinity) stay exactly as PostgreSQL printed them.
 */

export interface PgTypeInfo {
  /** `int4`, `timestamptz`, `my_enum`; arrays as `int4[]`. */
  name: string;
  /** The element type of an array type. */
  elementOid?: number;
}

const BUILTIN: ReadonlyArray<readonly [number, string, number?]> = [
  [16, 'bool'], [17, 'bytea'], [18, 'char'], [19, 'name'], [20, 'int8'], [21, 'int2'], [23, 'int4'], [25, 'text'],
  [26, 'oid'], [114, 'json'], [142, 'xml'], [600, 'point'], [603, 'box'], [650, 'cidr'], [700, 'float4'], [701, 'float8'],
  [705, 'unknown'], [790, 'money'], [829, 'macaddr'], [869, 'inet'], [1042, 'bpchar'], [1043, 'varchar'], [1082, 'date'],
  [1083, 'time'], [1114, 'timestamp'], [1184, 'timestamptz'], [1186, 'interval'], [1266, 'timetz'], [1560, 'bit'],
  [1562, 'varbit'], [1700, 'numeric'], [2205, 'regclass'], [2249, 'record'], [2278, 'void'], [2950, 'uuid'],
  [3220, 'pg_lsn'], [3614, 'tsvector'], [3802, 'jsonb'], [3904, 'int4range'],
  [143, 'xml[]', 142], [199, 'json[]', 114], [651, 'cidr[]', 650], [791, 'money[]', 790], [1000, 'bool[]', 16],
  [1001, 'bytea[]', 17], [1002, 'char[]', 18], [1003, 'name[]', 19], [1005, 'int2[]', 21], [1007, 'int4[]', 23],
  [1009, 'text[]', 25], [1014, 'bpchar[]', 1042], [1015, 'varchar[]', 1043], [1016, 'int8[]', 20], [1021, 'float4[]', 700],
  [1022, 'float8[]', 701], [1028, 'oid[]', 26], [1041, 'inet[]', 869], [1115, 'timestamp[]', 1114], [1182, 'date[]', 1082],
  [1183, 'time[]', 1083], [1185, 'timestamptz[]', 1184], [1187, 'interval[]', 1186], [1231, 'numeric[]', 1700],
  [1270, 'timetz[]', 1266], [2951, 'uuid[]', 2950], [3807, 'jsonb[]', 3802],
];

/** Built-in type OIDs are fixed across PostgreSQL versions, so they need no catalog lookup. */
export function builtinTypes(): Map<number, PgTypeInfo> {
  return new Map(BUILTIN.map(([oid, name, elementOid]) => [oid, elementOid === undefined ? { name } : { name, elementOid }]));
}

const INT = new Set([21, 23, 26]);
const FLOAT = new Set([700, 701]);
const BOX_ARRAY = 1020;

const TIMESTAMP = /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?([+-]\d{2}(?::\d{2}){0,2})?$/;
const TIME_WITH_ZONE = /^(\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)([+-]\d{2})(?::(\d{2}))?(?::(\d{2}))?$/;

function offsetSeconds(offset: string): number {
  const sign = offset.startsWith('-') ? -1 : 1;
  const [hours = 0, minutes = 0, seconds = 0] = offset.slice(1).split(':').map(Number);
  return sign * (hours * 3600 + minutes * 60 + seconds);
}

/** `2024-05-01 14:00:00.123456+02` → `2024-05-01T12:00:00.123456Z`, keeping every digit. */
export function isoTimestamptz(text: string): string {
  const match = TIMESTAMP.exec(text);
  if (!match || match[8] === undefined) return text;
  const [, year, month, day, hour, minute, second, fraction = '', offset] = match as unknown as string[];
  const instant = new Date(0);
  instant.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  instant.setUTCHours(Number(hour), Number(minute), Number(second), 0);
  const ms = instant.getTime() - offsetSeconds(offset as string) * 1000;
  if (!Number.isFinite(ms)) return text;
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `${fraction}Z`);
}

/** `2024-05-01 14:00:00.5` → `2024-05-01T14:00:00.5` (no zone: PostgreSQL did not store one). */
export function isoTimestamp(text: string): string {
  const match = TIMESTAMP.exec(text);
  if (!match || match[8] !== undefined) return text;
  return text.replace(' ', 'T');
}

/** `14:00:00+02` → `14:00:00+02:00`. */
export function isoTimetz(text: string): string {
  const match = TIME_WITH_ZONE.exec(text);
  if (!match) return text;
  const [, time, hours, minutes = '00', seconds] = match;
  return `${time}${hours}:${minutes}${seconds ? `:${seconds}` : ''}`;
}

/** bytea in hex output is kept; the older escape output is decoded and printed as hex. */
export function hexBytea(text: string): string {
  if (text.startsWith('\\x')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; ) {
    if (text[i] === '\\') {
      if (text[i + 1] === '\\') {
        bytes.push(0x5c);
        i += 2;
      } else {
        bytes.push(parseInt(text.slice(i + 1, i + 4), 8));
        i += 4;
      }
    } else {
      bytes.push(...Buffer.from(text[i] as string, 'latin1'));
      i += 1;
    }
  }
  return `\\x${Buffer.from(bytes).toString('hex')}`;
}

function number(text: string): JsonValue {
  const value = Number(text);
  return Number.isFinite(value) ? value : text;
}

/**
 * Parses PostgreSQL's array output (`{1,2,NULL}`, `{{"a b","c\"d"}}`, `[0:1]={x,y}`) into
 * nested arrays, converting each element. Returns undefined for text it cannot read.
 */
export function parseArrayLiteral(text: string, element: (value: string) => JsonValue): JsonValue[] | undefined {
  let i = 0;
  if (text.startsWith('[')) {
    const equals = text.indexOf('=');
    if (equals < 0) return undefined;
    i = equals + 1;
  }
  const parse = (): JsonValue[] | undefined => {
    if (text[i] !== '{') return undefined;
    i++;
    const items: JsonValue[] = [];
    if (text[i] === '}') {
      i++;
      return items;
    }
    for (;;) {
      if (text[i] === '{') {
        const nested = parse();
        if (!nested) return undefined;
        items.push(nested);
      } else if (text[i] === '"') {
        i++;
        let value = '';
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\') i++;
          value += text[i] ?? '';
          i++;
        }
        if (text[i] !== '"') return undefined;
        i++;
        items.push(element(value));
      } else {
        const start = i;
        while (i < text.length && text[i] !== ',' && text[i] !== '}') i++;
        const value = text.slice(start, i);
        items.push(value === 'NULL' ? null : element(value));
      }
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return items;
      }
      return undefined;
    }
  };
  const result = parse();
  return result && i === text.length ? result : undefined;
}

/** Converts one value as PostgreSQL printed it; `types` supplies element types of arrays. */
export function convertValue(text: string | null, oid: number, types: ReadonlyMap<number, PgTypeInfo>): JsonValue {
  if (text === null) return null;
  if (INT.has(oid) || FLOAT.has(oid)) return number(text);
  switch (oid) {
    case 16:
      return text === 't';
    case 17:
      return hexBytea(text);
    case 114:
    case 3802:
      try {
        return JSON.parse(text) as JsonValue;
      } catch {
        return text;
      }
    case 1114:
      return isoTimestamp(text);
    case 1184:
      return isoTimestamptz(text);
    case 1266:
      return isoTimetz(text);
    default:
      break;
  }
  const elementOid = types.get(oid)?.elementOid;
  if (elementOid !== undefined && oid !== BOX_ARRAY) {
    return parseArrayLiteral(text, (value) => convertValue(value, elementOid, types)) ?? text;
  }
  return text;
}
