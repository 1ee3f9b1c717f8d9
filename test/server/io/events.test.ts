/**
 * Live task progress, end to end on loopback: the metric series over HTTP (GET task summary,
 * the paged …/metrics endpoint) and the same points pushed on the Socket.IO namespace
 * /v1/events to a real socket.io-client (SQLite store, CPU backend).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { startService } from '../../../server/service.js';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { type Client, createProject, items, memberOf, num, obj, startTestService, str, testConfig, type TestService, waitFor } from '../api/helpers.js';
import { tinyCsv, uploadCsv } from '../api/fixtures.js';
import { createCluster, createDataset } from '../api/workflow.js';

/** Small enough to see several points and a thinned series on a small dataset. */
const EVERY = 200;
const KEPT = 8;
const ENDED = ['finished', 'failed', 'cancelled'];

let svc: TestService;
let projectId: string;
let otherProjectId: string;
let member: Client;
let outsider: Client;
let datasetId: string;
let otherDatasetId: string;
const sockets: Socket[] = [];

type Got = { event: 'state' | 'metric'; taskId: string; projectId: string; body: Record<string, unknown> };

/** A socket on /v1/events that keeps every event it gets, in order. */
class Follower {
  readonly events: Got[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('task:state', (d: Record<string, unknown>) => this.events.push({ event: 'state', taskId: str(d, 'taskId'), projectId: str(d, 'projectId'), body: obj(d.task) }));
    socket.on('task:metric', (d: Record<string, unknown>) => this.events.push({ event: 'metric', taskId: str(d, 'taskId'), projectId: str(d, 'projectId'), body: obj(d.point) }));
  }

  static connect(token: string | null, url = svc.url): Promise<Follower> {
    const socket = connectSocket(`${url}/v1/events`, { auth: token === null ? {} : { token }, transports: ['websocket'], reconnection: false });
    sockets.push(socket);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(new Follower(socket)));
      socket.once('connect_error', reject);
    });
  }

  async follow(scope: Record<string, string>): Promise<Record<string, unknown>> {
    return obj(await this.socket.timeout(30_000).emitWithAck('follow', scope));
  }

  of(taskId: string): Got[] {
    return this.events.filter((e) => e.taskId === taskId);
  }

  /** Waits for the task's end state and returns its events. */
  async untilEnd(taskId: string): Promise<Got[]> {
    await waitFor(
      async () => this.of(taskId),
      (evs) => evs.some((e) => e.event === 'state' && ENDED.includes(str(e.body, 'state'))),
      `the end of task ${taskId}`,
      120_000,
    );
    return this.of(taskId);
  }
}

const tasksPath = (project: string, cluster: string): string => `/v1/projects/${project}/clusters/${cluster}/tasks`;

async function submit(client: Client, project: string, cluster: string, body: Record<string, unknown>): Promise<string> {
  return str(await client.expect(202, 'POST', tasksPath(project, cluster), { json: body }), 'id');
}

function eventsStats(): { sockets: number; follows: number; subscriptions: number; pollers: number } {
  return svc.service.events.stats;
}

before(async () => {
  // A named instance: a second service in this process (below) would take the default
  // `<hostname>-<pid>` for an earlier life of its own and release its leases.
  svc = await startTestService({ instanceId: 'first-instance', taskMetricSamples: EVERY, taskMetricPoints: KEPT });
  projectId = await createProject(svc.admin, 'events-project');
  otherProjectId = await createProject(svc.admin, 'events-elsewhere');
  member = await memberOf(svc.admin, projectId, 'events-member');
  outsider = await memberOf(svc.admin, otherProjectId, 'events-outsider');
  datasetId = await createDataset(member, projectId, { name: 'even-odd', format: 'csv', labelColumn: 'label' });
  await uploadCsv(member, projectId, datasetId, tinyCsv(2000));
  otherDatasetId = await createDataset(outsider, otherProjectId, { name: 'even-odd', format: 'csv', labelColumn: 'label' });
  await uploadCsv(outsider, otherProjectId, otherDatasetId, tinyCsv(400));
});

after(async () => {
  for (const s of sockets) s.disconnect();
  await svc.close();
});

describe('the metric series of a train task', () => {
  let clusterId: string;
  let taskId: string;
  let live: Got[];

  before(async () => {
    clusterId = await createCluster(member, projectId, { name: 'series', template: DEFAULT_TEMPLATE, seed: 5 });
    // Following the project before the task exists: every event of the task arrives live.
    const follower = await Follower.connect(member.token);
    assert.deepEqual(await follower.follow({ projectId }), { ok: true, following: { projectId } });
    taskId = await submit(member, projectId, clusterId, { kind: 'train', datasetId, epochs: 3 });
    live = await follower.untilEnd(taskId);
    follower.socket.disconnect();
  });

  test('is pushed in order and complete: states queued → running → finished, points 0..n, the final point last', () => {
    const states = live.filter((e) => e.event === 'state').map((e) => str(e.body, 'state'));
    assert.deepEqual(states, ['queued', 'running', 'finished']);
    const points = live.filter((e) => e.event === 'metric').map((e) => e.body);
    // 6,000 samples at one point per ≥ 200 (or ≥ 400 after the store halved the series): several.
    assert.ok(points.length >= 5, `${points.length} points`);
    assert.deepEqual(
      points.map((p) => num(p, 'seq')),
      points.map((_, i) => i),
      'every point once, in order',
    );
    for (let i = 1; i < points.length; i++) assert.ok(num(points[i]!, 'done') >= num(points[i - 1]!, 'done'));
    const last = points[points.length - 1]!;
    assert.equal(last.final, true);
    assert.ok(points.slice(0, -1).every((p) => p.final === false));
    assert.equal(num(last, 'done'), 6000);
    assert.equal(num(last, 'total'), 6000);
    // The end state is the very last event; the final point comes right before it.
    assert.equal(live[live.length - 1]!.event, 'state');
    assert.equal(live[live.length - 2]!.event, 'metric');
    // What a running point carries: speed, the running training accuracy, the network's size.
    const middle = points[Math.floor(points.length / 2)]!;
    assert.ok(num(middle, 'samplesPerSecond') > 0);
    assert.ok(num(middle, 'window') > 0);
    const accuracy = num(middle, 'accuracy');
    assert.ok(accuracy >= 0 && accuracy <= 1);
    assert.ok(num(last, 'neurons') > 0 && num(last, 'synapses') > 0 && num(last, 'sections') > 0 && num(last, 'bytes') > 0);
  });

  test('the last point is what GET task shows, with the final result', async () => {
    const task = await member.expect(200, 'GET', `${tasksPath(projectId, clusterId)}/${taskId}`);
    const end = live[live.length - 1]!.body;
    assert.equal(task.state, 'finished');
    assert.deepEqual(obj(task.result), obj(end.result), 'the end event carries the result GET shows');
    const summary = obj(task.metrics);
    const lastPushed = live.filter((e) => e.event === 'metric').at(-1)!.body;
    assert.deepEqual(summary.last, lastPushed);
    assert.ok(num(summary, 'points') <= KEPT);
    assert.equal(num(obj(obj(task.result).stats), 'synapses'), num(lastPushed, 'synapses'));
  });

  test('is stored bounded (halved when full) and paged by GET …/metrics', async () => {
    const path = `${tasksPath(projectId, clusterId)}/${taskId}/metrics`;
    const page = await member.expect(200, 'GET', path);
    const stored = items(page);
    const pushed = live.filter((e) => e.event === 'metric').map((e) => e.body);
    assert.ok(pushed.length > KEPT, `${pushed.length} points pushed: enough to fill the series`);
    assert.ok(stored.length <= KEPT && stored.length >= KEPT / 2, `${stored.length} points kept`);
    assert.equal(num(page, 'total'), stored.length);
    // The kept points are points that were pushed, spanning the run: the first and the final.
    assert.equal(num(stored[0]!, 'seq'), 0);
    assert.deepEqual(stored.at(-1), pushed.at(-1));
    for (const p of stored) assert.deepEqual(p, pushed[num(p, 'seq')]);
    const second = await member.expect(200, 'GET', `${path}?offset=1&limit=2`);
    assert.deepEqual(items(second), stored.slice(1, 3));
    assert.deepEqual([num(second, 'offset'), num(second, 'limit'), num(second, 'total')], [1, 2, stored.length]);
    // Same rights as reading the task: an outsider learns nothing.
    assert.equal((await outsider.get(path)).status, 404);
  });

  test('a follower that joins after the end gets the stored points, then the end state, and the follow closes', async () => {
    const follower = await Follower.connect(member.token);
    assert.equal((await follower.follow({ projectId, clusterId, taskId })).ok, true);
    const got = await follower.untilEnd(taskId);
    const stored = items(await member.expect(200, 'GET', `${tasksPath(projectId, clusterId)}/${taskId}/metrics`));
    assert.deepEqual(
      got.filter((e) => e.event === 'metric').map((e) => e.body),
      stored,
    );
    assert.deepEqual(
      got.map((e) => e.event),
      [...stored.map(() => 'metric'), 'state'],
    );
    await waitFor(
      async () => eventsStats().follows,
      (n) => n === 0,
      'the ended task follow to close',
    );
    follower.socket.disconnect();
  });
});

describe('the final metrics of a request task', () => {
  test('accuracy, confusion matrix and per-class accuracy, in the result and the final point', async () => {
    const clusterId = await createCluster(member, projectId, { name: 'scored', template: DEFAULT_TEMPLATE, seed: 7 });
    const follower = await Follower.connect(member.token);
    await follower.follow({ projectId });
    const trainId = await submit(member, projectId, clusterId, { kind: 'train', datasetId });
    await follower.untilEnd(trainId);
    const requestId = await submit(member, projectId, clusterId, { kind: 'request', datasetId });
    const got = await follower.untilEnd(requestId);
    follower.socket.disconnect();
    const task = await member.expect(200, 'GET', `${tasksPath(projectId, clusterId)}/${requestId}`);
    const result = obj(task.result);
    const accuracy = num(result, 'accuracy');
    const confusion = result.confusion as number[][];
    assert.equal(confusion.length, 2);
    assert.equal(
      confusion.flat().reduce((a, b) => a + b, 0),
      2000,
    );
    const perClass = (result.perClass as Record<string, unknown>[]).map((c) => [c.label, c.samples]);
    assert.deepEqual(perClass.sort(), [
      ['even', 1000],
      ['odd', 1000],
    ]);
    assert.equal((confusion[0]![0]! + confusion[1]![1]!) / 2000, accuracy);
    const final = got.filter((e) => e.event === 'metric').at(-1)!.body;
    assert.equal(final.final, true);
    assert.equal(num(final, 'accuracy'), accuracy);
    assert.equal(num(final, 'window'), 2000);
    assert.deepEqual(obj(task.metrics).last, final);
    assert.deepEqual(obj(got.at(-1)!.body.result), result);
  });
});

describe('who may follow', () => {
  test('a bad token is refused at connect; an outsider is refused a project and a task with not-found', async () => {
    await assert.rejects(Follower.connect('not-a-token'), (e: Error & { data?: { code?: string } }) => e.data?.code === 'unauthorized');
    await assert.rejects(Follower.connect(null), (e: Error & { data?: { code?: string } }) => e.data?.code === 'unauthorized');
    const clusterId = await createCluster(member, projectId, { name: 'private', template: DEFAULT_TEMPLATE });
    const taskId = await submit(member, projectId, clusterId, { kind: 'train', datasetId });
    const follower = await Follower.connect(outsider.token);
    const refusedProject = await follower.follow({ projectId });
    assert.equal(refusedProject.ok, false);
    assert.equal(obj(refusedProject.error).code, 'not-found');
    assert.match(str(obj(refusedProject.error), 'message'), /project .* not found/);
    const refusedTask = await follower.follow({ projectId, clusterId, taskId });
    assert.equal(obj(refusedTask.error).code, 'not-found');
    // Its own project's id with the other project's task: still not found.
    assert.equal(obj((await follower.follow({ projectId: otherProjectId, clusterId, taskId })).error).code, 'not-found');
    const bad = await follower.follow({ projectId: 'nope' });
    assert.equal(obj(bad.error).code, 'bad-payload');
    assert.equal(eventsStats().follows, 0, 'a refused follow leaves nothing behind');
    await waitFor(
      () => member.expect(200, 'GET', `${tasksPath(projectId, clusterId)}/${taskId}`),
      (t) => ENDED.includes(str(t, 'state')),
      'the task to end',
    );
    assert.equal(follower.events.length, 0, 'the outsider heard nothing of the task');
    follower.socket.disconnect();
  });

  test('a token revoked after the connect starts no new follow', async () => {
    const changer = await memberOf(svc.admin, projectId, 'events-changer', 'member', 'first-passphrase');
    const follower = await Follower.connect(changer.token);
    assert.equal((await follower.follow({ projectId })).ok, true);
    await changer.expect(200, 'PATCH', '/v1/users/me', { json: { currentPassphrase: 'first-passphrase', passphrase: 'second-passphrase' } });
    const refused = await follower.follow({ projectId: otherProjectId });
    assert.equal(obj(refused.error).code, 'unauthorized');
    assert.match(str(obj(refused.error), 'message'), /revoked/);
    follower.socket.disconnect();
  });

  test("a project follow hears only its project: another project's task is not pushed", async () => {
    const follower = await Follower.connect(member.token);
    await follower.follow({ projectId });
    const otherCluster = await createCluster(outsider, otherProjectId, { name: 'theirs', template: DEFAULT_TEMPLATE });
    const theirs = await submit(outsider, otherProjectId, otherCluster, { kind: 'train', datasetId: otherDatasetId });
    const ours = await createCluster(member, projectId, { name: 'ours', template: DEFAULT_TEMPLATE });
    // Submitted after theirs on another cluster: when ours ended, theirs was seen by the bus
    // long before (the queued state is published at submit).
    await waitFor(
      () => outsider.expect(200, 'GET', `${tasksPath(otherProjectId, otherCluster)}/${theirs}`),
      (t) => ENDED.includes(str(t, 'state')),
      'their task to end',
    );
    const mine = await submit(member, projectId, ours, { kind: 'train', datasetId });
    await follower.untilEnd(mine);
    assert.ok(follower.events.length > 0);
    assert.ok(follower.events.every((e) => e.projectId === projectId && e.taskId !== theirs));
    // An outsider following its own project heard its task: the scoping is by membership.
    follower.socket.disconnect();
  });
});

describe('leaving', () => {
  test('followers that disconnect mid-task leave no subscription behind', async () => {
    // The earlier tests' sockets are gone once the server has seen them leave.
    await waitFor(
      async () => eventsStats(),
      (s) => s.sockets === 0 && s.follows === 0 && s.subscriptions === 0,
      'nothing open before',
    );
    const clusterId = await createCluster(member, projectId, { name: 'long', template: DEFAULT_TEMPLATE });
    // Long enough to still run while the followers come and go.
    const taskId = await submit(member, projectId, clusterId, { kind: 'train', datasetId, epochs: 1000 });
    const followers = await Promise.all([0, 1, 2].map(() => Follower.connect(member.token)));
    await followers[0]!.follow({ projectId });
    await followers[1]!.follow({ projectId, clusterId, taskId });
    await followers[2]!.follow({ projectId });
    await followers[2]!.follow({ projectId, clusterId, taskId });
    // An unfollow ends one follow.
    assert.deepEqual(obj(await followers[2]!.socket.timeout(10_000).emitWithAck('unfollow', { projectId })), { ok: true });
    // Each task follow also watches the store, in case another instance runs the task.
    assert.deepEqual(eventsStats(), { sockets: 3, follows: 3, subscriptions: 3, pollers: 2 });
    await waitFor(
      async () => followers.map((f) => f.of(taskId).filter((e) => e.event === 'metric').length),
      (n) => n.every((k) => k >= 2),
      'points on every follower',
    );
    for (const f of followers) f.socket.disconnect();
    await waitFor(
      async () => eventsStats(),
      (s) => s.sockets === 0 && s.follows === 0 && s.subscriptions === 0,
      'every subscription gone',
    );
    const cancelled = await member.expect(200, 'POST', `${tasksPath(projectId, clusterId)}/${taskId}/cancel`);
    assert.equal(cancelled.state, 'cancelled');
    // The cancelled task's series ends with a final point at what it learned.
    const last = obj(obj((await member.expect(200, 'GET', `${tasksPath(projectId, clusterId)}/${taskId}`)).metrics).last);
    assert.equal(last.final, true);
    assert.equal(num(last, 'done'), num(obj(cancelled.progress), 'done'));
  });
});

describe('a task another instance runs', () => {
  test('a follower on this instance gets its points and end from the store, and nothing stays behind', async () => {
    // A second service process on the same store (an embedded one shared by two instances,
    // as the service and the CLI share it); the first runs the task, the second is asked.
    const second = await startService(testConfig(svc.dataDir, { instanceId: 'second-instance', taskPollMs: 200, taskMetricSamples: EVERY, taskMetricPoints: KEPT }), {
      logger: pino({ level: 'silent' }),
    });
    try {
      const clusterId = await createCluster(member, projectId, { name: 'elsewhere', template: DEFAULT_TEMPLATE });
      const taskId = await submit(member, projectId, clusterId, { kind: 'train', datasetId, epochs: 20 });
      const running = await waitFor(
        () => member.expect(200, 'GET', `${tasksPath(projectId, clusterId)}/${taskId}`),
        (t) => t.state !== 'queued',
        'the task to start',
      );
      assert.equal(running.runBy, 'first-instance');
      const follower = await Follower.connect(member.token, second.url);
      assert.equal((await follower.follow({ projectId, clusterId, taskId })).ok, true);
      const atAck = follower.of(taskId).length;
      const got = await follower.untilEnd(taskId);
      follower.socket.disconnect();
      const task = await member.expect(200, 'GET', `${tasksPath(projectId, clusterId)}/${taskId}`);
      assert.equal(task.state, 'finished', String(task.error));
      assert.ok(got.length > atAck, 'events came after the follow began, read from the store');
      const points = got.filter((e) => e.event === 'metric').map((e) => e.body);
      const seqs = points.map((p) => num(p, 'seq'));
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        'points in order',
      );
      assert.equal(new Set(seqs).size, seqs.length, 'none twice');
      assert.deepEqual(points.at(-1), obj(task.metrics).last);
      assert.equal(got.at(-1)!.event, 'state');
      assert.deepEqual(obj(got.at(-1)!.body.result), obj(task.result));
      await waitFor(
        async () => second.events.stats,
        (st) => st.follows === 0 && st.pollers === 0 && st.sockets === 0,
        'the second instance to forget the follower',
      );
    } finally {
      await second.stop();
    }
  });
});
