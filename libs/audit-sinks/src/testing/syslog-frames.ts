/** Receiver side of RFC 6587 octet counting, for tests: bytes in, complete messages out. */
export class OctetFrameDecoder {
  private buffer = Buffer.alloc(0);

  push(chunk: Buffer): string[] {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const messages: string[] = [];
    for (;;) {
      const space = this.buffer.indexOf(0x20);
      if (space < 0) break;
      const header = this.buffer.subarray(0, space).toString('ascii');
      if (!/^[1-9]\d*$/.test(header)) throw new Error(`not an octet-counted frame: "${header.slice(0, 20)}"`);
      const length = Number(header);
      if (this.buffer.length < space + 1 + length) break;
      messages.push(this.buffer.subarray(space + 1, space + 1 + length).toString('utf8'));
      this.buffer = this.buffer.subarray(space + 1 + length);
    }
    return messages;
  }
}

export interface ParsedSyslogMessage {
  pri: number;
  version: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sdId: string;
  sd: Record<string, string>;
  msg: string;
}

/** Parses the RFC 5424 messages Rungate writes (one SD element), undoing PARAM-VALUE escapes. */
export function parseSyslogMessage(text: string): ParsedSyslogMessage {
  const header = /^<(\d{1,3})>(\d) (\S+) (\S+) (\S+) (\S+) (\S+) \[/.exec(text);
  if (!header) throw new Error(`not an RFC 5424 message: ${text.slice(0, 80)}`);
  let i = header[0].length;
  const sdIdEnd = text.slice(i).search(/[ \]]/);
  const sdId = text.slice(i, i + sdIdEnd);
  i += sdIdEnd;
  const sd: Record<string, string> = {};
  while (text[i] === ' ') {
    const eq = text.indexOf('="', i);
    const name = text.slice(i + 1, eq);
    i = eq + 2;
    let value = '';
    while (text[i] !== '"') {
      if (text[i] === '\\' && ['"', '\\', ']'].includes(text[i + 1] ?? '')) i += 1;
      value += text[i];
      i += 1;
    }
    sd[name] = value;
    i += 1;
  }
  if (text[i] !== ']' || text[i + 1] !== ' ') throw new Error(`malformed structured data at ${i}`);
  return {
    pri: Number(header[1]),
    version: Number(header[2]),
    timestamp: header[3] as string,
    hostname: header[4] as string,
    appName: header[5] as string,
    procId: header[6] as string,
    msgId: header[7] as string,
    sdId,
    sd,
    msg: text.slice(i + 2),
  };
}
