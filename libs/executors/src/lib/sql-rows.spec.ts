import { RowBudget, rowObject, uniqueColumnNames } from './sql-rows';

describe('SQL rows', () => {
  it('keeps every column of a row, even repeated names and __proto__', () => {
    expect(uniqueColumnNames(['?column?', '?column?', 'a', 'a', 'a_2'])).toEqual(['?column?', '?column?_2', 'a', 'a_2', 'a_2_2']);
    const row = rowObject(['__proto__', 'x'], [1, 2]);
    expect(JSON.stringify(row)).toBe('{"__proto__":1,"x":2}');
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
  });

  it('keeps rows while their JSON fits the byte cap, and no more than the row cap', () => {
    const bytes = new RowBudget(100, 20);
    expect([{ n: 1 }, { n: 2 }, { n: 3 }].map((row) => bytes.offer(row))).toEqual([true, true, false]);
    expect(Buffer.byteLength(JSON.stringify(bytes.rows))).toBeLessThanOrEqual(20);
    expect(bytes).toMatchObject({ truncated: true, open: false });
    const rows = new RowBudget(1, 1000);
    expect([rows.offer({ n: 1 }), rows.offer({ n: 2 })]).toEqual([true, false]);
    expect(rows.rows).toEqual([{ n: 1 }]);
  });
});
