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
 * runbook, and an empty body is still a valid group.
 */
export function scriptInput(body: string): string {
  return `{ :; ${body}\n} </dev/null\n`;
}
