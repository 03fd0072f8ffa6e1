/** `--name value` or `--name=value`. */
export function option(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === name) return args[i + 1];
    if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
  }
  return undefined;
}

export function positional(args: readonly string[]): string[] {
  const result: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg.startsWith('--')) {
      if (!arg.includes('=') && i + 1 < args.length && !(args[i + 1] as string).startsWith('--')) i++;
      continue;
    }
    result.push(arg);
  }
  return result;
}
