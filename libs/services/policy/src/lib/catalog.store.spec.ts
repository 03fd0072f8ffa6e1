import type { MessageHandler } from '@nestjs/microservices';
import { parseConfig } from '@rungate/config';
import { RungateError, Subjects, type RepositoryCatalog } from '@rungate/contracts';
import { InProcessBroker, InProcessBus } from '@rungate/messaging';
import { ConfigHolder, Readiness } from '@rungate/runtime';
import { eventually } from '@rungate/testing';
import { CatalogStore } from './catalog.store';

function catalog(repository: string): RepositoryCatalog {
  return {
    repository,
    commit: 'b'.repeat(40),
    syncedAt: new Date().toISOString(),
    stale: false,
    rejected: [],
    runbooks: [
      {
        repository,
        path: 'status.runbook.sh',
        tool: `${repository}.status`,
        language: 'shell',
        sha256: 'c'.repeat(64),
        metadata: { timeoutMs: 30_000, readOnly: true, destructive: false, idempotent: true, tags: [], connectionTypes: ['shell'] },
        parameters: [],
      },
    ],
  };
}

const yaml = (repositories: string[]) =>
  parseConfig(`repositories: [${repositories.map((name) => `{ name: ${name}, url: /srv/${name} }`).join(', ')}]\n`, 'rungate.yaml');

/** Policy serves the repositories git-sync has, while it keeps asking for the one it lacks. */
describe('CatalogStore with a repository git-sync cannot sync', () => {
  const broker = new InProcessBroker();
  const synced = new Set(['good']);
  let store: CatalogStore;
  let config: ConfigHolder;
  let readiness: Readiness;

  beforeAll(() => {
    // git-sync's side: answers "all" with the repositories it has, as the real one does.
    const answerGet = Object.assign(async () => ({ ok: true, value: { catalogs: [...synced].map(catalog) } }), { isEventHandler: false });
    broker.register(Subjects.catalogGet, answerGet as unknown as MessageHandler);
    config = new ConfigHolder(yaml(['good', 'broken']));
    readiness = new Readiness(undefined);
    store = new CatalogStore(new InProcessBus(broker), config, readiness);
    store.onApplicationBootstrap();
  });

  afterAll(() => store.onApplicationShutdown());

  it('is ready and serves the good repository at once', async () => {
    await eventually(async () => {
      if (!(await readiness.evaluate())['catalog']) throw new Error('not ready');
    });
    expect(store.find('good.status').tool).toBe('good.status');
    expect(store.missing).toEqual(['broken']);
  });

  it('does not serve what it has no catalog for', () => {
    expect(() => store.find('broken.status')).toThrow(RungateError);
    expect(() => store.find('broken.status')).toThrow(/unknown tool/);
  });

  it('picks the repository up once git-sync has it', async () => {
    synced.add('broken');
    await eventually(async () => store.find('broken.status'), 10_000);
    expect(store.missing).toEqual([]);
  });

  it('drops the runbooks of a repository removed from rungate.yaml', async () => {
    config.replace(yaml(['broken']));
    await store.refresh();
    expect(() => store.find('good.status')).toThrow(/unknown tool/);
    expect(store.find('broken.status').repository).toBe('broken');
  });
});
