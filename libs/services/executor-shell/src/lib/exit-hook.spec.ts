import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@rungate/testing';
import { isRunning } from '../testing/processes';

const ROOT = join(__dirname, '..', '..', '..', '..', '..');

describe('an executor that crashes mid-run', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'rg-shell-crash-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes its runs\' process groups down with it', async () => {
    const pidFile = join(dir, 'pids');
    const crashed = spawnSync(process.execPath, ['-r', 'ts-node/register', '-r', 'tsconfig-paths/register', join(__dirname, '..', 'testing', 'crash-during-run.ts'), dir, pidFile], {
      cwd: ROOT,
      env: { ...process.env, TS_NODE_PROJECT: join(ROOT, 'bench', 'tsconfig.json') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(crashed.stderr).toContain('executor crashed');
    expect(crashed.status).toBe(1);
    const pids = readFileSync(pidFile, 'utf8').trim().split(' ').map(Number);
    expect(pids).toHaveLength(2);
    await eventually(async () => expect(pids.filter(isRunning)).toEqual([]), 5000, 20);
  });
});
