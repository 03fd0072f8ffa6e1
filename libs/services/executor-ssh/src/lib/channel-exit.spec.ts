import { EventEmitter } from 'node:events';
import type { ClientChannel } from 'ssh2';
import { exitOf, recordExit } from './channel-exit';
import { ShellSession } from './shell-session';
import type { SshLink } from './ssh-pool';

/** The events a ClientChannel emits that a session listens to; nothing else is touched here. */
function fakeChannel(): ClientChannel {
  const channel = new EventEmitter() as EventEmitter & { stderr: EventEmitter };
  channel.stderr = new EventEmitter();
  return channel as unknown as ClientChannel;
}

describe('an exit status that comes before the session exists', () => {
  it('is kept: ssh2 may emit it in the same read as the exec success, before the session listens', () => {
    const channel = fakeChannel();
    // What the pool's exec does inside ssh2's callback; then ssh2 parses on and emits exit.
    recordExit(channel);
    channel.emit('exit', 127);
    const session = new ShellSession({} as SshLink, channel, false, () => undefined);
    expect(session.exit).toEqual({ code: 127, signal: undefined });
    expect(session.dead).toBe(true);
  });

  it('a signal, too; and nothing when the channel has not exited', () => {
    const killed = fakeChannel();
    recordExit(killed);
    killed.emit('exit', null, 'KILL');
    expect(exitOf(killed)).toEqual({ code: null, signal: 'KILL' });
    const running = fakeChannel();
    recordExit(running);
    expect(new ShellSession({} as SshLink, running, false, () => undefined).exit).toBeUndefined();
  });
});
