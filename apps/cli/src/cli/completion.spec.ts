import { buildProgram } from '../program';
import { completions } from './completion';

const complete = (...words: string[]) => completions(buildProgram(), words);

describe('rungate completion', () => {
  it('offers the commands, without the hidden ones', () => {
    expect(complete('')).toEqual(['serve', 'run', 'config', 'keys', 'token', 'console', 'lint', 'audit', 'approve', 'reject', 'runs', 'sessions', 'runbooks', 'backlog', 'policy', 'completion']);
    expect(complete('sessions', '')).toEqual(['list', 'show', 'review']);
    expect(complete('runs', '')).toEqual(['show']);
    expect(complete('d')).toEqual([]);
  });

  it('offers sub-commands, then their options', () => {
    expect(complete('token', '')).toEqual(['create', 'list', 'revoke']);
    expect(complete('token', 'create', '--u')).toEqual(['--user']);
    expect(complete('serve', '--')).toEqual(expect.arrayContaining(['--config', '--port', '--audit-port', '--host', '--data-dir', '--help']));
  });

  it('offers the choices of an option or an argument, and leaves free values to the shell', () => {
    expect(complete('audit', 'search', '--order', '')).toEqual(['asc', 'desc']);
    expect(complete('run', 'executor-p')).toEqual(['executor-postgres']);
    expect(complete('serve', '--config', '')).toEqual([]);
  });
});
