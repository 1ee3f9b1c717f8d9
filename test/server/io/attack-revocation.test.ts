/**
 * Issue 13, finding 2: revocation reaches live Socket.IO connections. A member attached to a
 * cluster in direct mode used to keep `request` and `train` answered after the admin removed
 * the membership, changed the member's passphrase or deleted the user, and every call reset
 * the idle timer, so access lasted for ever. Now the next call after any of those is refused
 * (and a revoked token closes the connection within a second, without waiting for a call).
 *
 * Runs on the SQLite store and, with HANAMI_TEST_MONGO_URL set, on MongoDB too; there a second
 * service instance on the same database makes the change, which this instance's re-check
 * interval must pick up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import jwt from 'jsonwebtoken';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { type Client, createProject, memberOf, startTestService, storeVariants, type TestService } from '../api/helpers.js';
import { createCluster } from '../api/workflow.js';

interface Ack {
  ok: boolean;
  error?: { code: string; message: string };
}

const INPUT = Array.from({ length: 8 }, (_, i) => i + 1);

function raw(svc: TestService, token: string): Promise<Socket> {
  const socket = connectSocket(`${svc.url}/v1/io`, { auth: { token }, transports: ['websocket'], reconnection: false });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

/** A request whose answer may never come because the server closes the connection. */
async function ask(socket: Socket, input: number[]): Promise<Ack> {
  try {
    return (await socket.timeout(2000).emitWithAck('request', input)) as Ack;
  } catch (e) {
    return { ok: false, error: { code: 'closed', message: `no answer: ${String(e)}` } };
  }
}

/** What the server said before it closed the connection, and when it closed it. */
function watchClose(socket: Socket): { closed: Promise<{ reason: string; at: number }>; revoked: { code: string; message: string }[] } {
  const revoked: { code: string; message: string }[] = [];
  socket.on('closing', (why: { code: string; message: string }) => revoked.push(why));
  const closed = new Promise<{ reason: string; at: number }>((resolve) => socket.once('disconnect', (reason) => resolve({ reason, at: Date.now() })));
  return { closed, revoked };
}

async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

for (const variant of storeVariants()) {
  describe(`revocation reaches live sockets (${variant.name})`, () => {
    let svc: TestService;
    let projectId: string;
    let clusterId: string;
    let n = 0;

    before(async () => {
      // A long re-check interval: what is tested here must not depend on it.
      svc = await startTestService({ ...variant.config, io: { maxMessageBytes: 64 * 1024, ratePerSecond: 20000, idleSeconds: 300, maxSocketsPerUser: 32, recheckSeconds: 3600 } });
      projectId = await createProject(svc.admin, 'revocation');
      const owner = await memberOf(svc.admin, projectId, 'revocation-owner');
      clusterId = await createCluster(owner, projectId, { name: 'shared', template: DEFAULT_TEMPLATE, seed: 3 });
      await owner.expect(200, 'PATCH', `/v1/projects/${projectId}/clusters/${clusterId}`, { json: { mode: 'direct' } });
      const teacher = await raw(svc, owner.token!);
      assert.equal(((await teacher.emitWithAck('attach', { projectId, clusterId })) as Ack).ok, true);
      assert.equal(((await teacher.emitWithAck('train', { input: INPUT, label: 1, classes: 2 })) as Ack).ok, true);
      teacher.close();
    });

    after(async () => {
      await svc.close();
    });

    /** A fresh member, attached and answered once. */
    async function attachedMember(): Promise<{ member: Client; socket: Socket }> {
      const member = await memberOf(svc.admin, projectId, `revoked-${variant.name}-${n++}`);
      const socket = await raw(svc, member.token!);
      assert.equal(((await socket.emitWithAck('attach', { projectId, clusterId })) as Ack).ok, true);
      assert.equal(((await socket.emitWithAck('request', INPUT)) as Ack).ok, true, 'answered before the revocation');
      return { member, socket };
    }

    test('membership removed: the next request and train are refused (not-found), and attaching again too', async () => {
      const { member, socket } = await attachedMember();
      try {
        await svc.admin.expect(204, 'DELETE', `/v1/projects/${projectId}/members/${member.userId}`);
        const asked = (await socket.emitWithAck('request', INPUT)) as Ack;
        assert.equal(asked.ok, false, 'request after removal');
        assert.equal(asked.error?.code, 'not-found');
        const trained = (await socket.emitWithAck('train', { input: INPUT, label: 0 })) as Ack;
        assert.equal(trained.error?.code, 'not-found', 'train after removal');
        assert.equal(((await socket.emitWithAck('attach', { projectId, clusterId })) as Ack).error?.code, 'not-found');
        // The token still stands (the user may belong to other projects): the socket stays.
        assert.equal(socket.connected, true);
      } finally {
        socket.close();
      }
    });

    test('a calls pipeline sent right after the removal is refused from its first call on', async () => {
      const { member, socket } = await attachedMember();
      try {
        const removal = svc.admin.expect(204, 'DELETE', `/v1/projects/${projectId}/members/${member.userId}`);
        await removal;
        const answers = (await Promise.all(Array.from({ length: 50 }, () => socket.emitWithAck('request', INPUT)))) as Ack[];
        assert.deepEqual(new Set(answers.map((a) => a.error?.code ?? 'ok')), new Set(['not-found']));
      } finally {
        socket.close();
      }
    });

    test('passphrase changed by the admin: the next call is unauthorized and the connection closes', async () => {
      const { member, socket } = await attachedMember();
      const watch = watchClose(socket);
      try {
        await svc.admin.expect(200, 'PATCH', `/v1/users/${member.userId}`, { json: { passphrase: 'a-brand-new-passphrase' } });
        const asked = await ask(socket, INPUT);
        assert.equal(asked.ok, false);
        assert.ok(['unauthorized', 'closed'].includes(asked.error!.code), JSON.stringify(asked));
        const { reason } = await within(1000, watch.closed, 'closing the revoked connection');
        assert.equal(reason, 'io server disconnect');
        assert.equal(watch.revoked[0]?.code, 'unauthorized');
      } finally {
        socket.close();
      }
    });

    test('user deleted: the connection closes within 1 s without any call', async () => {
      const { member, socket } = await attachedMember();
      const watch = watchClose(socket);
      try {
        const deleted = Date.now();
        await svc.admin.expect(204, 'DELETE', `/v1/users/${member.userId}`);
        const { reason, at } = await within(1000, watch.closed, "closing the deleted user's connection");
        assert.equal(reason, 'io server disconnect');
        assert.ok(at - deleted < 1000);
        assert.match(watch.revoked[0]?.message ?? '', /no longer exists/);
      } finally {
        socket.close();
      }
    });

    test("token version bumped (admin flag granted): the old token's connection closes", async () => {
      const { member, socket } = await attachedMember();
      const watch = watchClose(socket);
      try {
        await svc.admin.expect(200, 'PATCH', `/v1/users/${member.userId}`, { json: { isAdmin: true } });
        await within(1000, watch.closed, 'closing the connection of a token whose version was bumped');
        assert.match(watch.revoked[0]?.message ?? '', /revoked/);
      } finally {
        socket.close();
      }
    });

    test('calls do not extend a token: a connection that keeps calling is closed when its token expires', async () => {
      const member = await memberOf(svc.admin, projectId, `expiring-${variant.name}`);
      // A token of this service that expires in 2 s (a short HANAMI_TOKEN_TTL would do the same).
      const claims = jwt.decode(member.token!) as Record<string, unknown>;
      const short = jwt.sign({ sub: claims.sub, name: claims.name, admin: claims.admin, tv: claims.tv, exp: Math.floor(Date.now() / 1000) + 2 }, svc.service.services.tokens.key, { issuer: 'hanami' });
      const socket = await raw(svc, short);
      const watch = watchClose(socket);
      try {
        assert.equal(((await socket.emitWithAck('attach', { projectId, clusterId })) as Ack).ok, true);
        const started = Date.now();
        let answered = 0;
        let refused: Ack | undefined;
        while (socket.connected && Date.now() - started < 6000) {
          const a = await ask(socket, INPUT);
          if (a.ok) answered++;
          else if (a.error?.code !== 'closed') refused = a;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const { at } = await within(1000, watch.closed, 'closing the expired connection');
        assert.ok(answered > 0, 'answered while the token was valid');
        assert.ok(at - started < 4000, `closed ${at - started} ms after the first call (the token lived 2 s)`);
        if (refused) assert.equal(refused.error?.code, 'unauthorized');
        assert.equal(watch.revoked[0]?.code, 'unauthorized');
      } finally {
        socket.close();
      }
    });

    if (variant.name === 'mongodb') {
      test('a membership removed through another replica is refused within the re-check interval', async () => {
        const config = { ...variant.config, instanceId: 'revocation-replica-a', io: { maxMessageBytes: 64 * 1024, ratePerSecond: 20000, idleSeconds: 300, maxSocketsPerUser: 32, recheckSeconds: 1 } };
        const a = await startTestService(config);
        const b = await startTestService({ ...config, instanceId: 'revocation-replica-b' });
        try {
          // A cluster of its own, hosted by replica a.
          const p = await createProject(a.admin, 'revocation-replicas');
          const member = await memberOf(a.admin, p, `replica-member-${n++}`);
          const c = await createCluster(member, p, { name: 'on-a', template: DEFAULT_TEMPLATE, seed: 3 });
          await member.expect(200, 'PATCH', `/v1/projects/${p}/clusters/${c}`, { json: { mode: 'direct' } });
          const socket = await raw(a, member.token!);
          try {
            assert.equal(((await socket.emitWithAck('attach', { projectId: p, clusterId: c })) as Ack).ok, true);
            assert.equal(((await socket.emitWithAck('train', { input: INPUT, label: 1, classes: 2 })) as Ack).ok, true);
            assert.equal(((await socket.emitWithAck('request', INPUT)) as Ack).ok, true);
            await b.admin.expect(204, 'DELETE', `/v1/projects/${p}/members/${member.userId}`);
            const removed = Date.now();
            let last: Ack = { ok: true };
            while (last.ok && Date.now() - removed < 10_000) {
              last = (await socket.emitWithAck('request', INPUT)) as Ack;
              if (last.ok) await new Promise((resolve) => setTimeout(resolve, 100));
            }
            const took = Date.now() - removed;
            assert.equal(last.error?.code, 'not-found');
            // Re-check interval (1 s) + the identity cache's lifetime (2 s) + slack.
            assert.ok(took < 5000, `refused ${took} ms after another replica removed the membership`);
          } finally {
            socket.close();
          }
        } finally {
          await b.close();
          await a.close();
        }
      });
    }
  });
}
