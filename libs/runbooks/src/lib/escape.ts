/** Escaping for each lexical context; each function keeps the value inside its context. */

export const sqlSingle = (v: string) => v.replace(/'/g, "''");
export const sqlEString = (v: string) => v.replace(/\\/g, '\\\\').replace(/'/g, "''");
export const sqlIdent = (v: string) => v.replace(/"/g, '""');

export const shellSingle = (v: string) => v.replace(/'/g, "'\\''");
export const shellDouble = (v: string) => v.replace(/[\\$`"]/g, '\\$&');

/** Content of a YAML double-quoted scalar: every break and control character escaped. */
export function yamlDouble(v: string): string {
  let out = '';
  for (const ch of v) {
    const code = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029 || code === 0xfeff) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return out;
}

/** A YAML single-quoted scalar cannot hold line breaks or control characters unchanged. */
export function yamlSingle(v: string): string | undefined {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is being refused
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(v)) return undefined;
  return v.replace(/'/g, "''");
}
