/**
 * The remote commands' edges: logging in and named contexts (the config file, mode 0600),
 * tokens renewed and written back without the user doing anything, bad usage (exit code 2
 * with a message, did-you-mean for unknown words), failed requests (exit code 1, one line with
 * the problem's title, detail and field), and plain output off a terminal.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ADMIN_NAME, ADMIN_PASSPHRASE, startTestService, type TestService } from '../api/helpers.js';
import { expOf, tokenFor } from '../../client/tokens.js';
import { baseEnv, jsonLines, jsonOne, runCli } from './remote-helpers.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

interface ConfigFile {
  current?: string;
  contexts: Record<string, { url: string; user?: string; token?: string; project?: { id: string; name: string } }>;
}

describe('remote commands: contexts, renewal, errors', () => {
  let svc: TestService;
  let tmp: string;
  let config: string;
  let plain: NodeJS.ProcessEnv;
  const file = (): string => join(config, 'hanami', 'config.json');
  const read = (): ConfigFile => JSON.parse(readFileSync(file(), 'utf8')) as ConfigFile;

  before(async () => {
    svc = await startTestService();
    tmp = mkdtempSync(join(tmpdir(), 'hanami-remote-usage-'));
    config = join(tmp, 'config');
    plain = baseEnv(config);
  });
  after(async () => {
    await svc.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('logs in into a named context (mode 0600), lists and switches contexts, logs out', async () => {
    const login = await jsonOne({ ...plain, HANAMI_PASSPHRASE: ADMIN_PASSPHRASE }, ['login', svc.url, '--user', ADMIN_NAME]);
    assert.equal(login.context, 'default');
    assert.equal(login.user, ADMIN_NAME);
    assert.equal(statSync(file()).mode & 0o777, 0o600, 'only the owner may read the tokens');
    assert.equal(read().current, 'default');
    assert.match(read().contexts.default!.token!, /^ey/);

    // Commands now need nothing else: the context says where and as whom.
    await jsonOne(plain, ['project', 'create', 'from-context']);
    const projects = await jsonLines(plain, ['project', 'ls']);
    assert.deepEqual(
      projects.map((p) => p.name),
      ['from-context'],
    );
    await jsonOne(plain, ['project', 'use', 'from-context']);
    assert.equal(read().contexts.default!.project!.name, 'from-context');

    await jsonOne({ ...plain, HANAMI_PASSPHRASE: ADMIN_PASSPHRASE }, ['login', svc.url, '--user', ADMIN_NAME, '--context', 'second']);
    assert.equal(read().current, 'second');
    const contexts = await jsonLines(plain, ['context', 'ls']);
    assert.deepEqual(
      contexts.map((c) => [c.name, c.current]),
      [
        ['default', false],
        ['second', true],
      ],
    );
    await jsonOne(plain, ['context', 'use', 'default']);
    assert.equal(read().current, 'default');
    const wrong = await runCli(plain, ['context', 'use', 'defualt']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /did you mean default\?/);

    await jsonOne(plain, ['logout']);
    assert.equal(read().contexts.default!.token, undefined);
    const after = await runCli(plain, ['project', 'ls']);
    assert.equal(after.code, 2);
    assert.match(after.stderr, /^hanami: context "default" has no token: run `hanami login http:/);
  });

  it('renews a token near its end and writes it back; an expired one is replaced with HANAMI_PASSPHRASE', async () => {
    mkdirSync(join(config, 'hanami'), { recursive: true });
    const near = await tokenFor(svc.service, ADMIN_NAME, 3590, 10);
    writeFileSync(file(), JSON.stringify({ current: 'default', contexts: { default: { url: svc.url, user: ADMIN_NAME, token: near } } }));
    await jsonLines(plain, ['project', 'ls']);
    const renewed = read().contexts.default!.token!;
    assert.notEqual(renewed, near, 'the renewed token was written back');
    assert.ok(expOf(renewed) > expOf(near) + 60);
    assert.equal(statSync(file()).mode & 0o777, 0o600);

    const expired = await tokenFor(svc.service, ADMIN_NAME, 7200, -60);
    writeFileSync(file(), JSON.stringify({ current: 'default', contexts: { default: { url: svc.url, user: ADMIN_NAME, token: expired } } }));
    const refused = await runCli(plain, ['project', 'ls']);
    assert.equal(refused.code, 1, 'an expired token without a passphrase: log in again');
    assert.match(refused.stderr, /^hanami: Unauthorized: the token expired at .+; log in again \(`hanami login <url>`, or set HANAMI_PASSPHRASE\)\n$/);
    await jsonLines({ ...plain, HANAMI_PASSPHRASE: ADMIN_PASSPHRASE }, ['project', 'ls']);
    assert.ok(expOf(read().contexts.default!.token!) > Date.now() / 1000, 'a fresh login replaced it');
  });

  it('bad usage: exit code 2 with a message, did-you-mean for unknown words', async () => {
    const env = { ...plain, HANAMI_URL: svc.url, HANAMI_USER: ADMIN_NAME, HANAMI_PASSPHRASE: ADMIN_PASSPHRASE };
    const cases: [string[], RegExp][] = [
      [['projct', 'ls'], /unknown command "projct" \(did you mean project\?\)/],
      [['project', 'lst'], /unknown command "project lst" \(did you mean project ls\?\)/],
      [['checkpoint', 'restor', 'x'], /did you mean checkpoint restore\?/],
      [['task', 'train', '--cluster', 'c'], /required option '--dataset <dataset>' not specified/],
      [['task', 'train', '--cluster', 'c', '--dataset', 'd', '--epochs', '0'], /--epochs must be a positive integer/],
      [['io', 'request', '--cluster', 'c', '1,x,3'], /value 2 is not/],
      [['cluster', 'mode', 'c', 'fast'], /the mode is tasks or direct, not "fast"/],
      [['login', 'not-a-url', '--user', 'x'], /not a service URL/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(env, args);
      assert.equal(r.code, 2, `hanami ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
    const nowhere = await runCli(baseEnv(join(tmp, 'empty-config')), ['project', 'ls']);
    assert.equal(nowhere.code, 2);
    assert.match(nowhere.stderr, /not logged in: run `hanami login <url>` first/);
  });

  it('a failed request: exit code 1 and one line with the title, detail and field', async () => {
    const env = { ...plain, HANAMI_URL: svc.url, HANAMI_USER: ADMIN_NAME, HANAMI_PASSPHRASE: ADMIN_PASSPHRASE };
    const bad = await runCli(env, ['project', 'create', ' padded ']);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /^hanami: Bad Request: .+ \(field \/body\/name\)\n$/);
    const missing = await runCli(env, ['project', 'show', 'no-such-project']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^hanami: Not Found: no project named or with the id "no-such-project"/);
    const login = await runCli({ ...plain, HANAMI_PASSPHRASE: 'wrong-passphrase' }, ['login', svc.url, '--user', ADMIN_NAME, '--context', 'nope']);
    assert.equal(login.code, 1);
    assert.equal(login.stderr, 'hanami: Unauthorized: unknown user name or wrong passphrase\n');
  });

  it('uploads a CSV dataset; a refused file leaves no dataset behind (exit code 1)', async () => {
    const env = { ...plain, HANAMI_URL: svc.url, HANAMI_USER: ADMIN_NAME, HANAMI_PASSPHRASE: ADMIN_PASSPHRASE, HANAMI_PROJECT: 'uploads' };
    await jsonOne(env, ['project', 'create', 'uploads']);
    const csv = await jsonOne(env, ['dataset', 'upload', 'sensors', join(REPO, 'docs/examples/sensors-train.csv'), '--label', 'label', '--inputs', 'micro,mid,big']);
    assert.deepEqual([csv.format, csv.status, csv.labelColumn, csv.inputColumns], ['csv', 'ready', 'label', ['micro', 'mid', 'big']]);
    const junk = join(tmp, 'junk-images-idx3-ubyte');
    writeFileSync(junk, Buffer.alloc(4096, 7));
    const refused = await runCli(env, ['dataset', 'upload', 'junk', junk, '--labels', junk]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /^hanami: Unprocessable Content: /);
    assert.deepEqual(
      (await jsonLines(env, ['dataset', 'ls'])).map((d) => d.name),
      ['sensors'],
      'the refused dataset was deleted',
    );
    const noLabels = await runCli(env, ['dataset', 'upload', 'unlabelled', join(REPO, 'docs/examples/sensors-train.csv')]);
    assert.equal(noLabels.code, 2);
    assert.match(noLabels.stderr, /a CSV dataset needs --label <column> \(classes\) or --targets <columns> \(values\)/);
  });

  it('off a terminal: aligned plain tables, no colour', async () => {
    const env = { ...plain, HANAMI_URL: svc.url, HANAMI_USER: ADMIN_NAME, HANAMI_PASSPHRASE: ADMIN_PASSPHRASE };
    await jsonOne(env, ['user', 'create', 'grace-hopper', '--passphrase-stdin'], 'grace-passphrase\n');
    const r = await runCli(env, ['user', 'ls']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(String.fromCharCode(27)), 'no escape codes');
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME +ADMIN +ID$/);
    const at = lines[0]!.indexOf('ADMIN');
    for (const line of lines.slice(1)) assert.match(line.slice(at), /^(yes|no) +[0-9a-f-]{36}$/, 'columns line up');
  });
});
