import { builtinTypes, convertValue, hexBytea, isoTimestamp, isoTimestamptz, isoTimetz, parseArrayLiteral } from './sql-values';

const types = builtinTypes();
const convert = (text: string | null, oid: number) => convertValue(text, oid, types);

describe('PostgreSQL values as JSON', () => {
  it('keeps int8 and numeric as exact strings and small integers as numbers', () => {
    expect(convert('9223372036854775807', 20)).toBe('9223372036854775807');
    expect(convert('-0.000000000000000000001', 1700)).toBe('-0.000000000000000000001');
    expect(convert('NaN', 1700)).toBe('NaN');
    expect(convert('$1,000.00', 790)).toBe('$1,000.00');
    expect(convert('-32768', 21)).toBe(-32768);
    expect(convert('2147483647', 23)).toBe(2147483647);
    expect(convert('4294967295', 26)).toBe(4294967295);
  });

  it('turns floats into numbers, and the values JSON cannot hold into strings', () => {
    expect(convert('0.1', 701)).toBe(0.1);
    expect(convert('1e+300', 701)).toBe(1e300);
    expect(convert('NaN', 701)).toBe('NaN');
    expect(convert('-Infinity', 700)).toBe('-Infinity');
  });

  it('maps booleans, nulls and json', () => {
    expect(convert('t', 16)).toBe(true);
    expect(convert('f', 16)).toBe(false);
    expect(convert(null, 23)).toBeNull();
    expect(convert('{"a": [1, "x", null]}', 3802)).toEqual({ a: [1, 'x', null] });
    expect(convert('"just a string"', 114)).toBe('just a string');
  });

  it('prints timestamps as ISO 8601, keeping microseconds', () => {
    expect(isoTimestamptz('2024-05-01 14:00:00.123456+02')).toBe('2024-05-01T12:00:00.123456Z');
    expect(isoTimestamptz('2024-05-01 00:30:00+05:30')).toBe('2024-04-30T19:00:00Z');
    expect(isoTimestamptz('1900-01-01 00:00:00+00:53:28')).toBe('1899-12-31T23:06:32Z');
    expect(isoTimestamptz('0099-01-01 00:00:00+00')).toBe('0099-01-01T00:00:00Z');
    expect(isoTimestamptz('infinity')).toBe('infinity');
    expect(isoTimestamptz('2024-05-01 14:00:00+00 BC')).toBe('2024-05-01 14:00:00+00 BC');
    expect(isoTimestamp('2024-05-01 14:00:00.5')).toBe('2024-05-01T14:00:00.5');
    expect(isoTimestamp('05/01/2024 14:00:00')).toBe('05/01/2024 14:00:00');
    expect(isoTimetz('14:00:00+02')).toBe('14:00:00+02:00');
    expect(isoTimetz('14:00:00.25-03:30')).toBe('14:00:00.25-03:30');
    expect(convert('2024-05-01', 1082)).toBe('2024-05-01');
    expect(convert('1 day 02:00:00', 1186)).toBe('1 day 02:00:00');
  });

  it('prints bytea as \\x hex, whatever the server\'s bytea_output', () => {
    expect(convert('\\xdeadbeef', 17)).toBe('\\xdeadbeef');
    expect(hexBytea('a\\000\\\\\\377')).toBe('\\x61005cff');
  });

  it('parses arrays of any depth and converts their elements', () => {
    expect(convert('{1,NULL,3}', 1007)).toEqual([1, null, 3]);
    expect(convert('{{"a b","c\\"d"},{e,NULL}}', 1009)).toEqual([
      ['a b', 'c"d'],
      ['e', null],
    ]);
    expect(convert('{"NULL",""}', 1009)).toEqual(['NULL', '']);
    expect(convert('{}', 1007)).toEqual([]);
    expect(convert('[0:1]={7,8}', 1016)).toEqual(['7', '8']);
    expect(convert('{t,f}', 1000)).toEqual([true, false]);
    expect(convert('{"{\\"a\\": 1}"}', 3807)).toEqual([{ a: 1 }]);
    expect(convert('{"2024-05-01 14:00:00+00"}', 1185)).toEqual(['2024-05-01T14:00:00Z']);
    expect(parseArrayLiteral('{1,2', (v) => v)).toBeUndefined();
  });

  it('converts arrays of types learnt from pg_type, and passes unknown types through as text', () => {
    const learnt = new Map(types);
    learnt.set(90001, { name: 'mood' });
    learnt.set(90002, { name: 'mood[]', elementOid: 90001 });
    expect(convertValue('{ok,happy}', 90002, learnt)).toEqual(['ok', 'happy']);
    expect(convertValue('(1,abc)', 90003, learnt)).toBe('(1,abc)');
  });
});
