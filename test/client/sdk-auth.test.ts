/**
 * The SDK's token handling and uploads against a real service: a token near its end is
 * renewed before a request, an expired or revoked one is replaced by a fresh login without
 * the caller doing anything, and an upload broken off part-way leaves no dataset behind.
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Hanami, HanamiError } from '../../client/index.js';
import { exportMnist8k } from '../../server/datasets/mnist8k.js';
import { ADMIN_NAME, ADMIN_PASSPHRASE, startTestService, type TestService } from '../server/api/helpers.js';
import { expOf, tokenFor } from './tokens.js';

describe('SDK: tokens and uploads', () => {
  let svc: TestService;
  let dir: string;
  let files: string[];

  before(async () => {
    svc = await startTestService();
    dir = mkdtempSync(join(tmpdir(), 'hanami-sdk-auth-'));
    files = await exportMnist8k(dir);
  });
  after(async () => {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('renews a token in the last part of its life before the request (no credentials needed)', async () => {
    const old = await tokenFor(svc.service, ADMIN_NAME, 3590, 10);
    const seen: string[] = [];
    const hanami = new Hanami({ url: svc.url, token: old, onToken: (t) => seen.push(t) });
    const me = await hanami.me.get();
    assert.equal(me.name, ADMIN_NAME);
    assert.equal(seen.length, 1, 'renewed once');
    assert.ok(expOf(seen[0]!) > expOf(old) + 60, 'the new token lives longer');
    await hanami.projects.list();
    assert.equal(seen.length, 1, 'a fresh token is not renewed again');
  });

  it('replaces an expired token by logging in again, without the caller noticing', async () => {
    const expired = await tokenFor(svc.service, ADMIN_NAME, 7200, -60);
    const seen: string[] = [];
    const hanami = new Hanami({ url: svc.url, token: expired, user: ADMIN_NAME, passphrase: ADMIN_PASSPHRASE, onToken: (t) => seen.push(t) });
    const projects = await hanami.projects.list();
    assert.equal(typeof projects.total, 'number');
    assert.equal(seen.length, 1);
    // Without credentials an expired token is the caller's problem: a typed 401.
    const stuck = new Hanami({ url: svc.url, token: expired });
    await assert.rejects(stuck.projects.list(), (e: unknown) => e instanceof HanamiError && e.status === 401);
  });

  it('after a 401 on a token it thought valid (revoked), logs in once and sends the request again', async () => {
    const admin = await Hanami.login(svc.url, { user: ADMIN_NAME, passphrase: ADMIN_PASSPHRASE });
    const user = await admin.users.create({ name: 'revoked', passphrase: 'first-passphrase' });
    const before = await Hanami.login(svc.url, { user: 'revoked', passphrase: 'first-passphrase' });
    const token = await before.token();
    // A new passphrase revokes every token issued before (docs/security.md).
    await admin.client.patch({ url: '/v1/users/{userId}', path: { userId: user.id }, body: { passphrase: 'second-passphrase' } });
    const seen: string[] = [];
    const hanami = new Hanami({ url: svc.url, token, user: 'revoked', passphrase: 'second-passphrase', onToken: (t) => seen.push(t) });
    // The revocation reaches the verifier within 2 s (a cached token version): keep asking
    // until the old token is refused, then the client must have logged in again.
    for (let i = 0; i < 100 && seen.length === 0; i++) {
      assert.equal((await hanami.me.get()).name, 'revoked');
      if (seen.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(seen.length, 1, 'one fresh login after the 401');
    assert.notEqual(seen[0], token);
  });

  it('an upload broken off part-way leaves no dataset (and no stored bytes) behind', async () => {
    const hanami = await Hanami.login(svc.url, { user: ADMIN_NAME, passphrase: ADMIN_PASSPHRASE });
    const project = await hanami.projects.create({ name: 'interrupted' });
    const blobsBefore = readdirSync(join(svc.dataDir, 'blobs'), { recursive: true }).length;
    const abort = new AbortController();
    let sentWhenAborted = 0;
    const images = files.find((f) => f.endsWith('train-images-idx3-ubyte'))!;
    await assert.rejects(
      hanami.datasets.uploadIdx(
        project.id,
        'half',
        { images },
        {
          signal: abort.signal,
          onProgress: ({ sent, total }) => {
            if (sent >= total / 3 && !abort.signal.aborted) {
              sentWhenAborted = sent;
              abort.abort();
            }
          },
        },
      ),
      (e: unknown) => e instanceof HanamiError && e.code === 'aborted',
    );
    assert.ok(sentWhenAborted > 0 && sentWhenAborted < 6_272_016, `aborted part-way (${sentWhenAborted} bytes sent)`);
    assert.deepEqual(await hanami.datasets.all(project.id), [], 'no dataset is left');
    // The service drops the part it was receiving: the blob folder is as it was.
    for (let i = 0; i < 50 && readdirSync(join(svc.dataDir, 'blobs'), { recursive: true }).length !== blobsBefore; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(readdirSync(join(svc.dataDir, 'blobs'), { recursive: true }).length, blobsBefore);
  });
});
