/**
 * The services `rungate run` starts, by name. Kept apart from their definitions so the
 * command line can be declared (and `--help` answered) without loading any service's code.
 */
export const SERVICES = ['gateway', 'git-sync', 'policy', 'audit', 'executor-postgres', 'executor-mysql', 'executor-ssh', 'executor-kubernetes', 'executor-shell'] as const;
export type ServiceName = (typeof SERVICES)[number];
