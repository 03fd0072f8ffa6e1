import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigReference } from '@rungate/config';

writeFileSync(join(__dirname, '..', 'docs', 'configuration.md'), renderConfigReference());
