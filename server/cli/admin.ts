/**
 * `hanami admin reset-passphrase <user>`: sets a user's passphrase directly in the store, for
 * when the initial admin's generated passphrase (shown once at the first start) is lost.
 *
 * It runs on the service's host with the service's own configuration (loadConfig: HANAMI_CONFIG,
 * HANAMI_DATA_DIR, HANAMI_MONGO_URL, ...), so it reaches the same store; it needs no token,
 * since whoever can read that store owns the service anyway. It changes the user the way a
 * passphrase change through the API does: a new scrypt hash and the token version bumped, so
 * every token issued before is refused (a running service re-reads users at most 2 s late).
 * One single-record update: safe while the service runs (SQLite in WAL mode with a busy
 * timeout; MongoDB's atomic updates).
 */
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { generatePassphrase, hashPassphrase } from '../auth/passphrase.js';
import { ConfigError, loadConfig, type HanamiConfig } from '../config.js';
import { openStore } from '../store/index.js';
import { SQLITE_FILE } from '../store/sqlite.js';
import { StoreError, type Store } from '../store/types.js';
import { CliError } from './errors.js';
import { SecretPrompt } from './secret-prompt.js';

/** The API's rule for passphrases (server/api/schemas.ts). */
const MIN_PASSPHRASE = 8;
const MAX_PASSPHRASE = 1024;
/** More than any passphrase can be: stop reading stdin there. */
const MAX_STDIN_BYTES = 64 * 1024;

/** Where the new passphrase comes from: typed twice at the terminal, piped in, or made up. */
export type PassphraseSource = 'prompt' | 'stdin' | 'generate';

export interface ResetPassphraseResult {
  /** The store that was changed (its description). */
  store: string;
  /** With `generate`: the new passphrase, to be shown once. */
  generated?: string;
}

function configuration(): HanamiConfig {
  try {
    return loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(`the service's configuration is invalid: ${e.message}`);
    throw e;
  }
}

/**
 * The embedded store must already exist: opening a missing one would create an empty store
 * (in the wrong folder, typically) and then report every user as unknown. It must also be
 * ours: SQLite creates its -wal/-shm files beside it, and files left owned by another user
 * (root, say) would lock the service out of its own store.
 */
function checkSqliteStore(dataDir: string): void {
  const file = join(dataDir, SQLITE_FILE);
  let owner: number;
  try {
    owner = statSync(file).uid;
  } catch {
    throw new CliError(`no Hanami store at ${file}: run this where the service runs, with its configuration (HANAMI_DATA_DIR, HANAMI_CONFIG or HANAMI_MONGO_URL)`, 1);
  }
  const me = process.getuid?.();
  if (me !== undefined && me !== owner) {
    throw new CliError(`${file} belongs to another user (uid ${owner}); run this as that user (e.g. sudo -u <service user> …), so that the files SQLite adds beside it stay the service's`, 1);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    bytes += chunk.length;
    if (bytes > MAX_STDIN_BYTES) break;
  }
  // One line: its line break is not part of the passphrase (`echo … |`, a file with a final newline).
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function promptTwice(user: string): Promise<string> {
  const prompt = new SecretPrompt(process.stdin, process.stderr);
  try {
    const first = await prompt.ask(`New passphrase for "${user}": `);
    checkPassphrase(first);
    const second = await prompt.ask('Type it again: ');
    if (second !== first) throw new CliError('the two passphrases differ; nothing was changed');
    return first;
  } finally {
    prompt.close();
  }
}

function checkPassphrase(passphrase: string): void {
  const length = [...passphrase].length;
  if (passphrase.trim() === '') throw new CliError('the passphrase is empty; nothing was changed');
  if (length < MIN_PASSPHRASE) throw new CliError(`the passphrase must have at least ${MIN_PASSPHRASE} characters (it has ${length}); nothing was changed`);
  if (passphrase.length > MAX_PASSPHRASE) throw new CliError(`the passphrase must have at most ${MAX_PASSPHRASE} characters; nothing was changed`);
}

async function newPassphrase(source: PassphraseSource, user: string): Promise<string> {
  if (source === 'generate') return generatePassphrase();
  const passphrase = source === 'stdin' ? await readStdin() : await promptTwice(user);
  checkPassphrase(passphrase);
  return passphrase;
}

/** Sets a new passphrase for `userName` and revokes the user's tokens. */
export async function resetPassphrase(userName: string, source: PassphraseSource): Promise<ResetPassphraseResult> {
  if (source === 'prompt' && !process.stdin.isTTY) {
    throw new CliError('stdin is not a terminal to type the passphrase at: give --passphrase-stdin to read it from stdin, or --generate for a new random one');
  }
  const config = configuration();
  if (!config.mongoUrl) checkSqliteStore(config.dataDir);
  let store: Store | undefined;
  try {
    store = await openStore(config);
    await store.init();
    const user = await store.users.findByName(userName);
    if (!user) throw new CliError(`there is no user "${userName}" in ${store.description}`, 1);
    const passphrase = await newPassphrase(source, userName);
    const passphraseHash = await hashPassphrase(passphrase);
    // Re-read right before writing, so a concurrent bump is built on rather than undone.
    const current = await store.users.get(user.id);
    await store.users.update(user.id, { passphraseHash, tokenVersion: current.tokenVersion + 1 });
    await recordInAuditLog(store, userName);
    return source === 'generate' ? { store: store.description, generated: passphrase } : { store: store.description };
  } catch (e) {
    if (e instanceof StoreError) throw new CliError(`the store (${store?.description ?? 'not opened'}) failed: ${e.message}; nothing was changed`, 1);
    throw e;
  } finally {
    await store?.close();
  }
}

/** The audit log records changes made through the API; this one is made beside it. */
async function recordInAuditLog(store: Store, userName: string): Promise<void> {
  try {
    await store.audit.append({
      id: randomUUID(),
      time: new Date().toISOString(),
      userId: null,
      projectId: null,
      method: 'CLI',
      path: `hanami admin reset-passphrase ${userName}`,
      status: 200,
      requestId: `cli@${hostname()}:${process.pid}`,
    });
  } catch (e) {
    process.stderr.write(`hanami: warning: the passphrase was reset, but the audit log entry could not be written: ${(e as Error).message}\n`);
  }
}
