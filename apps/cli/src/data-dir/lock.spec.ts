import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataDirInUse, DataDirLock, dataDirHolder, lockFile } from './lock';

describe('the data directory lock', () => {
  let dir: string;

  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'rg-lock-')), 'data');
  });

  afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

  it('is held by one holder at a time, names it to the next, and is free again once released', () => {
    const lock = DataDirLock.acquire(dir, 'rungate serve');
    expect(dataDirHolder(dir)).toMatchObject({ pid: process.pid, command: 'rungate serve' });
    let refused: unknown;
    try {
      DataDirLock.acquire(dir, 'rungate token list');
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(DataDirInUse);
    expect((refused as Error).message).toMatch(new RegExp(`in use by \`rungate serve\` \\(pid ${process.pid}, since `));
    lock.release();
    expect(existsSync(lockFile(dir))).toBe(false);
    DataDirLock.acquire(dir, 'rungate token list').release();
  });

  it('takes over a lock whose process is gone', () => {
    // A pid that surely ended: a child that has exited and been reaped.
    const { pid } = spawnSync(process.execPath, ['-e', '']);
    mkdirSync(dir, { recursive: true });
    writeFileSync(lockFile(dir), JSON.stringify({ pid, command: 'rungate serve', since: '2020-01-01T00:00:00Z' }));
    expect(dataDirHolder(dir)).toBeUndefined();
    const lock = DataDirLock.acquire(dir, 'rungate token create');
    expect(JSON.parse(readFileSync(lockFile(dir), 'utf8'))).toMatchObject({ pid: process.pid, command: 'rungate token create' });
    lock.release();
  });

  it('does not remove a lock another holder took meanwhile', () => {
    const lock = DataDirLock.acquire(dir, 'first');
    writeFileSync(lockFile(dir), JSON.stringify({ pid: process.pid, command: 'second', since: 'now' }));
    lock.release();
    expect(dataDirHolder(dir)).toMatchObject({ command: 'second' });
  });
});
