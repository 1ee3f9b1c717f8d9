#!/usr/bin/env node
/**
 * The `hanami` command (the package's `bin`): builds dist/ with the project's own TypeScript
 * when it is missing or older than the sources, then runs the compiled CLI.
 *
 * Why a launcher: the package has no install scripts. npm 11 with `strict-allow-scripts`
 * (our .npmrc) refuses a `prepare` script when `npx hanami` links this package into its
 * cache, and npx does not read the project's `allowScripts`. So nothing builds dist/ at
 * install time, and the first run of the command does it instead (1-2 s).
 *
 * Plain JavaScript on purpose: it must run before anything is compiled.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = join(ROOT, 'dist', 'server', 'cli', 'main.js');
/** The WebAssembly walk, compiled from cpu-fallback/wasm/walk.wat by scripts/build-wasm.js. */
const WASM = join(ROOT, 'dist', 'cpu-fallback', 'wasm', 'walk.wasm');
/** The folders the CLI is compiled from (tests are compiled too, but the CLI never loads them). */
const SOURCE_DIRS = ['server', 'kernels', 'cpu-fallback'];
/** Only TypeScript and WebAssembly text need a build: the WGSL kernels and policy.csv are
 *  read from the source folders at run time, so their changes take effect without one. */
const SOURCE_FILE = /\.(ts|wat)$/;

/** Modification time in ms, or undefined when the path does not exist. */
function mtimeOf(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The newest modification time of the TypeScript sources and tsconfig.json (0 when none:
 *  an installed image ships dist/ without sources). */
function newestSourceTime() {
  let newest = mtimeOf(join(ROOT, 'tsconfig.json')) ?? 0;
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
      } else if (SOURCE_FILE.test(entry.name)) {
        newest = Math.max(newest, mtimeOf(path) ?? 0);
      }
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(ROOT, dir));
  return newest;
}

/** The project's tsc (a devDependency), or undefined when it is not installed. TypeScript 7,
 *  the native compiler, is installed as `@typescript/native`; the name `typescript` is
 *  TypeScript 6, whose JavaScript API the linter needs (package.json). */
function projectTsc() {
  try {
    const manifest = createRequire(join(ROOT, 'package.json')).resolve('@typescript/native/package.json');
    return join(dirname(manifest), 'bin', 'tsc');
  } catch {
    return undefined;
  }
}

function fail(message) {
  process.stderr.write(`hanami: ${message}\n`);
  process.exit(1);
}

/** Builds dist/ when needed. tsc rewrites every output, so the compiled CLI's own mtime
 *  is the build stamp, whether the last build was ours or `npm run build`. */
function buildIfStale() {
  // The build stamp is the older of the compiled CLI and the compiled walk (a dist/ made by a
  // plain `tsc` lacks the walk: it then counts as stale).
  const entry = mtimeOf(ENTRY);
  const built = entry === undefined ? undefined : Math.min(entry, mtimeOf(WASM) ?? 0);
  if (built !== undefined && built >= newestSourceTime()) return;
  const tsc = projectTsc();
  if (tsc === undefined) {
    if (built !== undefined) {
      process.stderr.write('hanami: dist/ is older than the sources, but TypeScript is not installed to rebuild it (npm ci); running the existing build\n');
      return;
    }
    fail('dist/ is not built and TypeScript is not installed: run `npm ci` and `npm run build` in the project folder');
  }
  process.stderr.write(`hanami: building the TypeScript (${built === undefined ? 'first run' : 'sources changed'})…\n`);
  // tsc prints its diagnostics on stdout; they go to stderr so that stdout stays the
  // command's own (`--json` promises exactly one JSON object there).
  const result = spawnSync(process.execPath, [tsc, '-p', ROOT], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  if (result.error) fail(`could not run the TypeScript compiler: ${result.error.message}`);
  if (result.status !== 0) {
    // tsc writes its output even when the sources have errors: date the stamp back so the
    // next run tries again instead of running what came out of broken sources.
    if (mtimeOf(ENTRY) !== undefined) utimesSync(ENTRY, 0, 0);
    fail(`the TypeScript build failed (tsc exit code ${result.status ?? result.signal}; its errors are above)`);
  }
  const wasm = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-wasm.js'), ROOT], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  if (wasm.error) fail(`could not compile the WebAssembly walk: ${wasm.error.message}`);
  if (wasm.status !== 0) {
    utimesSync(ENTRY, 0, 0);
    fail(`compiling the WebAssembly walk failed (exit code ${wasm.status ?? wasm.signal}; its errors are above)`);
  }
}

buildIfStale();
await import(pathToFileURL(ENTRY).href);
