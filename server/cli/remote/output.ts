/**
 * How the remote commands print: aligned tables for people, `--json` for scripts (one JSON
 * object, or one per line for lists and follows), colour and progress bars only on a terminal
 * (stdout a TTY and NO_COLOR unset).
 */
import cliProgress from 'cli-progress';

export interface OutputOptions {
  json: boolean;
}

/** Whether decorations (colour, progress bars) may be used. */
export function decorated(): boolean {
  return process.stdout.isTTY === true && process.stderr.isTTY === true && !('NO_COLOR' in process.env && process.env.NO_COLOR !== '');
}

function bold(s: string): string {
  return decorated() ? `\u001b[1m${s}\u001b[22m` : s;
}

export type Column<R> = [header: string, value: (row: R) => unknown];

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Math.round(v * 10000) / 10000);
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Columns padded to their widest cell (the last one is not padded). */
export function table<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const cells = rows.map((r) => columns.map(([, value]) => cell(value(r))));
  const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[bold(line(columns.map(([h]) => h.toUpperCase()))), ...cells.map(line)].join('\n')}\n`;
}

export function printList<R>(rows: readonly R[], columns: readonly Column<R>[], o: OutputOptions): void {
  if (o.json) for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
  else process.stdout.write(table(rows, columns));
}

/** One object: `key  value` lines for people, one JSON line for scripts. */
export function printOne(value: object, o: OutputOptions, fields?: readonly Column<never>[]): void {
  if (o.json) {
    process.stdout.write(`${JSON.stringify(value)}\n`);
    return;
  }
  const entries: [string, unknown][] = fields ? fields.map(([h, f]) => [h, f(value as never)]) : Object.entries(value);
  const width = Math.max(...entries.map(([k]) => k.length));
  for (const [k, v] of entries) process.stdout.write(`${bold(k.padEnd(width))}  ${cell(v)}\n`);
}

/** A line for people (nothing in --json mode, where the object says it). */
export function say(message: string, o: OutputOptions): void {
  if (!o.json) process.stdout.write(`${message}\n`);
}

export interface Bar {
  update(value: number, payload?: Record<string, unknown>): void;
  stop(): void;
}

/** A progress bar on stderr when decorated and not --json; otherwise nothing. */
export function progressBar(o: OutputOptions, format: string, total: number, payload: Record<string, unknown> = {}): Bar {
  if (o.json || !decorated()) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format, hideCursor: true, etaBuffer: 20 }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, payload);
  let stopped = false;
  return {
    update: (value, p) => bar.update(value, p ?? {}),
    stop: () => {
      if (!stopped) bar.stop();
      stopped = true;
    },
  };
}
