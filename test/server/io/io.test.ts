/**
 * Direct network I/O over Socket.IO, end to end on loopback: a real socket.io-client
 * against the real service (SQLite store, CPU backend).
 */
import { ignoreFailure } from '../../../kernels/background.js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import jwt from 'jsonwebtoken';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { CpuBackend } from '../../../cpu-fallback/backend.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { DirectRunner } from '../../../server/network/direct.js';
import { HanamiIo, HanamiIoError } from '../../../client/io.js';
import { loadMnist8k } from '../../../server/datasets/mnist8k.js';
import { type Client, createProject, memberOf, startTestService, type TestService, waitFor } from '../api/helpers.js';
import { createCluster } from '../api/workflow.js';

const data = await loadMnist8k();
const image = (row: number, set = data.train): Float32Array => Float32Array.from(set.inputs.subarray(row * 784, row * 784 + 784));

let svc: TestService;
let projectId: string;
let member: Client;
let outsider: Client;
/** The engine run here, for answers to compare the service's with. */
const localBackend = new CpuBackend(1);

async function directCluster(client: Client, name: string, template = DEFAULT_TEMPLATE, seed = 3): Promise<string> {
  const id = await createCluster(client, projectId, { name, template, seed });
  await client.expect(200, 'PATCH', `/v1/projects/${projectId}/clusters/${id}`, { json: { mode: 'direct' } });
  return id;
}

async function connect(client: Client): Promise<HanamiIo> {
  return HanamiIo.connect(svc.url, client.token!);
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof HanamiIoError && e.code === code, `expected error code ${code}`);
}

function raw(client: Client): Promise<Socket> {
  const socket = connectSocket(`${svc.url}/v1/io`, { auth: { token: client.token }, transports: ['websocket'], reconnection: false });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

before(async () => {
  svc = await startTestService({ io: { maxMessageBytes: 64 * 1024, ratePerSecond: 20000, idleSeconds: 300, maxSocketsPerUser: 32 } });
  projectId = await createProject(svc.admin, 'io-project');
  member = await memberOf(svc.admin, projectId, 'io-member');
  const other = await createProject(svc.admin, 'io-elsewhere');
  outsider = await memberOf(svc.admin, other, 'io-outsider');
});

after(async () => {
  await svc.close();
  await localBackend.close();
});

describe('attach, request, train', () => {
  test('100 train calls on a fresh cluster teach one input class 5; request then answers 5', async () => {
    const clusterId = await directCluster(member, 'teach-five');
    const io = await connect(member);
    try {
      const attached = await io.attach(projectId, clusterId);
      assert.equal(attached.id, clusterId);
      assert.equal(attached.canTrain, true);
      const x = image(0);
      let first;
      for (let i = 0; i < 100; i++) {
        const before = await io.train(x, { label: 5, classes: 10 });
        first ??= before;
      }
      assert.ok(first, 'the first train call answered');
      assert.equal(first.outputs.length, 10);
      const answer = await io.request(x);
      assert.equal(answer.argmax, 5);
      assert.equal(answer.outputs.length, 10);
      assert.ok(Math.abs(answer.outputs.reduce((s, v) => s + v, 0) - 1) < 1e-5, 'class outputs are probabilities');
      // Decoded by output: the helper learned the layout the first train call sized.
      const decoded = answer.byOutput.output!;
      assert.equal(decoded.mode, 'class');
      assert.equal(decoded.index, 5);
      assert.equal(decoded.label, '5');
      assert.deepEqual([...decoded.values], [...answer.outputs]);
      // A second socket that attaches to the now-trained cluster decodes from attach alone.
      const second = await connect(member);
      try {
        await second.attach(projectId, clusterId);
        assert.equal((await second.request(x)).byOutput.output?.label, '5');
      } finally {
        second.close();
      }
    } finally {
      io.close();
    }
  });

  test("answers equal the engine's, for binary and JSON-array inputs", async () => {
    const clusterId = await directCluster(member, 'same-answers');
    const io = await connect(member);
    try {
      await io.attach(projectId, clusterId);
      const local = new DirectRunner(Cluster.create(DEFAULT_TEMPLATE, 3), localBackend);
      for (let row = 0; row < 30; row++) {
        const target = { label: data.train.targets!.kind === 'class' ? data.train.targets!.labels[row]! : 0, classes: 10 };
        const remote = await io.train(image(row), target);
        const mine = await local.train(image(row), target);
        assert.deepEqual(Array.from(remote.outputs), Array.from(mine.outputs));
      }
      const x = image(100);
      const viaArray = await io.request(Array.from(x));
      assert.deepEqual(Array.from(viaArray.outputs), Array.from((await local.request(x)).outputs));
    } finally {
      io.close();
    }
  });

  test('direct training is saved: the cluster keeps it after the socket leaves', async () => {
    const clusterId = await directCluster(member, 'saved');
    const io = await connect(member);
    const x = image(3);
    await io.attach(projectId, clusterId);
    for (let i = 0; i < 20; i++) await io.train(x, { label: 2, classes: 10 });
    const answer = await io.request(x);
    await io.detach();
    io.close();
    const shown = await waitFor(
      () => member.expect(200, 'GET', `/v1/projects/${projectId}/clusters/${clusterId}`),
      (c) => Number((c.stats as Record<string, number>).samplesTrained) === 20,
      'direct training saved',
    );
    assert.ok(Number((shown.stats as Record<string, number>).synapses) > 0);
    // Back to tasks mode and direct again: the network answers the same.
    await member.expect(200, 'PATCH', `/v1/projects/${projectId}/clusters/${clusterId}`, { json: { mode: 'tasks' } });
    await member.expect(200, 'PATCH', `/v1/projects/${projectId}/clusters/${clusterId}`, { json: { mode: 'direct' } });
    const again = await connect(member);
    try {
      await again.attach(projectId, clusterId);
      assert.deepEqual(Array.from((await again.request(x)).outputs), Array.from(answer.outputs));
    } finally {
      again.close();
    }
  });

  test('a spiking cluster carries its state between calls, and reset clears it', async () => {
    const clusterId = await directCluster(member, 'spiking', DEFAULT_TEMPLATE.replace('neuron_cooldown: 1000000000.0', 'neuron_cooldown: 2.0'));
    const io = await connect(member);
    try {
      const attached = await io.attach(projectId, clusterId);
      assert.equal(attached.spiking, true);
      for (let row = 0; row < 50; row++) await io.train(image(row), { label: data.train.targets!.kind === 'class' ? data.train.targets!.labels[row]! : 0, classes: 10 });
      await io.reset();
      const alone = await io.request(image(200));
      await io.reset();
      await io.request(image(201));
      const afterOther = await io.request(image(200));
      assert.notDeepEqual(Array.from(afterOther.outputs), Array.from(alone.outputs), 'an earlier input shapes the answer');
      await io.reset();
      assert.deepEqual(Array.from((await io.request(image(200))).outputs), Array.from(alone.outputs));
    } finally {
      io.close();
    }
  });
});

describe('handshake and tenancy', () => {
  test('no token, a bad token, an expired token and a revoked token are refused at connect', async () => {
    const refused = async (token: string | undefined, pattern: RegExp): Promise<void> => {
      await assert.rejects(HanamiIo.connect(svc.url, token as string), (e: unknown) => e instanceof HanamiIoError && pattern.test(e.message));
    };
    await refused(undefined, /unauthorized/);
    await refused('not-a-jwt', /invalid token/);
    await refused(jwt.sign({ sub: member.userId, name: 'x', admin: false, tv: 0 }, 'some other key with enough length!!', { issuer: 'hanami' }), /invalid token/);
    const key = svc.service.services.tokens.key;
    await refused(jwt.sign({ sub: member.userId, name: 'io-member', admin: false, tv: 0, exp: Math.floor(Date.now() / 1000) - 10 }, key, { issuer: 'hanami' }), /expired/);
    await refused(jwt.sign({ sub: member.userId, name: 'io-member', admin: false, tv: 99 }, key, { issuer: 'hanami', expiresIn: 60 }), /revoked/);
  });

  test('a client on the root namespace is refused at once with a pointer to /v1/io, not left waiting', async () => {
    const socket = connectSocket(svc.url, { auth: { token: member.token }, transports: ['websocket'], reconnection: false });
    try {
      const error = await new Promise<Error & { data?: { code?: string } }>((resolve, reject) => {
        socket.once('connect', () => reject(new Error('the root namespace accepted the connection')));
        socket.once('connect_error', resolve);
      });
      assert.equal(error.data?.code, 'wrong-namespace');
      assert.match(error.message, /\/v1\/io/);
    } finally {
      socket.close();
    }
  });

  test('a user of another project cannot attach (nor learn that the cluster exists)', async () => {
    const clusterId = await directCluster(member, 'private');
    const io = await connect(outsider);
    try {
      await expectCode(io.attach(projectId, clusterId), 'not-found');
      await expectCode(io.request(image(0)), 'not-attached');
    } finally {
      io.close();
    }
  });

  test('a cluster in tasks mode, or busy with a task, is refused', async () => {
    const tasksMode = await createCluster(member, projectId, { name: 'tasks-mode', template: DEFAULT_TEMPLATE });
    const io = await connect(member);
    try {
      await expectCode(io.attach(projectId, tasksMode), 'not-direct-mode');
      await expectCode(io.attach(projectId, '00000000-0000-4000-8000-000000000000'), 'not-found');
      // While attached, switching the cluster back to tasks mode stops direct calls.
      const direct = await directCluster(member, 'switched');
      await io.attach(projectId, direct);
      await io.train(image(0), { label: 1, classes: 10 });
      await member.expect(200, 'PATCH', `/v1/projects/${projectId}/clusters/${direct}`, { json: { mode: 'tasks' } });
      await expectCode(io.request(image(0)), 'not-direct-mode');
    } finally {
      io.close();
    }
  });
});

describe('bad input never breaks a socket', () => {
  let clusterId: string;
  let io: HanamiIo;
  before(async () => {
    clusterId = await directCluster(member, 'robust');
    io = await connect(member);
    await io.attach(projectId, clusterId);
    await io.train(image(0), { label: 1, classes: 10 });
  });
  after(() => io.close());

  const cases: [string, () => Promise<unknown>, string][] = [
    ['wrong length', () => io.request(new Float32Array(10)), 'wrong-length'],
    ['too long', () => io.request(new Float32Array(785)), 'wrong-length'],
    ['NaN', () => io.request(Float32Array.from(image(1), (v, i) => (i === 7 ? Number.NaN : v))), 'not-finite'],
    ['negative value', () => io.request(Float32Array.from(image(1), (v, i) => (i === 7 ? -1 : v))), 'negative'],
    ['not a whole number of floats', () => io.socket.emitWithAck('request', Buffer.alloc(7)).then(unwrap), 'bad-payload'],
    ['a string', () => io.socket.emitWithAck('request', 'hello').then(unwrap), 'bad-payload'],
    ['a number array with a string', () => io.socket.emitWithAck('request', [1, 'two']).then(unwrap), 'bad-payload'],
    ['unknown input name', () => io.request({ nope: image(1) }), 'unknown-input'],
    ['oversize payload', () => io.request(new Float32Array(20_000)), 'payload-too-large'],
    ['label out of range', () => io.train(image(1), { label: 12 }), 'bad-label'],
    ['values for a class output', () => io.train(image(1), { values: [1] }), 'wrong-target'],
    ['train without a target', () => io.socket.emitWithAck('train', { input: image(1) }).then(unwrap), 'bad-payload'],
    ['unknown field', () => io.socket.emitWithAck('train', { input: image(1), label: 1, extra: true }).then(unwrap), 'bad-payload'],
    ['unknown event', () => io.socket.emitWithAck('explode', 1).then(unwrap), 'unknown-event'],
    ['attach twice', () => io.attach(projectId, clusterId), 'already-attached'],
    ['attach with a bad id', () => io.socket.emitWithAck('attach', { projectId, clusterId: 'x' }).then(unwrap), 'bad-payload'],
  ];
  for (const [name, call, code] of cases) {
    test(`${name} → ${code}, and the socket still answers`, async () => {
      await expectCode(call(), code);
      const ok = await io.request(image(1));
      assert.equal(ok.outputs.length, 10);
    });
  }
});

function unwrap(reply: unknown): unknown {
  const r = reply as { ok: boolean; error?: { code: string; message: string } };
  if (!r.ok) throw new HanamiIoError(r.error!.code, r.error!.message);
  return r;
}

describe('order, batching, floods, disconnects', () => {
  test('calls of one socket are answered in order, requests and trains interleaved', async () => {
    const clusterId = await directCluster(member, 'ordered');
    const io = await connect(member);
    const local = new DirectRunner(Cluster.create(DEFAULT_TEMPLATE, 3), localBackend);
    try {
      await io.attach(projectId, clusterId);
      const order: number[] = [];
      const expected: number[][] = [];
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < 120; i++) {
        const x = image(i % 40);
        if (i % 3 === 0) {
          expected.push(Array.from((await local.train(x, { label: i % 10, classes: 10 })).outputs));
          calls.push(io.train(x, { label: i % 10, classes: 10 }).then((a) => (order.push(i), Array.from(a.outputs))));
        } else if (i < 3) {
          expected.push([]);
          calls.push(
            io.request(x).then(
              () => order.push(i),
              () => order.push(i),
            ),
          );
        } else {
          expected.push(Array.from((await local.request(x)).outputs));
          calls.push(io.request(x).then((a) => (order.push(i), Array.from(a.outputs))));
        }
      }
      const got = await Promise.all(calls);
      assert.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
        'acknowledgements come back in call order',
      );
      for (let i = 3; i < 120; i++) assert.deepEqual(got[i], expected[i], `call ${i} answered as if alone`);
    } finally {
      io.close();
    }
  });

  test('eight clients on one cluster are batched and get exactly the answers they would get alone', async () => {
    const clusterId = await directCluster(member, 'batched');
    const trainer = await connect(member);
    await trainer.attach(projectId, clusterId);
    for (let row = 0; row < 300; row++) await trainer.train(image(row), { label: data.train.targets!.kind === 'class' ? data.train.targets!.labels[row]! : 0, classes: 10 });
    const alone: number[][] = [];
    for (let row = 0; row < 40; row++) alone.push(Array.from((await trainer.request(image(row, data.test))).outputs));
    const clients = await Promise.all(Array.from({ length: 8 }, () => connect(member)));
    try {
      await Promise.all(clients.map((c) => c.attach(projectId, clusterId)));
      const before = svc.service.io.channelStats(clusterId)!.largestBatch;
      const results = await Promise.all(
        clients.map(async (c, k) => {
          const mine: number[][] = [];
          for (let rep = 0; rep < 3; rep++) for (let row = k; row < 40; row += 8) mine.push(Array.from((await c.request(image(row, data.test))).outputs));
          return mine;
        }),
      );
      results.forEach((mine, k) => {
        let i = 0;
        for (let rep = 0; rep < 3; rep++) for (let row = k; row < 40; row += 8) assert.deepEqual(mine[i++], alone[row], `client ${k} row ${row}`);
      });
      assert.ok(svc.service.io.channelStats(clusterId)!.largestBatch > Math.max(1, before), 'concurrent requests were answered in batches');
    } finally {
      for (const c of clients) c.close();
      trainer.close();
    }
  });

  test('a flood from one socket is rate-limited; other clients are unaffected', async () => {
    const limited = await startTestService({ io: { maxMessageBytes: 64 * 1024, ratePerSecond: 200, idleSeconds: 300, maxSocketsPerUser: 32 } });
    try {
      const p = await createProject(limited.admin, 'flood');
      const m = await memberOf(limited.admin, p, 'flooder');
      const clusterId = await createCluster(m, p, { name: 'flooded', template: DEFAULT_TEMPLATE, seed: 3 });
      await m.expect(200, 'PATCH', `/v1/projects/${p}/clusters/${clusterId}`, { json: { mode: 'direct' } });
      const flood = await HanamiIo.connect(limited.url, m.token!);
      const calm = await HanamiIo.connect(limited.url, m.token!);
      await flood.attach(p, clusterId);
      await calm.attach(p, clusterId);
      await flood.train(image(0), { label: 4, classes: 10 });
      const outcomes = await Promise.allSettled(Array.from({ length: 2000 }, () => flood.request(image(0))));
      const limitedCount = outcomes.filter((o) => o.status === 'rejected' && (o.reason as HanamiIoError).code === 'rate-limited').length;
      const answered = outcomes.filter((o) => o.status === 'fulfilled').length;
      assert.ok(limitedCount > 1000, `most of the flood is refused (${limitedCount})`);
      assert.ok(answered >= 100, `the allowed calls are answered (${answered})`);
      assert.equal(limitedCount + answered, 2000, 'every call is acknowledged');
      assert.equal((await calm.request(image(0))).outputs.length, 10);
      flood.close();
      calm.close();
    } finally {
      await limited.close();
    }
  });

  test('a client that disconnects mid-call leaves no socket, listener or channel behind', async () => {
    const clusterId = await directCluster(member, 'leaving');
    const teacher = await connect(member);
    await teacher.attach(projectId, clusterId);
    await teacher.train(image(0), { label: 1, classes: 10 });
    teacher.close();
    const io = svc.service.io;
    // The baseline once the server has seen the teacher leave (its close is asynchronous) and
    // saved what it taught: the cluster's channel is then closed.
    await waitFor(
      async () => io.channelStats(clusterId),
      (stats) => stats === undefined,
      'the teacher gone',
      10_000,
    );
    const baseSockets = io.connected;
    const baseChannels = io.openChannels;
    const listenersBefore = svc.service.server.listenerCount('request') + svc.service.server.listenerCount('upgrade');
    for (let round = 0; round < 10; round++) {
      const c = await connect(member);
      await c.attach(projectId, clusterId);
      // Their answers are lost with the socket: that is the point.
      for (let i = 0; i < 200; i++) ignoreFailure(c.request(image(i)), 'the socket disconnects before they are answered');
      c.socket.disconnect();
    }
    await waitFor(
      async () => ({ sockets: io.connected, channels: io.openChannels }),
      (s) => s.sockets === baseSockets && s.channels === baseChannels,
      'sockets and channels released',
      10_000,
    );
    assert.equal(svc.service.server.listenerCount('request') + svc.service.server.listenerCount('upgrade'), listenersBefore);
    const again = await connect(member);
    try {
      await again.attach(projectId, clusterId);
      assert.equal((await again.request(image(0))).outputs.length, 10);
    } finally {
      again.close();
    }
  });

  test('sockets per user are limited and idle sockets are closed', async () => {
    const strict = await startTestService({ io: { maxMessageBytes: 64 * 1024, ratePerSecond: 1000, idleSeconds: 1, maxSocketsPerUser: 2 } });
    try {
      const a = await HanamiIo.connect(strict.url, strict.admin.token!);
      const b = await HanamiIo.connect(strict.url, strict.admin.token!);
      await assert.rejects(HanamiIo.connect(strict.url, strict.admin.token!), /too many sockets/);
      const closed = new Promise<string>((resolve) => a.socket.once('disconnect', resolve));
      assert.equal(await closed, 'io server disconnect', 'the idle socket was closed by the server');
      b.close();
      await waitFor(
        async () => strict.service.io.connected,
        (n) => n === 0,
        'sockets gone',
        5000,
      );
      const c = await HanamiIo.connect(strict.url, strict.admin.token!);
      c.close();
    } finally {
      await strict.close();
    }
  });

  test('a raw Socket.IO client (no helper) can attach and request', async () => {
    const clusterId = await directCluster(member, 'raw');
    const socket = await raw(member);
    try {
      const attached = (await socket.emitWithAck('attach', { projectId, clusterId })) as { ok: boolean };
      assert.equal(attached.ok, true);
      const trained = (await socket.emitWithAck('train', { input: Array.from(image(0)), label: 3, classes: 10 })) as { ok: boolean; outputs: Buffer };
      assert.equal(trained.ok, true);
      assert.equal(trained.outputs.byteLength, 40);
    } finally {
      socket.close();
    }
  });
});
