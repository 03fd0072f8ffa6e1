import { resolve } from 'node:path';
import { ConfigError, loadConfig, staticTokenHolder } from '@rungate/config';

/**
 * `rungate config check`: validates rungate.yaml the way services do at start. Exit 0 valid,
 * 1 invalid — here a bad file is the finding, not a usage error.
 */
export function checkConfig(options: { config: string }): number {
  const file = resolve(options.config);
  let config;
  try {
    config = loadConfig(file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 1;
  }
  process.stdout.write(
    `${file}: ok (${config.repositories.length} repositories, ${config.connections.length} connections, ${config.rules.length} rules)\n`,
  );
  const now = Date.now();
  config.tokens.forEach((token, index) => {
    if (token.expiresAt && Date.parse(token.expiresAt) <= now) {
      process.stdout.write(`  note: tokens[${index}] (${staticTokenHolder(token)}) expired at ${token.expiresAt}\n`);
    }
  });
  return 0;
}
