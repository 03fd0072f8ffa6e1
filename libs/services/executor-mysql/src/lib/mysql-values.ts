import type { JsonValue } from '@rungate/contracts';

/**
 * MySQL's text-protocol values as JSON that loses nothing. mysql2 is configured to hand over
 * big numbers, dates and JSON as the text the server sent (supportBigNumbers +
 * bigNumberStrings, dateStrings, jsonStrings), so no value passes through a lossy type:
 *
 * | MySQL                                   | JSON                                                   |
 * |-----------------------------------------|--------------------------------------------------------|
 * | TINYINT…INT, MEDIUMINT, YEAR, FLOAT, DOUBLE | number                                             |
 * | BIGINT, DECIMAL                         | string: exact digits                                   |
 * | DATETIME                                | ISO 8601 without a zone (`2024-05-01T14:00:00.5`)      |
 * | TIMESTAMP                               | ISO 8601 in UTC (`2024-05-01T12:00:00Z`): the session's time_zone is pinned to +00:00 |
 * | JSON (MySQL's type, MariaDB's JSON format) | the parsed value                                    |
 * | BINARY, VARBINARY, BLOB, BIT, GEOMETRY  | `0x` + lowercase hex, a literal MySQL accepts back      |
 * | everything else (CHAR, TEXT, DATE, TIME, ENUM, SET, zero dates) | the text the server printed    |
 */

/** The parts of a mysql2 column definition the conversion and the column list read. */
export interface MysqlField {
  name: string;
  columnType?: number;
  characterSet?: number;
  flags: number | string[];
  /** MariaDB 10.5+: `uuid`, `inet6`…; and `json` as the format of a JSON (LONGTEXT) column. */
  extendedTypeName?: string;
  extendedFormat?: string;
  /** The table column the values come from (empty for computed columns), for masking's column rules. */
  db?: string;
  orgTable?: string;
  orgName?: string;
}

const BINARY_CHARSET = 63;
const UNSIGNED_FLAG = 32;
const ENUM_FLAG = 256;
const SET_FLAG = 2048;

const TYPE_NAMES: Record<number, string> = {
  0: 'decimal',
  1: 'tinyint',
  2: 'smallint',
  3: 'int',
  4: 'float',
  5: 'double',
  6: 'null',
  7: 'timestamp',
  8: 'bigint',
  9: 'mediumint',
  10: 'date',
  11: 'time',
  12: 'datetime',
  13: 'year',
  14: 'date',
  15: 'varchar',
  16: 'bit',
  245: 'json',
  246: 'decimal',
  247: 'enum',
  248: 'set',
  255: 'geometry',
};
const BLOBS: Record<number, [string, string]> = { 249: ['tinyblob', 'tinytext'], 250: ['mediumblob', 'mediumtext'], 251: ['longblob', 'longtext'], 252: ['blob', 'text'] };
const NUMERIC = new Set([1, 2, 3, 4, 5, 8, 9, 0, 246]);

function hasFlag(field: MysqlField, flag: number): boolean {
  return typeof field.flags === 'number' && (field.flags & flag) !== 0;
}

/** `int`, `bigint unsigned`, `varchar`, `varbinary`, `longtext`, `json`, `uuid` (MariaDB)… */
export function mysqlTypeName(field: MysqlField): string {
  if (field.extendedTypeName) return field.extendedTypeName;
  if (field.extendedFormat === 'json') return 'json';
  const type = field.columnType ?? -1;
  const binary = field.characterSet === BINARY_CHARSET;
  let name: string;
  if (BLOBS[type]) name = (BLOBS[type] as [string, string])[binary ? 0 : 1];
  else if (type === 253) name = binary ? 'varbinary' : 'varchar';
  else if (type === 254) name = hasFlag(field, ENUM_FLAG) ? 'enum' : hasFlag(field, SET_FLAG) ? 'set' : binary ? 'binary' : 'char';
  else name = TYPE_NAMES[type] ?? `type ${type}`;
  return NUMERIC.has(type) && hasFlag(field, UNSIGNED_FLAG) ? `${name} unsigned` : name;
}

const DATETIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$/;

/** Converts one value as mysql2 read it (text, number or bytes) for its column. */
export function convertValue(value: unknown, field: MysqlField): JsonValue {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return `0x${value.toString('hex')}`;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value !== 'string') return String(value);
  const type = field.columnType;
  if (type === 245 || field.extendedFormat === 'json') {
    try {
      return JSON.parse(value) as JsonValue;
    } catch {
      return value;
    }
  }
  // Zero dates ('0000-00-00 00:00:00') are not instants; they stay as printed.
  if ((type === 12 || type === 7) && DATETIME.test(value) && !value.startsWith('0000-00-00')) {
    return `${value.replace(' ', 'T')}${type === 7 ? 'Z' : ''}`;
  }
  return value;
}
