import { resolveSecret } from '@rungate/config';
import { RungateError } from '@rungate/contracts';
import type { ConnectionOf } from '@rungate/executors';

/** The PATH a script gets unless the connection's `env` sets one: system binaries, nothing of the executor's own. */
export const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The form rungate.yaml's schema accepts for a secret value; anything else is a literal. */
const SECRET_REFERENCE = /^(env|file):/;

/** Set by the executor (HOME and TMPDIR are the run's own directory) or by the shell itself. */
const EXECUTOR_VARIABLES = new Set(['PATH', 'HOME', 'TMPDIR', 'PWD', 'OLDPWD', 'SHLVL']);

/**
 * Variables that change how the shell parses and starts (BASH_ENV and ENV name a file it
 * runs first) or what the dynamic loader injects into every program. An `asenv` value comes
 * from the caller, so even a reviewed runbook may not route one into these.
 */
const STARTUP_VARIABLES = new Set(['ENV', 'BASH_ENV', 'SHELLOPTS', 'BASHOPTS', 'IFS', 'PS4', 'PROMPT_COMMAND', 'CDPATH', 'GLOBIGNORE', 'BASH_XTRACEFD', 'POSIXLY_CORRECT']);
const STARTUP_PREFIXES = ['LD_', 'DYLD_'];
/**
 * Variables the shell defines itself and bash makes read-only. Parameters are exported by the
 * script's first line (they are not in the environment the shell was spawned with), and
 * exporting one of these is an error — fatal where /bin/sh is bash.
 */
const SHELL_VARIABLES = new Set(['UID', 'EUID', 'PPID', 'BASH_VERSINFO']);

/** A connection's `env` with its secret references resolved, and which values are secrets. */
export interface ConnectionEnvironment {
  readonly variables: Readonly<Record<string, string>>;
  /** Resolved secret values: kept out of replies, logs and audit events. */
  readonly secrets: readonly string[];
}

/**
 * Resolves the connection's declared variables inside the executor. A secret that does not
 * resolve refuses the run before anything starts; the message names the reference, never
 * a value.
 */
export function resolveConnectionEnvironment(connection: ConnectionOf<'shell'>, processEnv: NodeJS.ProcessEnv): ConnectionEnvironment {
  const variables: Record<string, string> = {};
  const secrets: string[] = [];
  for (const [name, value] of Object.entries(connection.env)) {
    if (!SECRET_REFERENCE.test(value)) {
      variables[name] = value;
      continue;
    }
    let secret: string;
    try {
      secret = resolveSecret(value, processEnv);
    } catch (error) {
      throw new RungateError('TARGET_UNAVAILABLE', `connection ${connection.name}: env ${name}: ${(error as Error).message}; nothing was executed`);
    }
    if (secret.includes('\0')) {
      throw new RungateError('TARGET_UNAVAILABLE', `connection ${connection.name}: env ${name}: the secret ${value} holds a NUL byte, which no environment can carry; nothing was executed`);
    }
    variables[name] = secret;
    secrets.push(secret);
  }
  return { variables, secrets };
}

/**
 * Checks the ticket's `asenv` variables before anything runs. Precedence is decided by
 * refusal rather than by silent overriding: a parameter may not replace what the executor
 * sets (PATH, HOME, TMPDIR) or what the connection declares (credentials, a PATH of its
 * own), so a caller can never swap a credential or the binaries a script runs, and a runbook
 * author learns of a clash instead of running with a value nobody passed.
 */
export function checkAsenv(asenv: Readonly<Record<string, string>>, connection: ConnectionEnvironment, connectionName: string): void {
  for (const [name, value] of Object.entries(asenv)) {
    const refuse = (why: string) => new RungateError('INVALID_PARAMS', `asenv ${JSON.stringify(name)}: ${why}; nothing was executed`);
    if (!NAME.test(name)) throw refuse('not a shell variable name');
    if (value.includes('\0')) throw refuse('the value contains a NUL byte, which no environment can carry');
    if (EXECUTOR_VARIABLES.has(name)) throw refuse('the executor sets this variable itself; rename the runbook\'s asenv variable');
    if (SHELL_VARIABLES.has(name)) throw refuse('the shell sets this variable itself (bash makes it read-only); rename the runbook\'s asenv variable');
    if (STARTUP_VARIABLES.has(name) || STARTUP_PREFIXES.some((prefix) => name.startsWith(prefix))) {
      throw refuse('it changes how the shell or the programs it starts behave, so a parameter may not set it; rename the runbook\'s asenv variable');
    }
    if (Object.hasOwn(connection.variables, name)) {
      throw refuse(`connection ${connectionName} declares this variable in its env, and a parameter may not replace it; rename the runbook's asenv variable`);
    }
  }
}

/**
 * The whole environment of a run: nothing of the executor's own. Later entries win, so
 * the order states the precedence even though `checkAsenv` already refused every clash.
 */
export function scriptEnvironment(workdir: string, connection: ConnectionEnvironment, asenv: Readonly<Record<string, string>>): Record<string, string> {
  return { ...asenv, PATH: DEFAULT_PATH, HOME: workdir, TMPDIR: workdir, ...connection.variables };
}
