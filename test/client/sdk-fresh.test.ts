/**
 * The committed SDK (client/generated/) is what the generator makes from the service's
 * OpenAPI document now: regenerated into a temporary folder, every file must be equal.
 * After a change to a route: `npm run sdk`, and commit client/generated/.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { generateSdk, SDK_DIR } from '../../server/cli/generate-sdk.js';

function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as { name: string; parentPath: string; isFile(): boolean }[])
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('the generated SDK', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'hanami-sdk-gen-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('is up to date with the OpenAPI document (npm run sdk regenerates it)', async () => {
    await generateSdk(tmp);
    const fresh = filesUnder(tmp);
    assert.ok(fresh.includes('sdk.gen.ts') && fresh.includes('types.gen.ts') && fresh.includes('openapi.json'));
    assert.deepEqual(filesUnder(SDK_DIR), fresh, 'the same files (run `npm run sdk` and commit client/generated/)');
    for (const f of fresh)
      assert.equal(readFileSync(join(SDK_DIR, f), 'utf8'), readFileSync(join(tmp, f), 'utf8'), `${f} differs from a fresh generation: run \`npm run sdk\` and commit client/generated/`);
  });
});
