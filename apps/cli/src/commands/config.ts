import { ConfigError, configPath, loadConfig } from '@rungate/config';

/** `rungate config check [--config FILE]`: validates rungate.yaml the way services do at start. */
export function configCommand(args: string[]): number {
  if (args[0] !== 'check') {
    process.stderr.write('usage: rungate config check [--config FILE]\n');
    return 2;
  }
  const file = configPath(args);
  try {
    const config = loadConfig(file);
    process.stdout.write(
      `${file}: ok (${config.repositories.length} repositories, ${config.connections.length} connections, ${config.rules.length} rules)\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
    return 1;
  }
}
