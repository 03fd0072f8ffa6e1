/** The `outputSchema` of tools that answer SQL results, runbooks and explorations alike. */
export const sqlOutputSchema = {
  type: 'object',
  properties: {
    runId: { type: 'string' },
    kind: { const: 'sql' },
    columns: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, type: { type: 'string' } } } },
    rows: { type: 'array', items: { type: 'object' } },
    rowCount: { type: 'integer' },
    statements: { type: 'array', items: { type: 'object' } },
    truncated: { type: 'boolean' },
    dryRun: { type: 'boolean' },
    durationMs: { type: 'number' },
  },
  required: ['runId', 'kind', 'columns', 'rows', 'rowCount', 'truncated'],
};

/** The `outputSchema` of tools that answer a process's output: scripts, manifests, reads, host commands. */
export const processOutputSchema = {
  type: 'object',
  properties: {
    runId: { type: 'string' },
    kind: { const: 'process' },
    exitCode: { type: ['integer', 'null'] },
    stdout: { type: 'string' },
    stderr: { type: 'string' },
    truncated: { type: 'boolean' },
    dryRun: { type: 'boolean' },
    durationMs: { type: 'number' },
  },
  required: ['runId', 'kind', 'exitCode', 'stdout', 'stderr', 'truncated'],
};
