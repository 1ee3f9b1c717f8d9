/**
 * `hanami admin reset-passphrase`, end to end: a real service runs (in this process) on a
 * fresh data folder, and the CLI, a child process with only the service's configuration in
 * its environment, resets a passphrase in the same store while the service runs. The old
 * token stops working, the new passphrase logs in, and every kind of bad input changes
 * nothing.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { ADMIN_NAME, ADMIN_PASSPHRASE, Client, request, startTestService, storeVariants, type TestService } from '../api/helpers.js';

const CLI = fileURLToPath(new URL('../../../server/cli/main.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a shell on the service's host: no test-runner or HANAMI_* leftovers. */
function hostEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('NODE_TEST') && k !== 'NODE_OPTIONS' && !k.startsWith('HANAMI_')) env[k] = v;
  return { ...env, ...settings };
}

function runCli(env: NodeJS.ProcessEnv, args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, cwd: tmpdir(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}

/** An error of the CLI: the exit code, one `hanami: ` line, nothing on stdout. */
function assertFails(r: Run, code: number, ...mentions: RegExp[]): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^hanami: \S/);
  assert.ok(!r.stderr.includes('    at '), `no stack trace: ${r.stderr}`);
  for (const m of mentions) assert.match(r.stderr.split('\n')[0]!, m);
}

async function loginStatus(url: string, name: string, passphrase: string): Promise<number> {
  return (await request(url, 'POST', '/v1/auth/login', { json: { name, passphrase } })).status;
}

/** Polls until `check` holds: the service re-reads users from the store at most 2 s late. */
async function eventually(what: string, check: () => Promise<boolean>, withinMs = 5000): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > withinMs) assert.fail(`${what} within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const haveScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

for (const variant of storeVariants()) {
  describe(`hanami admin reset-passphrase (${variant.name} store, service running)`, () => {
    let svc: TestService;
    let env: NodeJS.ProcessEnv;
    let current = ADMIN_PASSPHRASE;

    before(async () => {
      svc = await startTestService(variant.config);
      env = hostEnv({
        HANAMI_DATA_DIR: svc.dataDir,
        ...(variant.config.mongoUrl ? { HANAMI_MONGO_URL: variant.config.mongoUrl, HANAMI_MONGO_DB: variant.config.mongoDatabase ?? '' } : {}),
      });
    });
    after(async () => {
      await svc?.close();
    });

    it('--passphrase-stdin: the old token is refused within 2 s, the new passphrase logs in, the old one not', async () => {
      const before = await Client.login(svc.url, ADMIN_NAME, current);
      assert.equal((await before.get('/v1/users/me')).status, 200);
      const r = await runCli(env, ['admin', 'reset-passphrase', ADMIN_NAME, '--passphrase-stdin'], 'a-new-passphrase-1\n');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '', 'nothing on stdout: the passphrase was given');
      assert.match(r.stderr, new RegExp(`Passphrase of "${ADMIN_NAME}" reset in ${variant.name === 'sqlite' ? 'sqlite' : 'mongodb'}`));
      assert.match(r.stderr, /revoked/);
      if (variant.name === 'sqlite') {
        // Written while the service holds the same database open: still a sound database.
        const db = new Database(join(svc.dataDir, 'store.sqlite'), { readonly: true });
        try {
          assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
        } finally {
          db.close();
        }
      }
      const waited = await eventually('the old token is refused', async () => (await before.get('/v1/users/me')).status === 401);
      assert.ok(waited <= 3000, `revoked after ${waited} ms`);
      assert.equal((await svc.admin.get('/v1/users/me')).status, 401, 'every token of the user, not only the last one');
      assert.equal(await loginStatus(svc.url, ADMIN_NAME, 'a-new-passphrase-1'), 200, 'the trailing newline is not part of the passphrase');
      assert.notEqual(await loginStatus(svc.url, ADMIN_NAME, current), 200);
      current = 'a-new-passphrase-1';
      // The change is in the audit log, for the admins.
      const admin = await Client.login(svc.url, ADMIN_NAME, current);
      const audit = (await admin.get('/v1/audit-log?limit=100')).body as { items: Array<{ method: string; path: string }> };
      assert.ok(
        audit.items.some((e) => e.method === 'CLI' && e.path === `hanami admin reset-passphrase ${ADMIN_NAME}`),
        JSON.stringify(audit.items.slice(0, 3)),
      );
    });

    it('--generate prints a new passphrase on stdout, one line, and it logs in', async () => {
      const r = await runCli(env, ['admin', 'reset-passphrase', ADMIN_NAME, '--generate']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^[A-Za-z0-9_-]{24}\n$/);
      const generated = r.stdout.trim();
      assert.equal(await loginStatus(svc.url, ADMIN_NAME, generated), 200);
      current = generated;
    });

    it('a user that does not exist: exit 1, and nothing changes', async () => {
      assertFails(await runCli(env, ['admin', 'reset-passphrase', 'nobody', '--generate']), 1, /there is no user "nobody" in/);
      assert.equal(await loginStatus(svc.url, ADMIN_NAME, current), 200);
    });

    it('bad input: exit 2 and nothing changes', async () => {
      const stdin = (text: string) => runCli(env, ['admin', 'reset-passphrase', ADMIN_NAME, '--passphrase-stdin'], text);
      assertFails(await stdin('short\n'), 2, /at least 8 characters \(it has 5\)/, /nothing was changed/);
      assertFails(await stdin(''), 2, /empty/);
      assertFails(await stdin('         \n'), 2, /empty/);
      assertFails(await stdin('x'.repeat(2000)), 2, /at most 1024/);
      assertFails(await runCli(env, ['admin', 'reset-passphrase', ADMIN_NAME]), 2, /stdin is not a terminal/, /--passphrase-stdin/, /--generate/);
      assertFails(await runCli(env, ['admin', 'reset-passphrase', ADMIN_NAME, '--generate', '--passphrase-stdin']), 2, /--generate/, /--passphrase-stdin/);
      assertFails(await runCli(env, ['admin', 'reset-passphrase']), 2, /user/);
      assertFails(await runCli({ ...env, HANAMI_PORT: 'eighty' }, ['admin', 'reset-passphrase', ADMIN_NAME, '--generate']), 2, /configuration is invalid/, /HANAMI_PORT/);
      assert.equal(await loginStatus(svc.url, ADMIN_NAME, current), 200);
    });

    it('at a terminal: asks twice without echo; two different answers change nothing', { skip: haveScript ? false : 'util-linux script is not installed (needed for a pseudo-terminal)' }, async () => {
      const typed = 'typed-at-a-tty-1';
      const ok = await atTerminal(env, [typed, typed]);
      assert.equal(ok.code, 0, ok.output);
      assert.match(ok.output, /New passphrase for "admin": /);
      assert.match(ok.output, /Type it again: /);
      assert.ok(!ok.output.includes(typed), `the passphrase is not echoed:\n${ok.output}`);
      assert.equal(await loginStatus(svc.url, ADMIN_NAME, typed), 200);
      current = typed;
      const differ = await atTerminal(env, ['one-passphrase', 'another-passphrase']);
      assert.equal(differ.code, 2, differ.output);
      assert.match(differ.output, /hanami: the two passphrases differ; nothing was changed/);
      assert.equal(await loginStatus(svc.url, ADMIN_NAME, current), 200);
    });
  });
}

/** Runs the command in a pseudo-terminal (util-linux `script`) and types `answers` when asked. */
function atTerminal(env: NodeJS.ProcessEnv, answers: string[]): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, CLI, 'admin', 'reset-passphrase', ADMIN_NAME].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let asked = 0;
    const onOutput = (d: Buffer): void => {
      output += d.toString();
      // Answer each question once it is on the screen, as a person would.
      const questions = (output.match(/New passphrase for|Type it again/g) ?? []).length;
      while (asked < questions && asked < answers.length) child.stdin.write(`${answers[asked++]}\r`);
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, output });
    });
  });
}

describe('hanami admin reset-passphrase without a store', () => {
  it('a data folder without a store: exit 1, and no store is created there', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'hanami-nostore-'));
    try {
      assertFails(await runCli(hostEnv({ HANAMI_DATA_DIR: empty }), ['admin', 'reset-passphrase', ADMIN_NAME, '--generate']), 1, /no Hanami store at/, /HANAMI_DATA_DIR/);
      assert.deepEqual(readdirSync(empty), []);
      const missing = join(empty, 'not-there');
      assertFails(await runCli(hostEnv({ HANAMI_DATA_DIR: missing }), ['admin', 'reset-passphrase', ADMIN_NAME, '--generate']), 1, /no Hanami store at/);
      assert.ok(!existsSync(missing));
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
