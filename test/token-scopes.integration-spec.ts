import { TokenStore, openDatabase } from '@rungate/persistence';
import { createTestDatabase, type TestDatabase } from '@rungate/testing';
import type { DataSource } from 'typeorm';

/** Agent tokens in PostgreSQL: the scopes they were given, and none unless given. */
describe('agent token scopes', () => {
  let pg: TestDatabase;
  let db: DataSource;
  let store: TokenStore;

  beforeAll(async () => {
    pg = await createTestDatabase('rg_token_scopes');
    db = await openDatabase(pg.url);
    store = new TokenStore(db);
  });

  afterAll(async () => {
    await db?.destroy();
    await pg?.drop();
  });

  it('keeps the scopes a token was made with, and gives none by default', async () => {
    const reader = await store.create({ user: 'ines@example.com', agent: 'rungate-cli', ttlMs: 60_000, scopes: ['audit:read', 'audit:read'] });
    const agent = await store.create({ user: 'ines@example.com', agent: 'claude-code', ttlMs: 60_000 });
    expect(reader.record.scopes).toEqual(['audit:read']);
    expect((await store.find(reader.token))?.record.scopes).toEqual(['audit:read']);
    expect((await store.find(agent.token))?.record.scopes).toEqual([]);
    expect((await store.list()).map((t) => [t.agent, t.scopes])).toEqual([
      ['rungate-cli', ['audit:read']],
      ['claude-code', []],
    ]);
  });

  it('grants nothing for a scope this version does not know, written by hand or a newer version', async () => {
    const { token, record } = await store.create({ user: 'ines@example.com', agent: 'x', ttlMs: 60_000 });
    await db.query(`UPDATE agent_tokens SET scopes = '["audit:write", "admin"]'::jsonb WHERE id = $1`, [record.id]);
    expect((await store.find(token))?.record.scopes).toEqual([]);
  });
});
