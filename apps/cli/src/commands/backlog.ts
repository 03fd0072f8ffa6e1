import { BacklogItem } from '@rungate/contracts';
import { formatBacklog } from '@rungate/exploration';
import { z } from 'zod';
import { auditApi, withApi, type AuditApiOptions } from './audit-api';

export interface BacklogOptions extends AuditApiOptions {
  since?: string;
  limit: number;
  json?: boolean;
}

/** `rungate backlog`: which runbooks should exist, from what agents asked for and could not do. */
export function showBacklog(options: BacklogOptions): Promise<number> {
  return withApi('rungate backlog', async () => {
    const params = new URLSearchParams({ limit: String(Math.min(options.limit, 500)) });
    if (options.since !== undefined) params.set('since', options.since);
    const { items } = await auditApi(options).get('/audit/backlog', params, z.object({ items: z.array(BacklogItem) }));
    process.stdout.write(options.json ? items.map((item) => `${JSON.stringify(item)}\n`).join('') : formatBacklog(items));
    return 0;
  });
}
