/**
 * The package's `bin` (bin/hanami.js) and `npx hanami`: the root package has no install
 * scripts (npm 11's strict-allow-scripts refuses them when npx links the package), and the
 * launcher builds dist/ itself when it is missing or older than the sources.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/** Repository root (this file runs as dist/test/server/cli/launcher.test.js). */
const ROOT = resolve(fileURLToPath(new URL('../../../../', import.meta.url)));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string>; scripts: Record<string, string> };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('NODE_TEST') && k !== 'NODE_OPTIONS' && k !== 'HANAMI_BACKEND') env[k] = v;
  return { ...env, ...extra };
}

function runIn(cwd: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { cwd, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

/** npx beside this Node (as npm installs it), else the one on PATH. */
function npxCommand(): string {
  const beside = join(dirname(process.execPath), 'npx');
  return existsSync(beside) ? beside : 'npx';
}

let tmp = '';
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'hanami-launcher-'));
});
after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the package: no install scripts, a launcher as bin', () => {
  it('npm ci shows the native build instead of a silent spinner, and README names what it needs', () => {
    const npmrc = readFileSync(join(ROOT, '.npmrc'), 'utf8');
    assert.match(npmrc, /^foreground-scripts=true$/m, "install scripts (better-sqlite3's compile) print their output");
    assert.match(npmrc, /^strict-allow-scripts=true$/m);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const prerequisites = /## Prerequisites\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
    for (const needed of [
      'Node.js ≥ 20.19',
      'python3',
      'make',
      'g++',
      'npm_config_nodedir',
      'HANAMI_TEST_MONGO_URL',
      'chromium',
      'kubernetes-validate',
      'hadolint',
      'ansible-lint',
      'python-socketio',
    ]) {
      assert.ok(prerequisites.includes(needed), `README's prerequisites name ${needed}`);
    }
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    const minor = /^>=(\d+\.\d+)/.exec(engines)?.[1];
    assert.ok(minor && prerequisites.includes(`≥ ${minor}`), `the Node version is the engines one (${engines})`);
  });

  it('has no lifecycle install scripts (npx refuses them under strict-allow-scripts)', () => {
    for (const name of ['preinstall', 'install', 'postinstall', 'prepare', 'preprepare', 'postprepare', 'prepublish']) {
      assert.equal(PKG.scripts[name], undefined, `package.json must not have a "${name}" script`);
    }
    assert.deepEqual(PKG.bin, { hanami: 'bin/hanami.js' });
    assert.ok(statSync(join(ROOT, PKG.bin.hanami)).mode & 0o111, 'the launcher is executable');
  });

  it('npx hanami --version and info --json work from the repository root with its .npmrc', { timeout: 240_000 }, async () => {
    // The regression needs the project's strict setting in effect.
    assert.match(readFileSync(join(ROOT, '.npmrc'), 'utf8'), /^strict-allow-scripts=true$/m);
    // An empty npm cache: npx links this package into it afresh (no network needed).
    const env = { npm_config_cache: join(tmp, 'npm-cache'), npm_config_update_notifier: 'false' };
    const version = await runIn(ROOT, npxCommand(), ['hanami', '--version'], env);
    assert.equal(version.code, 0, `npx hanami --version failed:\n${version.stderr}`);
    assert.equal(version.stdout.trim(), PKG.version);
    const info = await runIn(ROOT, npxCommand(), ['hanami', 'info', '--json'], env);
    assert.equal(info.code, 0, `npx hanami info --json failed:\n${info.stderr}`);
    const lines = info.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `one JSON line on stdout, got:\n${info.stdout}`);
    assert.equal((JSON.parse(lines[0]!) as { version: unknown }).version, PKG.version);
  });
});

describe('bin/hanami.js builds dist/ when it is missing or stale', () => {
  /** A checkout without dist/: the sources, the configuration and the installed node_modules. */
  let checkout = '';
  const launch = (...args: string[]) => runIn(checkout, process.execPath, [join(checkout, 'bin', 'hanami.js'), ...args]);
  const entry = () => join(checkout, 'dist', 'server', 'cli', 'main.js');

  before(() => {
    checkout = join(tmp, 'checkout');
    for (const part of ['package.json', 'tsconfig.json', 'bin', 'scripts', 'client', 'server', 'kernels', 'cpu-fallback']) {
      cpSync(join(ROOT, part), join(checkout, part), { recursive: true, filter: (src) => !src.includes('node_modules') });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'), 'dir');
  });

  it("first run: builds, says so once on stderr, and keeps stdout the command's own", { timeout: 120_000 }, async () => {
    assert.ok(!existsSync(join(checkout, 'dist')));
    const r = await launch('info', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^hanami: building the TypeScript \(first run\)…$/m);
    assert.equal(r.stderr.match(/building the TypeScript/g)?.length, 1);
    assert.equal((JSON.parse(r.stdout) as { version: unknown }).version, PKG.version, 'stdout is exactly the JSON report');
    assert.ok(existsSync(entry()));
    assert.ok(existsSync(join(checkout, 'dist', 'cpu-fallback', 'wasm', 'walk.wasm')), 'the WebAssembly walk is built too');
  });

  it('second run: no build', async () => {
    const r = await launch('--version');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), PKG.version);
    assert.doesNotMatch(r.stderr, /building/);
  });

  it('a source newer than the build: rebuilds', { timeout: 120_000 }, async () => {
    // As if a source had been edited after the build: the build dated back.
    const earlier = new Date(statSync(join(checkout, 'server', 'cli', 'errors.ts')).mtimeMs - 10_000);
    utimesSync(entry(), earlier, earlier);
    const r = await launch('--version');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^hanami: building the TypeScript \(sources changed\)…$/m);
    const again = await launch('--version');
    assert.doesNotMatch(again.stderr, /building/, 'the rebuild is the new stamp');
  });

  it("sources that do not compile: exit 1 with tsc's errors, and the next run tries again", { timeout: 120_000 }, async () => {
    const source = join(checkout, 'server', 'cli', 'errors.ts');
    const good = readFileSync(source, 'utf8');
    writeFileSync(source, `${good}\nexport const broken: number = 'not a number';\n`);
    try {
      for (let attempt = 1; attempt <= 2; attempt++) {
        const r = await launch('--version');
        assert.equal(r.code, 1, `attempt ${attempt}: ${r.stderr}`);
        assert.equal(r.stdout, '', 'nothing on stdout');
        assert.match(r.stderr, /errors\.ts/, 'tsc names the file');
        assert.match(r.stderr, /^hanami: the TypeScript build failed \(tsc exit code \d+; its errors are above\)$/m);
      }
    } finally {
      writeFileSync(source, good);
    }
    const fixed = await launch('--version');
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.match(fixed.stderr, /building the TypeScript/);
  });
});
