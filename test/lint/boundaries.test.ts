/**
 * The room import rules (.dependency-cruiser.cjs, run by `npm run lint`) hold for this
 * checkout, and the tool really refuses a wrong import: a scratch tree with the same rooms and
 * one planted import is checked with the same configuration.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CRUISE = join(REPO, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

function cruise(cwd: string, folders: string[]): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [CRUISE, '--config', '.dependency-cruiser.cjs', ...folders], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('room import rules', () => {
  let scratch = '';
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'hanami-rooms-'));
    copyFileSync(join(REPO, '.dependency-cruiser.cjs'), join(scratch, '.dependency-cruiser.cjs'));
    writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
    for (const dir of ['kernels', 'cpu-fallback', 'server/api', 'server/store', 'client']) mkdirSync(join(scratch, dir), { recursive: true });
    writeFileSync(join(scratch, 'kernels', 'layout.ts'), 'export const STRIDE = 16;\n');
    writeFileSync(join(scratch, 'cpu-fallback', 'steps.ts'), "import { STRIDE } from '../kernels/layout.js';\nexport const twice = 2 * STRIDE;\n");
    writeFileSync(join(scratch, 'server', 'store', 'types.ts'), 'export interface Row { id: string }\n');
    writeFileSync(
      join(scratch, 'server', 'api', 'routes.ts'),
      "import type { Row } from '../store/types.js';\nimport { twice } from '../../cpu-fallback/steps.js';\nexport const rows: Row[] = [{ id: String(twice) }];\n",
    );
    writeFileSync(join(scratch, 'client', 'index.ts'), 'export const base = "/v1";\n');
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('this checkout has no forbidden import', () => {
    const r = cruise(REPO, ['client', 'server', 'kernels', 'cpu-fallback', 'test']);
    assert.equal(r.status, 0, r.output);
  });

  it('allowed imports pass, and each planted wrong import is refused with the rule it breaks', () => {
    const folders = ['kernels', 'cpu-fallback', 'server', 'client'];
    assert.equal(cruise(scratch, folders).status, 0, 'the scratch tree as written is allowed');
    const planted: [string, string, string][] = [
      ['kernels/planted.ts', "import { rows } from '../server/api/routes.js';\nexport const n = rows.length;\n", 'kernels-import-only-kernels'],
      ['server/store/planted.ts', "import { rows } from '../api/routes.js';\nexport const n = rows.length;\n", 'store-is-the-bottom'],
      ['client/planted.ts', "import { STRIDE } from '../kernels/layout.js';\nexport const n = STRIDE;\n", 'client-speaks-http-only'],
    ];
    for (const [file, text, rule] of planted) {
      writeFileSync(join(scratch, file), text);
      const r = cruise(scratch, folders);
      rmSync(join(scratch, file));
      assert.notEqual(r.status, 0, `${file} was let through:\n${r.output}`);
      assert.match(r.output, new RegExp(rule), r.output);
    }
  });
});
