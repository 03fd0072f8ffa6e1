import { runCli } from './program';

runCli(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`rungate: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
