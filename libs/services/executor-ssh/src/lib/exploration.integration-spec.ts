import { signedRequest } from '@rungate/testing';
import { ExecutorHarness } from '../testing/executor-harness';

/** explore_command (ADR 19): only argv this executor's own explore.commands produce, each word one quoted argument. */
describe('executor-ssh: explorations run allow-listed commands exactly', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await ExecutorHarness.create('explore', {
      connections: ({ sshd }) => `  - name: host-explore
    type: ssh
    host: 127.0.0.1
    port: ${sshd.port}
    user: ${sshd.user}
    hostKey: "${sshd.hostKey}"
    privateKey: file:${sshd.clientKeyFile}
    explore:
      commands:
        - { name: echo-word, argv: [printf, "%s|%s\\\\n", "{word}", fixed], params: { word: { pattern: "[a-z;$ ()|]+" } } }
        - { name: uptime, argv: [uptime] }
`,
    });
    await h.startReplica();
  });

  afterAll(() => h?.close());

  function command(name: string, argv: string[]) {
    const body = JSON.stringify({ command: name, argv });
    const { runbook: _runbook, ...claims } = h.claims(body, { v: 2, readOnly: true, tool: 'explore_command', connection: { name: 'host-explore', type: 'ssh' } });
    return signedRequest({ explore: { tool: 'explore_command', session: `ses_${'2'.repeat(24)}` }, ...claims }, body, h.policyKey);
  }

  it('passes a value as one argument, never expanded by the remote shell', async () => {
    const result = await h.exec(command('echo-word', ['printf', '%s|%s\\n', 'a; echo $(id) | cat', 'fixed']));
    expect(result.output).toMatchObject({ kind: 'process', exitCode: 0, stdout: 'a; echo $(id) | cat|fixed\n' });
  });

  it.each([
    ['an argv the command does not produce', 'echo-word', ['printf', '%s|%s\\n', 'a', 'changed']],
    ['a value outside its pattern', 'echo-word', ['printf', '%s|%s\\n', 'A1', 'fixed']],
    ['an extra argument', 'uptime', ['uptime', '-p']],
    ['a command the host does not allow', 'rm', ['rm', '-rf', '/tmp/x']],
  ])('refuses %s before the host is asked', async (_what, name, argv) => {
    const error = await h.refusal(command(name, argv));
    expect(error).toMatchObject({ code: 'EXPLORATION_REFUSED', message: expect.stringMatching(/host-explore allows no such command in its explore.commands; nothing was executed/) });
  });

  it('refuses an exploration on a host without explore.commands', async () => {
    const body = JSON.stringify({ command: 'uptime', argv: ['uptime'] });
    const { runbook: _runbook, ...claims } = h.claims(body, { v: 2, readOnly: true, tool: 'explore_command' });
    const error = await h.refusal(signedRequest({ explore: { tool: 'explore_command', session: `ses_${'2'.repeat(24)}` }, ...claims }, body, h.policyKey));
    expect(error.code).toBe('EXPLORATION_REFUSED');
  });
});
