#!/usr/bin/env node
/**
 * Compiles the hand-written WebAssembly text in cpu-fallback/wasm/*.wat into
 * dist/cpu-fallback/wasm/*.wasm with wabt (a pinned devDependency). Part of every build
 * (`npm run build`, `prestart`, `test`, bench scripts and bin/hanami.js), so no binary is
 * committed. Plain JavaScript: it runs before anything is compiled.
 *
 * Usage: node scripts/build-wasm.js [root]   (root defaults to the project folder)
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtFactory from 'wabt';

const ROOT = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = [join('cpu-fallback', 'wasm')];

const wabt = await wabtFactory();
for (const dir of SOURCES) {
  const from = join(ROOT, dir);
  const to = join(ROOT, 'dist', dir);
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from).filter((n) => n.endsWith('.wat'))) {
    const module = wabt.parseWat(name, readFileSync(join(from, name), 'utf8'));
    try {
      module.validate();
      const { buffer } = module.toBinary({ write_debug_names: true });
      writeFileSync(join(to, name.replace(/\.wat$/, '.wasm')), buffer);
    } finally {
      module.destroy();
    }
  }
}
