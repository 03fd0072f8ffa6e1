import { auditCommand } from './commands/audit';
import { configCommand } from './commands/config';
import { keysCommand } from './commands/keys';
import { lintCommand } from './commands/lint';
import { policyCommand } from './commands/policy';
import { runServiceCommand } from './commands/run';
import { demoTargetCommand, serveCommand } from './serve/serve';
import { tokenCommand } from './commands/token';

const USAGE = `rungate — runbooks as the only write path for AI agents

usage:
  rungate serve [--config FILE] [--port 8080] [--data-dir .rungate]
                                                                 every service in one process (demo without --config)
  rungate run <service>                                           start one service: gateway, git-sync, policy,
                                                                 audit, executor-{postgres,ssh,kubernetes,shell}
  rungate config check [--config FILE]                           validate rungate.yaml
  rungate keys generate [--out DIR]                              new run-ticket signing keys
  rungate token create --user U --agent A [--ttl 8h] [--runbooks G…] [--connections N…]
  rungate token list | revoke ID                                  agent tokens (DATABASE_URL)
  rungate lint [DIR] [--repository NAME] [--path SUB] [--config FILE]
                                                                 check a runbook repository (and its guardrails)
  rungate audit verify [--database URL] [--from SEQ|TIME] [--stream]
                                                                 recompute the audit hash chain (and compare with AUDIT)
  rungate audit search [--user U] [--agent A] [--runbook R] [--since 24h] [--type T] [--run ID]
                                                                 query the audit trail (RUNGATE_TOKEN of an auditor)
  rungate audit tail [filters]                                    follow new audit events
  rungate policy explain --user U [--agent A] --runbook R --connection C [--param k=v] [--file F]
                                                                 why a call is allowed or denied
`;

async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serveCommand(rest);
    case 'demo-target':
      return demoTargetCommand(rest);
    case 'run':
      return runServiceCommand(rest);
    case 'config':
      return configCommand(rest);
    case 'keys':
      return keysCommand(rest);
    case 'policy':
      return policyCommand(rest);
    case 'lint':
      return lintCommand(rest);
    case 'audit':
      return auditCommand(rest);
    case 'token':
      return tokenCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command: ${command}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`rungate: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
