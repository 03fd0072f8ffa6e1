import { ARGV_PLACEHOLDER, type ExploreCommandConfig, type KubernetesConnectionConfig, type SshConnectionConfig } from '@rungate/config';
import type { CommandRequest, KubernetesExploreKind, KubernetesReadRequest } from '@rungate/contracts';
import { RE2JS } from 're2js';

export type Built<T> = { ok: true; value: T } | { ok: false; problem: string };

/** The namespaces a Kubernetes connection lets explorations read: its `explore.namespaces`, else its own namespace. */
export function explorableNamespaces(connection: KubernetesConnectionConfig): string[] {
  return connection.explore?.namespaces ?? [connection.namespace];
}

function namespaceFor(connection: KubernetesConnectionConfig, asked: string | undefined): Built<string> {
  const allowed = explorableNamespaces(connection);
  const namespace = asked ?? connection.namespace;
  return allowed.includes(namespace) ? { ok: true, value: namespace } : { ok: false, problem: `namespace ${namespace} is not readable on ${connection.name}; it allows ${allowed.join(', ')}` };
}

/** `explore_k8s`: one GET of an object, or of a kind's list, in a namespace the connection allows. */
export function objectRead(connection: KubernetesConnectionConfig, args: { kind: KubernetesExploreKind; namespace?: string; name?: string }): Built<KubernetesReadRequest> {
  const namespace = namespaceFor(connection, args.namespace);
  if (!namespace.ok) return namespace;
  return { ok: true, value: { read: 'objects', kind: args.kind, namespace: namespace.value, ...(args.name !== undefined ? { name: args.name } : {}) } };
}

/** `explore_logs`: the tail of one container's log. */
export function logRead(
  connection: KubernetesConnectionConfig,
  args: { pod: string; namespace?: string; container?: string; tailLines: number; sinceSeconds?: number; previous: boolean },
): Built<KubernetesReadRequest> {
  const namespace = namespaceFor(connection, args.namespace);
  if (!namespace.ok) return namespace;
  return {
    ok: true,
    value: {
      read: 'logs',
      namespace: namespace.value,
      pod: args.pod,
      ...(args.container !== undefined ? { container: args.container } : {}),
      tailLines: args.tailLines,
      ...(args.sinceSeconds !== undefined ? { sinceSeconds: args.sinceSeconds } : {}),
      previous: args.previous,
    },
  };
}

const compiled = new Map<string, RE2JS>();
function fullMatch(pattern: string, value: string): boolean {
  let re = compiled.get(pattern);
  if (!re) {
    re = RE2JS.compile(pattern);
    compiled.set(pattern, re);
  }
  return re.matches(value);
}

/**
 * The argv of an allow-listed command with its placeholders filled: each value must match its
 * parameter's pattern whole (RE2, linear time) and becomes exactly one argument. No shell
 * word, no extra argument, no parameter the command does not declare.
 */
export function fillCommand(command: ExploreCommandConfig, args: Record<string, string>): Built<string[]> {
  for (const name of Object.keys(args)) {
    if (!(name in command.params)) return { ok: false, problem: `${command.name} takes no argument ${name}${Object.keys(command.params).length ? ` (it takes ${Object.keys(command.params).join(', ')})` : ''}` };
  }
  const argv: string[] = [];
  for (const element of command.argv) {
    const placeholder = ARGV_PLACEHOLDER.exec(element);
    if (!placeholder) {
      argv.push(element);
      continue;
    }
    const name = placeholder[1] as string;
    const value = args[name];
    const spec = command.params[name];
    if (value === undefined || !spec) return { ok: false, problem: `${command.name} needs argument ${name}` };
    if (value.includes('\u0000') || !fullMatch(spec.pattern, value)) return { ok: false, problem: `argument ${name} of ${command.name} must match ${spec.pattern}` };
    argv.push(value);
  }
  return { ok: true, value: argv };
}

/**
 * Whether an argv is exactly what this allow-listed command produces for some arguments: the
 * same length, every fixed element equal, every placeholder's value matching its pattern. An
 * executor asks this of the argv in a ticket, against its own configuration.
 */
export function isCommandArgv(command: ExploreCommandConfig, argv: readonly string[]): boolean {
  if (argv.length !== command.argv.length) return false;
  return command.argv.every((element, index) => {
    const value = argv[index] as string;
    const placeholder = ARGV_PLACEHOLDER.exec(element);
    if (!placeholder) return value === element;
    const spec = command.params[placeholder[1] as string];
    return spec !== undefined && !value.includes('\u0000') && fullMatch(spec.pattern, value);
  });
}

/** `explore_command`: the command of this name on this host, filled. */
export function commandRead(connection: SshConnectionConfig, name: string, args: Record<string, string>): Built<CommandRequest> {
  const command = connection.explore?.commands.find((candidate) => candidate.name === name);
  if (!command) {
    const known = connection.explore?.commands.map((c) => c.name).join(', ') || 'none';
    return { ok: false, problem: `${connection.name} allows no command ${name} (it allows ${known})` };
  }
  const argv = fillCommand(command, args);
  return argv.ok ? { ok: true, value: { command: command.name, argv: argv.value } } : argv;
}
