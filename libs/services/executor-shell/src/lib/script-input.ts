/**
 * How a run with `asenv` parameters gets them: the shell was spawned before the run was
 * admitted (ADR 9), so the parameters are not in its environment; they come with the body,
 * as `export NAME='value'` lines (`shellPrelude`) on the shell's fd 3, read and evaluated
 * before the body's group. All of it is on the body's first line, so a multi-line value
 * does not shift the line numbers in the shell's errors, and fd 3 and the helper variable
 * are gone before the body runs. If the parameters cannot be read, nothing of the body runs.
 */
const READ_PARAMETERS =
  '__rungate_parameters=$(command -p cat <&3) || { echo "rungate: could not read the run\'s parameters" >&2; exit 125; }; ' +
  'exec 3<&-; eval "$__rungate_parameters" || exit 125; unset __rungate_parameters; ';

/**
 * What the shell reads on stdin for a runbook body: the body as one brace group whose
 * stdin is /dev/null.
 *
 * With a bare `sh -s`, the script and its commands share one stdin, so any command that
 * reads input — `psql` without -c, `kubectl exec -i`, `read`, `cat` — would consume the
 * runbook's remaining lines and run them in another interpreter, or hang until the time
 * limit. As one compound command, the whole body is parsed before any of it runs (a syntax
 * error anywhere runs nothing) and every command inside reads an empty stdin; here-documents
 * still feed commands as written.
 *
 * `{ :;` sits on the body's first line, so the shell's line numbers in errors match the
 * runbook, and an empty body is still a valid group. With `parameters`, the line starts by
 * reading them from fd 3 (see READ_PARAMETERS).
 */
export function scriptInput(body: string, parameters = false): string {
  return `${parameters ? READ_PARAMETERS : ''}{ :; ${body}\n} </dev/null\n`;
}
