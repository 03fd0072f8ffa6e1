import { join } from 'node:path';
import { BROKEN, GET_USER } from '../testing/fixtures';
import { SourceRepository, temporaryDir } from '../testing/source-repository';
import { CatalogBuilder, type TreeSource } from './catalog-builder';
import { gitEnvironment } from './git-environment';
import { GitMirror } from './git-mirror';

describe('CatalogBuilder', () => {
  let source: SourceRepository;
  let mirror: GitMirror;

  beforeEach(() => {
    source = new SourceRepository();
    const dir = join(temporaryDir(), 'ops');
    mirror = new GitMirror({
      dir,
      branch: 'main',
      environment: gitEnvironment({ name: 'ops', url: source.dir }, { secretsDir: join(dir, '..', 's'), resolveSecret: () => '' }),
    });
  });

  afterEach(() => {
    mirror.close();
    source.remove();
  });

  it('lists the runbooks under the sub-folder as tools, with paths relative to it, pinned to the commit', async () => {
    const commit = source.commit({
      'runbooks/postgres/get_user.runbook.sql': GET_USER,
      'runbooks/hosts/uptime.runbook.sh': '# @description Uptime\nuptime\n',
      'runbooks/README.md': 'not a runbook\n',
      'elsewhere/other.runbook.sql': GET_USER,
    });
    await mirror.fetch();
    const { catalog, rejected } = await new CatalogBuilder('ops', 'runbooks').build(mirror, commit, new Date('2026-01-01T00:00:00Z'));
    expect(rejected).toEqual([]);
    expect(catalog).toMatchObject({ repository: 'ops', commit, syncedAt: '2026-01-01T00:00:00.000Z', rejected: [], stale: false });
    expect(catalog.runbooks.map((r) => [r.tool, r.path, r.language])).toEqual([
      ['ops.hosts.uptime', 'hosts/uptime.runbook.sh', 'shell'],
      ['ops.postgres.get_user', 'postgres/get_user.runbook.sql', 'sql'],
    ]);
    const getUser = catalog.runbooks[1];
    expect(getUser).toMatchObject({
      repository: 'ops',
      metadata: { description: 'Look up a user by id', readOnly: true },
      parameters: [{ name: 'user_id', type: 'number', required: true }],
    });
    expect(getUser?.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('withholds broken runbooks with file:line:col findings and publishes the good ones', async () => {
    const commit = source.commit({ 'get_user.runbook.sql': GET_USER, 'find_by_email.runbook.sql': BROKEN });
    await mirror.fetch();
    const { catalog, rejected } = await new CatalogBuilder('ops', undefined).build(mirror, commit);
    expect(catalog.runbooks.map((r) => r.tool)).toEqual(['ops.get_user']);
    expect(catalog.rejected).toEqual([
      { path: 'find_by_email.runbook.sql', line: 2, column: 35, message: expect.stringContaining('cannot stand bare in SQL') },
    ]);
    expect(rejected).toEqual([{ path: 'find_by_email.runbook.sql', sha256: expect.stringMatching(/^[0-9a-f]{64}$/), findings: catalog.rejected }]);
  });

  it('withholds a runbook whose pipeline ends in decoded text standing bare in SQL, as lint does', async () => {
    const decoded = '-- @description Delete by id\nDELETE FROM t WHERE id = {{ .id | type "number" | decodeb64 }};\n';
    const commit = source.commit({ 'get_user.runbook.sql': GET_USER, 'delete.runbook.sql': decoded });
    await mirror.fetch();
    const { catalog } = await new CatalogBuilder('ops', undefined).build(mirror, commit);
    expect(catalog.runbooks.map((r) => r.tool)).toEqual(['ops.get_user']);
    expect(catalog.rejected).toEqual([
      {
        path: 'delete.runbook.sql',
        line: 2,
        column: 26,
        message: expect.stringContaining('decodeb64 makes arbitrary text, which cannot stand bare in SQL whatever the declared type: write {{ .id | type "number" | decodeb64 | squote }}'),
      },
    ]);
  });

  it('rejects files that are not UTF-8, too large, of an unknown kind, or that claim the same tool name', async () => {
    const commit = source.commit({
      'latin1.runbook.sql': Buffer.from([0x53, 0x45, 0x4c, 0x45, 0x43, 0x54, 0x20, 0xe9, 0x3b, 0x0a]),
      'huge.runbook.sql': `-- ${'x'.repeat(1024 * 1024)}\nSELECT 1;\n`,
      'notes.runbook.txt': 'hello\n',
      'a/b.runbook.sql': 'SELECT 1;\n',
      'a/b.runbook.sh': 'true\n',
      'a.b.runbook.sql': 'SELECT 2;\n',
      'ok.runbook.sql': 'SELECT 3;\n',
    });
    await mirror.fetch();
    const { catalog, rejected } = await new CatalogBuilder('ops', undefined).build(mirror, commit);
    expect(catalog.runbooks.map((r) => r.path)).toEqual(['ok.runbook.sql']);
    const reasons = Object.fromEntries(rejected.map((r) => [r.path, r.findings.map((f) => f.message).join('; ')]));
    expect(reasons).toEqual({
      'a.b.runbook.sql': 'tool name ops.a.b is also the name of a/b.runbook.sh, a/b.runbook.sql; rename one of them',
      'a/b.runbook.sh': 'tool name ops.a.b is also the name of a.b.runbook.sql, a/b.runbook.sql; rename one of them',
      'a/b.runbook.sql': 'tool name ops.a.b is also the name of a.b.runbook.sql, a/b.runbook.sh; rename one of them',
      'huge.runbook.sql': 'runbook is larger than 1048576 bytes',
      'latin1.runbook.sql': 'runbook is not valid UTF-8 text',
      'notes.runbook.txt': expect.stringContaining('unsupported runbook extension'),
    });
  });

  it('re-reads only the runbooks a new commit changed', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 50; i++) files[`r${i}.runbook.sql`] = `SELECT ${i};\n`;
    const first = source.commit(files);
    const second = source.commit({ 'r7.runbook.sql': 'SELECT 700;\n' });
    await mirror.fetch();
    const reads: string[] = [];
    const counting: TreeSource = {
      listFiles: (commit, folder) => mirror.listFiles(commit, folder),
      read: (name) => {
        reads.push(name);
        return mirror.read(name);
      },
    };
    const builder = new CatalogBuilder('ops', undefined);
    await builder.build(counting, first);
    expect(reads).toHaveLength(50);
    reads.length = 0;
    const { catalog } = await builder.build(counting, second);
    expect(reads).toHaveLength(1);
    expect(catalog.runbooks).toHaveLength(50);
  });
});
