import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configReference, renderConfigReference } from './reference';

describe('configuration reference', () => {
  it('documents every key of the schema', () => {
    const keys = configReference().map((k) => k.key);
    expect(keys).toEqual(expect.arrayContaining(['repositories[].url', 'rules[].runbooks', 'tickets.signingKey', 'gateway.port', 'oidc.issuer']));
  });

  it('is up to date in docs/configuration.md (regenerate with `npm run docs:config`)', () => {
    const committed = readFileSync(join(__dirname, '..', '..', '..', '..', 'docs', 'configuration.md'), 'utf8');
    expect(committed).toBe(renderConfigReference());
  });
});
