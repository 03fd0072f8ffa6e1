import type { CommandUnknownOpts } from '@commander-js/extra-typings';

/**
 * What may come next on a `rungate` command line whose words are `words` (the last one being
 * typed, perhaps empty): sub-commands, then options, an option's or argument's choices. Read
 * from the program itself through commander's Help, so hidden commands stay hidden and a new
 * option completes without anyone remembering to add it. Empty: let the shell complete files.
 */
export function completions(program: CommandUnknownOpts, words: readonly string[]): string[] {
  const typed = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  let command = program;
  for (const word of before) command = command.commands.find((sub) => sub.name() === word) ?? command;
  const help = command.createHelp();
  const options = help.visibleOptions(command);
  const previous = before.at(-1);
  const valueFor = previous?.startsWith('-') ? options.find((o) => (o.long === previous || o.short === previous) && (o.required || o.optional)) : undefined;
  const starting = (candidates: readonly string[]) => candidates.filter((c) => c.startsWith(typed));
  if (valueFor) return starting(valueFor.argChoices ?? []);
  if (typed.startsWith('-')) return starting(options.flatMap((o) => (o.long ? [o.long] : [])));
  const commands = help.visibleCommands(command).map((c) => c.name()).filter((name) => name !== 'help');
  if (commands.length > 0) return starting(commands);
  return starting(command.registeredArguments.flatMap((a) => a.argChoices ?? []));
}

/**
 * `eval "$(rungate completion)"` in ~/.bashrc (zsh: after `autoload -U bashcompinit &&
 * bashcompinit`). The function asks the very command being completed (`$1`), so completion
 * matches the installed version.
 */
export const BASH_COMPLETION = `# rungate shell completion: eval "$(rungate completion)" (zsh: autoload -U bashcompinit && bashcompinit first)
_rungate_complete() {
  local IFS=$'\\n'
  COMPREPLY=($("$1" __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _rungate_complete rungate
`;
