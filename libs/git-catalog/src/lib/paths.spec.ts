import { catalogPathOf, gitPathOfRunbook, normalizeFolder } from './paths';

describe('runbook paths', () => {
  it('normalizes the configured sub-folder', () => {
    expect(normalizeFolder(undefined)).toBeUndefined();
    expect(normalizeFolder('')).toBeUndefined();
    expect(normalizeFolder('/')).toBeUndefined();
    expect(normalizeFolder('runbooks/')).toBe('runbooks');
    expect(normalizeFolder('./ops//runbooks/')).toBe('ops/runbooks');
    expect(() => normalizeFolder('../elsewhere')).toThrow(/inside the repository/);
  });

  it('maps catalog paths into the sub-folder and serves runbooks only', () => {
    expect(gitPathOfRunbook('runbooks', 'postgres/get_user.runbook.sql')).toBe('runbooks/postgres/get_user.runbook.sql');
    expect(gitPathOfRunbook(undefined, 'get_user.runbook.sql')).toBe('get_user.runbook.sql');
    expect(gitPathOfRunbook('runbooks', 'README.md')).toBeUndefined();
    expect(gitPathOfRunbook('runbooks', '../secrets/x.runbook.sql')).toBeUndefined();
    expect(gitPathOfRunbook('runbooks', '/etc/x.runbook.sql')).toBeUndefined();
    expect(gitPathOfRunbook('runbooks', 'a//b.runbook.sql')).toBeUndefined();
    expect(gitPathOfRunbook('runbooks', './b.runbook.sql')).toBeUndefined();
    expect(gitPathOfRunbook('runbooks', 'a\\b.runbook.sql')).toBeUndefined();
    expect(gitPathOfRunbook('runbooks', 'a.runbook.sql\n')).toBeUndefined();
    expect(gitPathOfRunbook('runbooks', 'x.runbook.dir/notes.md')).toBeUndefined();
  });

  it('maps git paths back to catalog paths', () => {
    expect(catalogPathOf('runbooks', 'runbooks/a/b.runbook.sql')).toBe('a/b.runbook.sql');
    expect(catalogPathOf('runbooks', 'runbooks2/b.runbook.sql')).toBeUndefined();
    expect(catalogPathOf(undefined, 'b.runbook.sql')).toBe('b.runbook.sql');
  });
});
