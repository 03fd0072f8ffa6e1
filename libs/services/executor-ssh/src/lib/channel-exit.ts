import type { ClientChannel } from 'ssh2';

export interface ChannelExit {
  code: number | null;
  signal?: string;
}

const exits = new WeakMap<ClientChannel, ChannelExit>();

/**
 * Listens for a channel's exit status from inside ssh2's exec callback. ssh2 parses all the
 * packets of one socket read synchronously and emits `exit` as it parses; for a command that
 * fails at once, on a loaded machine, the exit status arrives in the same read as the exec's
 * success — before the promise the pool's `exec` returns lets a session attach a listener.
 * (`close` cannot be missed that way: ssh2 emits it only after the channel's output was read.)
 */
export function recordExit(channel: ClientChannel): void {
  channel.once('exit', (code: number | null, signalName?: string) => exits.set(channel, { code: typeof code === 'number' ? code : null, signal: signalName }));
}

/** The exit status the channel reported so far, if any. */
export function exitOf(channel: ClientChannel): ChannelExit | undefined {
  return exits.get(channel);
}
