/**
 * Docs as tests: the examples in README.md and docs/*.md are run, and the outputs shown in the
 * docs are what that run printed, so a doc that drifts from the code fails the tests.
 *
 * A fenced block whose info string carries `doctest=NAME` belongs to the session NAME:
 *
 *     ```sh doctest=api              shell, run by bash (one process per session, in order)
 *     ```js doctest=io               JavaScript, run by node as one ES module per session
 *     ```python doctest=io-py        Python, run by $HANAMI_PYTHON (or python3)
 *     ```json doctest-output=api     the output of the block just above it
 *
 * An output block holds what its block printed, after `mask()`: values that differ from run to
 * run (ids, tokens, times, durations, memory) read `…`. `HANAMI_DOCS_UPDATE=1` rewrites the
 * output blocks from the run instead of comparing them (then review the diff and commit it).
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

export type Language = 'sh' | 'js' | 'python';

export interface DocBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  language: Language;
  session: string;
  code: string;
  /** The output block that follows it, if any. */
  output?: { line: number; info: string; text: string };
}

const FENCE = /^(\s*)(`{3,})(.*)$/;

/** The doctest blocks of a markdown file, in order. */
export function extractBlocks(file: string, text = readFileSync(file, 'utf8')): DocBlock[] {
  const lines = text.split('\n');
  const blocks: DocBlock[] = [];
  let last: DocBlock | undefined;
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const fence = open[2]!;
    const info = open[3]!.trim();
    let end = i + 1;
    while (end < lines.length && !new RegExp(`^\\s*${fence}\\s*$`).test(lines[end]!)) end++;
    const body = lines.slice(i + 1, end).join('\n');
    const session = /\bdoctest=([\w-]+)/.exec(info)?.[1];
    const outputOf = /\bdoctest-output=([\w-]+)/.exec(info)?.[1];
    if (session) {
      const language = languageOf(info.split(/\s+/)[0]!, file, i + 1);
      last = { file, line: i + 1, language, session, code: body };
      blocks.push(last);
    } else if (outputOf) {
      if (!last || last.session !== outputOf || last.output) throw new Error(`${file}:${i + 1}: an output block for "${outputOf}" must follow a block of that session`);
      last.output = { line: i + 1, info, text: body };
    } else {
      last = undefined;
    }
    i = end;
  }
  return blocks;
}

function languageOf(tag: string, file: string, line: number): Language {
  if (tag === 'sh' || tag === 'bash' || tag === 'console') return 'sh';
  if (tag === 'js' || tag === 'javascript' || tag === 'ts' || tag === 'mjs') return 'js';
  if (tag === 'python' || tag === 'py') return 'python';
  throw new Error(`${file}:${line}: doctest blocks are sh, js or python, not "${tag}"`);
}

/** Keys whose values change from run to run (JSON, with or without spaces after the colon). */
const VOLATILE_KEYS = [
  'id',
  'token',
  'requestId',
  'seconds',
  'samplesPerSecond',
  'peakRssBytes',
  'createdAt',
  'updatedAt',
  'startedAt',
  'finishedAt',
  'expiresAt',
  'leaseUntil',
  'time',
  'hostedBy',
  'runBy',
  'instanceId',
  'memoryBytes',
  'cpu',
  'node',
  'threads',
];

const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g;
const JWT = /\beyJ[\w-]+\.[\w-]+\.[\w-]+/g;
const ISO_TIME = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z\b/g;

/** Replaces what differs between runs by `…`; with `numbers` (an output block's
 *  `mask=numbers`, for tables of timings) every number too. */
export function mask(text: string, numbers = false): string {
  let out = text.replace(JWT, '…').replace(UUID, '…').replace(ISO_TIME, '…');
  if (numbers) {
    out = out.replace(/\b\d+(\.\d+)?\b/g, '…');
    // A table's columns are padded to its values' widths: on a row of masked values the
    // padding varies between runs too, so a run of spaces counts as one.
    out = out.replace(/^.*….*$/gm, (line) => line.replace(/(\S) {2,}/g, '$1 '));
  }
  for (const key of VOLATILE_KEYS) {
    // "key": 12.5 | "key": "text" | "key": null — the value becomes …
    out = out.replace(new RegExp(`("${key}"\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*"|-?\\d[\\d.eE+-]*|null)`, 'g'), '$1…');
  }
  return out.replace(/[ \t]+$/gm, '').replace(/\n+$/, '');
}

export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Where a js session's module is written (inside the package, so `hanami/client` resolves). */
  moduleDir: string;
  python?: string;
}

const MARK = '@@hanami-doctest-block@@';

/** Runs one session's blocks in order; returns each block's output (stdout and stderr). */
export async function runSession(blocks: DocBlock[], options: RunOptions): Promise<string[]> {
  const language = blocks[0]!.language;
  if (blocks.some((b) => b.language !== language)) throw new Error(`session ${blocks[0]!.session} mixes languages`);
  const { program, args } = programFor(language, blocks, options);
  const output = await run(program, args, options);
  const parts = output.split(`${MARK}\n`);
  // parts[0] is whatever came before the first marker (nothing).
  return blocks.map((_, i) => parts[i + 1] ?? '');
}

function programFor(language: Language, blocks: DocBlock[], options: RunOptions): { program: string; args: string[] } {
  if (language === 'sh') {
    // Stops at the first failing command, like a reader who would not go on either.
    const script = ['set -euo pipefail', ...blocks.flatMap((b) => [`printf '%s\\n' '${MARK}'`, b.code])].join('\n');
    return { program: 'bash', args: ['-c', script] };
  }
  if (language === 'js') {
    const file = `${options.moduleDir}/${blocks[0]!.session}.mjs`;
    const code = blocks.map((b) => `console.log(${JSON.stringify(MARK)});\n${b.code}`).join('\n');
    writeFileSync(file, `${code}\n`);
    return { program: process.execPath, args: [file] };
  }
  const script = blocks.map((b) => `print(${JSON.stringify(MARK)}, flush=True)\n${b.code}`).join('\n');
  return { program: options.python ?? 'python3', args: ['-c', script] };
}

function run(program: string, args: string[], options: RunOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(program, args, { cwd: options.cwd, env: options.env, timeout: options.timeoutMs, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${program} failed (${error.message.split('\n')[0]}):\n--- output ---\n${stdout.slice(-4000)}\n--- stderr ---\n${stderr.slice(-4000)}`));
      else resolve(stdout);
    });
    child.stdin?.end();
  });
}

/** Writes `actual` into the output blocks of `blocks` (HANAMI_DOCS_UPDATE=1). */
export function updateOutputs(file: string, blocks: DocBlock[], actual: Map<DocBlock, string>): void {
  const lines = readFileSync(file, 'utf8').split('\n');
  // Bottom-up, so earlier line numbers stay valid.
  for (const block of [...blocks].reverse()) {
    const output = block.output;
    const text = actual.get(block);
    if (!output || text === undefined) continue;
    const start = output.line; // the opening fence's 1-based line = index of the first body line
    let end = start;
    while (end < lines.length && !/^\s*`{3,}\s*$/.test(lines[end]!)) end++;
    lines.splice(start, end - start, ...text.split('\n'));
  }
  writeFileSync(file, lines.join('\n'));
}
