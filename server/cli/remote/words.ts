/**
 * Unknown command words ("hanami projct ls", "hanami project lst") are refused before
 * parsing, with the closest known word (server/did-you-mean.ts, as for dataset and template
 * names) and the list of the known ones: exit code 2.
 */
import type { Command } from 'commander';
import { closestName } from '../../did-you-mean.js';
import { CliError } from '../errors.js';

export function checkCommandWords(program: Command, args: readonly string[]): void {
  let command = program;
  const path: string[] = [];
  for (const word of args) {
    if (word.startsWith('-') || command.commands.length === 0) return;
    const names = command.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    if (word === 'help' && path.length === 0) return;
    const next = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!next) {
      const guess = closestName(word, names);
      const where = path.length > 0 ? `${path.join(' ')} ` : '';
      throw new CliError(
        `unknown command "${where}${word}"${guess !== undefined ? ` (did you mean ${where}${guess}?)` : ''}; the ${where ? `verbs of ${path.join(' ')}` : 'commands'} are: ${names.join(', ')}`,
      );
    }
    path.push(word);
    command = next;
  }
}
