/**
 * The documented examples, run as written (see doctest.ts): README's and docs/cli.md's `hanami`
 * commands, the curl session of docs/api.md, the JavaScript and Python examples of
 * docs/socket-io.md. Each output block in the docs must be what its commands printed.
 *
 * Two things differ from a reader's machine, on purpose: the service the examples talk to runs
 * on a free port (every `http://127.0.0.1:8080` in an example is replaced by its URL, and the
 * URL in the output by `http://127.0.0.1:8080` again), and the shell sessions run in a scratch
 * folder, where `npx hanami` is pointed at this checkout (`npx --prefix <checkout>`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestService, type TestService } from '../server/api/helpers.js';
import { type DocBlock, extractBlocks, mask, runSession, updateOutputs } from './doctest.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const DOC_URL = 'http://127.0.0.1:8080';
/** The passphrase docs/api.md's session logs in with (as `npm start` with it set would have). */
const DOC_ADMIN_PASSPHRASE = 'change-me-please';
const UPDATE = process.env.HANAMI_DOCS_UPDATE === '1';
const python = process.env.HANAMI_PYTHON ?? 'python3';

/** Every session the docs may use, and what it needs. A new session must be listed here. */
const SESSIONS: Record<string, { service: boolean; timeoutMs: number }> = {
  'readme-cli': { service: false, timeoutMs: 300_000 },
  cli: { service: false, timeoutMs: 300_000 },
  api: { service: true, timeoutMs: 300_000 },
  'io-js': { service: true, timeoutMs: 120_000 },
  'io-py': { service: true, timeoutMs: 120_000 },
  'events-js': { service: true, timeoutMs: 120_000 },
  'events-py': { service: true, timeoutMs: 120_000 },
  client: { service: true, timeoutMs: 300_000 },
  remote: { service: true, timeoutMs: 300_000 },
};

const FILES = [
  join(REPO, 'README.md'),
  ...readdirSync(join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(REPO, 'docs', f)),
];

function sessions(): Map<string, DocBlock[]> {
  const out = new Map<string, DocBlock[]>();
  for (const file of FILES) {
    for (const block of extractBlocks(file)) {
      const list = out.get(block.session) ?? [];
      list.push(block);
      out.set(block.session, list);
    }
  }
  return out;
}

function pythonClientAvailable(): boolean {
  return spawnSync(python, ['-c', 'import socketio, requests'], { encoding: 'utf8' }).status === 0;
}

/** Shell helpers the sessions get before their first block (not part of the docs). */
function shellPreamble(): string {
  return [
    // `npx hanami` from a scratch folder runs this checkout's bin, as it would in the checkout.
    `npx() { if [ "\${1:-}" = hanami ]; then shift; command npx --prefix ${JSON.stringify(REPO)} hanami "$@"; else command npx "$@"; fi; }`,
    // docs/cli.md calls the command by its name, as after `npm link` (or a global install).
    `hanami() { command npx --prefix ${JSON.stringify(REPO)} hanami "$@"; }`,
    // The examples name files relative to the checkout (docs/examples/...).
    `ln -s ${JSON.stringify(join(REPO, 'docs'))} docs`,
  ].join('\n');
}

describe('docs as tests', () => {
  let svc: TestService | undefined;
  let scratch: string;
  const found = sessions();

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'hanami-doctest-'));
    svc = await startTestService({ adminPassphrase: DOC_ADMIN_PASSPHRASE, logLevel: 'silent' });
  });
  after(async () => {
    await svc?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('every doctest session in the docs is known, and every known session is in the docs', () => {
    assert.deepEqual([...found.keys()].sort(), Object.keys(SESSIONS).sort());
  });

  for (const [name, setup] of Object.entries(SESSIONS)) {
    const blocks = found.get(name) ?? [];
    const skip = blocks[0]?.language === 'python' && !process.env.HANAMI_PYTHON && !pythonClientAvailable() ? 'python-socketio is not installed (.ci/run installs it)' : false;
    it(
      `session "${name}" (${[...new Set(blocks.map((b) => `${b.file.slice(REPO.length + 1)}:${b.line}`))].join(', ')}) runs and prints what the docs show`,
      { skip, timeout: setup.timeoutMs + 30_000 },
      async () => {
        assert.ok(blocks.length > 0, `no blocks for session ${name}`);
        const cwd = join(scratch, name);
        mkdirSync(cwd, { recursive: true });
        const moduleDir = join(REPO, 'dist', '.doctest');
        mkdirSync(moduleDir, { recursive: true });
        const url = setup.service ? svc!.url : DOC_URL;
        const runnable = blocks.map((b, i) => ({ ...b, code: `${i === 0 && b.language === 'sh' ? `${shellPreamble()}\n` : ''}${b.code.replaceAll(DOC_URL, url)}` }));
        const outputs = await runSession(runnable, {
          cwd,
          moduleDir,
          timeoutMs: setup.timeoutMs,
          python,
          env: { ...process.env, HANAMI_LOG_LEVEL: 'warn', NO_COLOR: '1', XDG_CONFIG_HOME: join(cwd, '.config') },
        });
        const actual = new Map<DocBlock, string>();
        const numbersOf = (b: DocBlock): boolean => /\bmask=numbers\b/.test(b.output?.info ?? '');
        blocks.forEach((b, i) => actual.set(b, mask(outputs[i]!.replaceAll(url, DOC_URL), numbersOf(b))));
        if (UPDATE) {
          for (const file of new Set(blocks.map((b) => b.file)))
            updateOutputs(
              file,
              blocks.filter((b) => b.file === file),
              actual,
            );
          return;
        }
        for (const block of blocks) {
          if (!block.output) continue;
          assert.equal(
            actual.get(block),
            mask(block.output.text, numbersOf(block)),
            `${block.file.slice(REPO.length + 1)}:${block.output.line}: the output shown differs from what the commands above it print (HANAMI_DOCS_UPDATE=1 rewrites it)`,
          );
        }
      },
    );
  }
});
