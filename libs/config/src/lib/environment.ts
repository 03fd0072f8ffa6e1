import { z } from 'zod';
import { ConfigError, issuesToProblems } from './load';

const NATS_PROTOCOLS = ['nats:', 'tls:', 'ws:', 'wss:'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const port = z
  .string()
  .regex(/^\d{1,5}$/, 'must be a port number (0-65535)')
  .transform(Number)
  .refine((value) => value <= 65_535, 'must be a port number (0-65535)');

/** A URL with one of `protocols`; messages never repeat the value, which may carry a password. */
const url = (protocols: readonly string[], what: string) =>
  z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `must be ${what}`);

const natsServers = z.string().refine(
  (value) =>
    value.split(',').every((server) => {
      try {
        return NATS_PROTOCOLS.includes(new URL(server).protocol);
      } catch {
        return false;
      }
    }),
  'must be nats:// (or tls://, ws://, wss://) URLs, separated by commas',
);

/**
 * Every environment variable Rungate itself reads, validated at once: the wiring of a process
 * (where its config, NATS and database are, its ports and log level). What a deployment
 * configures lives in rungate.yaml; secrets a connection names (`env:NAME`) are resolved
 * where they are used. An invalid value is refused with the variable's name, never its value.
 */
export const RungateEnvironment = z.object({
  RUNGATE_CONFIG: z.string().optional().describe('rungate.yaml to read, unless --config names one'),
  NATS_URL: natsServers.default('nats://127.0.0.1:4222').describe('the NATS servers of the distributed mode, separated by commas'),
  RUNGATE_SUBJECT_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]*$/, 'may hold only letters, digits, "-" and "_"')
    .default('')
    .describe("prefix of every request subject, for deployments (or test runs) sharing one NATS; the AUDIT stream's subjects are not prefixed"),
  DATABASE_URL: url(['postgres:', 'postgresql:'], 'a postgres:// URL')
    .optional()
    .describe("Rungate's own PostgreSQL database (policy, audit); rungate serve uses it instead of its embedded one"),
  PORT: port.optional().describe("the gateway's port (0-65535), over gateway.port; for rungate serve, as --port"),
  HEALTH_PORT: port.optional().describe('a port for /healthz and /readyz on services that serve no HTTP of their own'),
  HEALTH_HOST: z.string().min(1).default('0.0.0.0').describe('the address HEALTH_PORT listens on'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info').describe('the lowest level logged'),
  RUNGATE_AUDIT_URL: url(['http:', 'https:'], 'an http:// or https:// URL')
    .optional()
    .describe("the audit query API the CLI's audit commands ask, unless --url names one"),
  RUNGATE_GATEWAY_URL: url(['http:', 'https:'], 'an http:// or https:// URL')
    .optional()
    .describe("the gateway the CLI's approver commands ask (rungate approve, reject, runs), unless --url names one"),
  RUNGATE_TOKEN: z
    .string()
    .optional()
    .describe('the token the CLI sends to the audit query API and the gateway (for approve, reject and runs: a human token), unless --token-file names one'),
});
export type RungateEnvironment = z.output<typeof RungateEnvironment>;

/**
 * The environment, validated: the one place Rungate reads its own variables. An empty
 * variable counts as unset (`export NATS_URL=`); other variables are left alone.
 */
export function readEnvironment(env: NodeJS.ProcessEnv = process.env): RungateEnvironment {
  const own: Record<string, string> = {};
  for (const name of Object.keys(RungateEnvironment.shape)) {
    const value = env[name];
    if (value !== undefined && value !== '') own[name] = value;
  }
  const result = RungateEnvironment.safeParse(own);
  if (!result.success) throw new ConfigError('the environment', issuesToProblems(result.error.issues));
  return result.data;
}
