import { spawnSync } from 'node:child_process';
import { scriptInput } from './script-input';

/** Feeds a body to a real shell exactly as the executor does, with something waiting on stdin. */
function runThrough(shell: string, body: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(shell, ['-s'], { input: scriptInput(body), env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe.each(['/bin/sh', '/bin/bash'])('scriptInput through %s', (shell) => {
  it('gives commands an empty stdin, so they cannot swallow the rest of the runbook', () => {
    const result = runThrough(shell, 'echo before\ncat\nread line || echo "read nothing"\necho after');
    expect(result).toEqual({ status: 0, stdout: 'before\nread nothing\nafter\n', stderr: '' });
  });

  it('still feeds here-documents to the commands that use them', () => {
    const result = runThrough(shell, "tr a-z A-Z <<'EOF'\nhello $HOME\nEOF\necho done");
    expect(result.stdout).toBe('HELLO $HOME\ndone\n');
  });

  it('runs nothing of a body with a syntax error anywhere', () => {
    const result = runThrough(shell, 'echo ran-first-line\nif then fi');
    expect(result.stdout).toBe('');
    expect(result.status).not.toBe(0);
  });

  it('reports errors at the runbook\'s own line numbers', () => {
    const result = runThrough(shell, '# a comment\necho ok\nno-such-command-here');
    expect(result.stderr).toMatch(/(line )?3: no-such-command-here: (command )?not found/);
    expect(result.status).toBe(127);
  });

  it('keeps exit codes, and a shebang or a final comment without newline changes nothing', () => {
    expect(runThrough(shell, '#!/bin/bash\necho one\nexit 7\necho never').status).toBe(7);
    expect(runThrough(shell, 'echo tail # no newline at the end').stdout).toBe('tail\n');
    expect(runThrough(shell, '').status).toBe(0);
  });
});
