/**
 * Regenerates the typed SDK in client/generated/ from the service's own OpenAPI document
 * (built from the route definitions, exactly as GET /openapi.json serves it) with
 * @hey-api/openapi-ts. `npm run sdk` runs it; test/client/sdk-fresh.test.ts runs it into a
 * temporary folder and fails when the committed files differ.
 *
 *   node dist/server/cli/generate-sdk.js [OUT_DIR]      (default: client/generated)
 */
import { createClient } from '@hey-api/openapi-ts';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOpenApiDocument } from '../api/openapi.js';
import { ROUTES } from '../api/routes.js';
import { VERSION } from '../service.js';

/** The repository root (this file runs from dist/server/cli/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const SDK_DIR = join(REPO_ROOT, 'client/generated');

/** The document the SDK is generated from, as JSON text (stable key order: the builder's). */
export function openApiJson(): string {
  return `${JSON.stringify(buildOpenApiDocument(ROUTES, VERSION), null, 2)}\n`;
}

/**
 * The generator's own fetch client (client/, core/: copied as they are, not built from the
 * document) is written for looser compiler settings than this project's
 * (exactOptionalPropertyTypes, DOM types such as BodyInit): it is marked unchecked. The
 * operations and types built from our document (sdk.gen.ts, types.gen.ts) are checked.
 */
async function markRuntimeUnchecked(outDir: string): Promise<void> {
  for (const folder of ['client', 'core']) {
    for (const name of (await readdir(join(outDir, folder))).sort()) {
      if (!name.endsWith('.ts')) continue;
      const path = join(outDir, folder, name);
      const text = await readFile(path, 'utf8');
      if (!text.includes('// @ts-nocheck')) await writeFile(path, text.replace(/^(\/\/ This file is auto-generated[^\n]*\n)/, '$1// @ts-nocheck\n'));
    }
  }
}

/** Writes openapi.json and the generated SDK into `outDir` (cleaned first). */
export async function generateSdk(outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const document = openApiJson();
  await createClient({
    input: JSON.parse(document) as Record<string, unknown>,
    output: {
      path: outDir,
      clean: true,
      importFileExtension: '.js',
      tsConfigPath: join(REPO_ROOT, 'tsconfig.json'),
    },
    logs: { level: 'silent' },
    plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
  });
  await markRuntimeUnchecked(outDir);
  // Beside the code (the generator cleans the folder first): what it was made from, for
  // other languages' generators and for a reader.
  await writeFile(join(outDir, 'openapi.json'), document);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await generateSdk(resolve(process.argv[2] ?? SDK_DIR));
}
