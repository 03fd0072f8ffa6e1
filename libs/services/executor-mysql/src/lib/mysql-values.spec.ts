import { convertValue, mysqlTypeName } from './mysql-values';

describe('MySQL values', () => {
  const field = (columnType: number, extra: Partial<{ characterSet: number; flags: number; extendedFormat: string; extendedTypeName: string }> = {}) => ({ name: 'c', columnType, flags: 0, ...extra });

  it('names column types as MySQL does', () => {
    expect(mysqlTypeName(field(3))).toBe('int');
    expect(mysqlTypeName(field(8, { flags: 32 }))).toBe('bigint unsigned');
    expect(mysqlTypeName(field(253, { characterSet: 45 }))).toBe('varchar');
    expect(mysqlTypeName(field(253, { characterSet: 63 }))).toBe('varbinary');
    expect(mysqlTypeName(field(252, { characterSet: 45 }))).toBe('text');
    expect(mysqlTypeName(field(251, { characterSet: 63 }))).toBe('longblob');
    expect(mysqlTypeName(field(254, { flags: 256 }))).toBe('enum');
    expect(mysqlTypeName(field(252, { extendedFormat: 'json' }))).toBe('json');
    expect(mysqlTypeName(field(254, { extendedTypeName: 'uuid' }))).toBe('uuid');
  });

  it('keeps exact digits, bytes as 0x hex, dates in ISO form and JSON parsed', () => {
    expect(convertValue('9007199254740993', field(8))).toBe('9007199254740993');
    expect(convertValue(Buffer.from([0xde, 0xad]), field(252, { characterSet: 63 }))).toBe('0xdead');
    expect(convertValue('2024-05-01 14:00:00.5', field(12))).toBe('2024-05-01T14:00:00.5');
    expect(convertValue('2024-05-01 12:00:00', field(7))).toBe('2024-05-01T12:00:00Z');
    expect(convertValue('0000-00-00 00:00:00', field(12))).toBe('0000-00-00 00:00:00');
    expect(convertValue('{"a":[1]}', field(245))).toEqual({ a: [1] });
    expect(convertValue('{not json', field(252, { extendedFormat: 'json' }))).toBe('{not json');
    expect(convertValue(null, field(3))).toBeNull();
  });
});
