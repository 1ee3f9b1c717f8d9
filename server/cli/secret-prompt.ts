/**
 * Reads secrets typed at a terminal without echoing them: the terminal is put in raw mode
 * and each key is handled here (Enter ends a line, Backspace deletes, Ctrl-C / Ctrl-D on an
 * empty line cancel). Keys typed ahead (or pasted) beyond the current line are kept for the
 * next question, so "type it twice" works however fast it is typed.
 */
import type { ReadStream } from 'node:tty';
import { CliError } from './errors.js';

const ENTER = new Set(['\r', '\n']);
const BACKSPACE = new Set(['\u007f', '\b']);
const CTRL_C = '\u0003';
const CTRL_D = '\u0004';
const ESC = '\u001b';

export class SecretPrompt {
  private pending = '';
  private waiting: (() => void) | undefined;
  private readonly onData = (chunk: string): void => {
    this.pending += chunk;
    this.waiting?.();
  };

  constructor(
    private readonly input: ReadStream,
    private readonly output: NodeJS.WritableStream,
  ) {
    input.setRawMode(true);
    input.setEncoding('utf8');
    input.on('data', this.onData);
    input.resume();
  }

  /** Asks `question` and returns what was typed up to Enter, never shown on the terminal. */
  async ask(question: string): Promise<string> {
    this.output.write(question);
    let typed = '';
    for (;;) {
      while (this.pending.length === 0) await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = undefined;
      const chars = [...this.pending];
      this.pending = '';
      for (let i = 0; i < chars.length; i++) {
        const c = chars[i]!;
        if (ENTER.has(c)) {
          // A \r\n pair is one Enter; the rest belongs to the next question.
          const rest = chars.slice(c === '\r' && chars[i + 1] === '\n' ? i + 2 : i + 1);
          this.pending = rest.join('');
          this.output.write('\n');
          return typed;
        }
        if (c === CTRL_C || (c === CTRL_D && typed === '')) {
          this.output.write('\n');
          throw new CliError('cancelled; nothing was changed', 130);
        }
        if (c === ESC) {
          // Arrow and function keys send ESC [ … or ESC O …, ending in a letter or ~: not part of a passphrase.
          if (chars[i + 1] === '[' || chars[i + 1] === 'O') for (i += 2; i < chars.length && !/[A-Za-z~]/.test(chars[i]!); i++);
          continue;
        }
        if (BACKSPACE.has(c)) typed = [...typed].slice(0, -1).join('');
        else if (c >= ' ') typed += c; // other control keys are dropped
      }
    }
  }

  /** Gives the terminal back as it was. */
  close(): void {
    this.input.off('data', this.onData);
    this.input.setRawMode(false);
    this.input.pause();
  }
}
