/**
 * Live task progress over Socket.IO: the namespace /v1/events (protocol in
 * docs/socket-io.md, "Following tasks").
 *
 * - The handshake carries the JWT (`auth: { token }`), checked by the HTTP API's verifier
 *   (Authenticator.verifyToken), as /v1/io does.
 * - `follow` `{ projectId, clusterId, taskId }` follows one task (the rights of
 *   `GET /v1/projects/:projectId/clusters/:clusterId/tasks/:taskId`); `follow` `{ projectId }`
 *   follows every task of a project (the rights of listing a cluster's tasks). A caller who is
 *   not a member gets `not-found` (as over HTTP, the project's existence is not revealed), a
 *   member whose role lacks the right `forbidden`.
 * - The server sends `task:state` (the task as `GET …/tasks/{id}` shows it, on every state
 *   change: queued, running, finished, failed, cancelled) and `task:metric` (a point of its
 *   metric series). A follower first gets what happened so far: for a task, its stored
 *   points and its state; for a project, each active task's state and last point. Nothing is
 *   sent twice (points by `seq`, states by value) and nothing is missed: the subscription
 *   starts before the store is read, and the runtime publishes only what the store has.
 *   The last event of a task is its end state, after its final point.
 * - A task follow ends by itself after the task's end state; `unfollow` ends any follow; a
 *   disconnect ends all of a socket's follows (nothing is left subscribed).
 *
 * Events are published by the process that runs the task (the host of its cluster). With
 * several service instances, a task follow on an instance that does not run the task reads
 * the store instead, every `pollMs` (the task's record and its new points), until the end;
 * a project follow hears the tasks this instance runs.
 */
import type { Logger } from 'pino';
import type { Namespace, Socket } from 'socket.io';
import type { Authenticator } from '../auth/authenticate.js';
import type { Policy } from '../auth/policy.js';
import { roleInProject } from '../auth/roles.js';
import { DomainError, socketCode } from '../errors.js';
import { NotFoundError, type MetricPoint, type Store, type TaskRecord, type User } from '../store/types.js';
import type { TaskEvent, TaskEvents } from '../tasks/task-events.js';
import { failure, IoError } from './protocol.js';

export const EVENTS_NAMESPACE = '/v1/events';

/** What a follow is authorized as, with the Casbin policy of the HTTP API. */
export const FOLLOW_TASK_ROUTE = '/v1/projects/:projectId/clusters/:clusterId/tasks/:taskId';
export const FOLLOW_PROJECT_ROUTE = '/v1/projects/:projectId/clusters/:clusterId/tasks';

export const EventsEvent = {
  follow: 'follow',
  unfollow: 'unfollow',
  /** Server → client: `{ projectId, clusterId, taskId, task }`. */
  state: 'task:state',
  /** Server → client: `{ projectId, clusterId, taskId, point }`. */
  metric: 'task:metric',
} as const;

/** Follows one socket may hold at once. */
export const MAX_FOLLOWS_PER_SOCKET = 64;

const ENDED = new Set(['finished', 'failed', 'cancelled']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TaskEventsDeps {
  store: Store;
  events: TaskEvents;
  authenticator: Authenticator;
  policy: Policy;
  logger: Logger;
  maxSocketsPerUser: number;
  /** This process's instance id: tasks another one runs are followed through the store. */
  instanceId: string;
  /** How often such a follow reads the store (HANAMI_TASK_POLL_MS). */
  pollMs: number;
  /** The task as `GET …/tasks/{id}` shows it (server/api/resources/tasks.ts). */
  taskView: (task: TaskRecord) => unknown;
  metricView: (point: MetricPoint) => unknown;
}

type Scope = { projectId: string; clusterId?: string; taskId?: string };

/** What one follow has sent of each task, so nothing goes twice. */
interface Sent {
  seq: number;
  state: string | undefined;
}

interface Follow {
  key: string;
  unsubscribe: () => void;
}

type Ack = (reply: unknown) => void;

function parseScope(payload: unknown): Scope {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw new IoError('bad-payload', 'send { projectId } to follow a project, or { projectId, clusterId, taskId } to follow a task');
  const p = payload as Record<string, unknown>;
  const id = (name: string, required: boolean): string | undefined => {
    const v = p[name];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || !UUID.test(v)) throw new IoError('bad-payload', `${name} must be a UUID`);
    return v.toLowerCase();
  };
  const projectId = id('projectId', true)!;
  const taskId = id('taskId', false);
  const clusterId = id('clusterId', taskId !== undefined);
  for (const key of Object.keys(p)) if (!['projectId', 'clusterId', 'taskId'].includes(key)) throw new IoError('bad-payload', `unknown field "${key}"`);
  if (clusterId !== undefined && taskId === undefined)
    throw new IoError('bad-payload', 'clusterId without taskId: follow a task ({ projectId, clusterId, taskId }) or a whole project ({ projectId })');
  return { projectId, ...(clusterId !== undefined ? { clusterId } : {}), ...(taskId !== undefined ? { taskId } : {}) };
}

const keyOf = (scope: Scope): string => (scope.taskId !== undefined ? `task:${scope.taskId}` : `project:${scope.projectId}`);

function asIoError(e: unknown, logger: Logger): IoError {
  if (e instanceof IoError) return e;
  if (e instanceof DomainError && e.code !== 'internal') return new IoError(socketCode(e.code), e.message);
  logger.error({ err: e }, 'task events: a follow failed');
  return new IoError('internal', 'the follow failed inside the service; see the error log');
}

export class TaskEventsNamespace {
  private readonly socketsPerUser = new Map<string, number>();
  /** Each connected socket's follows, by key. */
  private readonly follows = new Map<Socket, Map<string, Follow>>();
  /** Task follows reading the store (their task runs on another instance). */
  private pollers = 0;

  constructor(
    private readonly ns: Namespace,
    private readonly deps: TaskEventsDeps,
  ) {
    ns.use((socket, next) => {
      this.authenticate(socket).then(
        () => next(),
        (e: unknown) => next(connectError(e)),
      );
    });
    ns.on('connection', (socket) => this.onConnection(socket));
  }

  /** Sockets connected now and follows open now (for tests and metrics). */
  get stats(): { sockets: number; follows: number; subscriptions: number; pollers: number } {
    let follows = 0;
    for (const f of this.follows.values()) follows += f.size;
    return { sockets: this.follows.size, follows, subscriptions: this.deps.events.size, pollers: this.pollers };
  }

  private async authenticate(socket: Socket): Promise<void> {
    const auth: unknown = socket.handshake.auth;
    const token = typeof auth === 'object' && auth !== null && typeof (auth as { token?: unknown }).token === 'string' ? (auth as { token: string }).token : undefined;
    if (!token) throw new DomainError('unauthorized', 'unauthorized: send the token from POST /v1/auth/login as auth: { token }');
    const user = await this.deps.authenticator.verifyToken(token).catch((e: unknown) => {
      throw e instanceof DomainError && e.code === 'unauthorized' ? new DomainError('unauthorized', `unauthorized: ${e.message}`) : e;
    });
    const open = this.socketsPerUser.get(user.id) ?? 0;
    if (open >= this.deps.maxSocketsPerUser) throw new IoError('rate-limited', `too many sockets: at most ${this.deps.maxSocketsPerUser} per user`);
    this.socketsPerUser.set(user.id, open + 1);
    socket.data.user = user;
    socket.data.token = token;
  }

  private onConnection(socket: Socket): void {
    const user = socket.data.user as User;
    const follows = new Map<string, Follow>();
    this.follows.set(socket, follows);
    socket.on(EventsEvent.follow, (payload: unknown, ack?: Ack) => {
      this.follow(socket, user, follows, payload).then(
        (reply) => (typeof ack === 'function' ? ack(reply) : undefined),
        (e: unknown) => {
          const error = asIoError(e, this.deps.logger);
          if (typeof ack === 'function') ack(failure(error.code, error.message));
        },
      );
    });
    socket.on(EventsEvent.unfollow, (payload: unknown, ack?: Ack) => {
      let reply: unknown;
      try {
        const key = keyOf(parseScope(payload));
        const follow = follows.get(key);
        if (!follow) throw new IoError('not-found', `not following ${key.replace(':', ' ')}`);
        follow.unsubscribe();
        follows.delete(key);
        reply = { ok: true };
      } catch (e) {
        const error = asIoError(e, this.deps.logger);
        reply = failure(error.code, error.message);
      }
      if (typeof ack === 'function') ack(reply);
    });
    socket.on('disconnect', () => {
      for (const follow of follows.values()) follow.unsubscribe();
      follows.clear();
      this.follows.delete(socket);
      const open = (this.socketsPerUser.get(user.id) ?? 1) - 1;
      if (open <= 0) this.socketsPerUser.delete(user.id);
      else this.socketsPerUser.set(user.id, open);
    });
  }

  private async follow(socket: Socket, user: User, follows: Map<string, Follow>, payload: unknown): Promise<unknown> {
    const scope = parseScope(payload);
    const key = keyOf(scope);
    if (follows.has(key)) return { ok: true, following: scope };
    if (follows.size >= MAX_FOLLOWS_PER_SOCKET) throw new IoError('quota-exceeded', `at most ${MAX_FOLLOWS_PER_SOCKET} follows per socket; unfollow one first`);
    // The token again (the verifier caches it): one that expired or was revoked since the
    // connect starts nothing new; and the user as they are now (an admin flag taken away).
    const current = await this.deps.authenticator.verifyToken(socket.data.token as string).catch((e: unknown) => {
      throw e instanceof DomainError && e.code === 'unauthorized' ? new DomainError('unauthorized', `unauthorized: ${e.message}; connect again with a fresh token`) : e;
    });
    if (current.id !== user.id) throw new DomainError('unauthorized', 'unauthorized: the token names another user');
    const role = await roleInProject(this.deps.store, current, scope.projectId);
    const route = scope.taskId !== undefined ? FOLLOW_TASK_ROUTE : FOLLOW_PROJECT_ROUTE;
    if (!(await this.deps.policy.allows(role, scope.projectId, route, 'GET'))) {
      throw new IoError('forbidden', `the policy does not allow role "${role}" to GET ${route} in project ${scope.projectId}`);
    }
    if (scope.taskId !== undefined) {
      // Check before subscribing: an unknown task leaves nothing behind.
      const task = await this.deps.store.tasks.get(scope.projectId, scope.taskId).catch((e: unknown) => {
        throw e instanceof NotFoundError ? new IoError('not-found', `task ${scope.taskId} not found in project ${scope.projectId}`) : e;
      });
      if (task.clusterId !== scope.clusterId) throw new IoError('not-found', `task ${scope.taskId} not found in cluster ${scope.clusterId}`);
    }
    if (!socket.connected || follows.has(key)) return { ok: true, following: scope };

    // Subscribe first, read the store second: events published meanwhile wait in `buffer`.
    const sent = new Map<string, Sent>();
    let buffer: TaskEvent[] | undefined = [];
    const follow: Follow = { key, unsubscribe: () => undefined };
    const stop = (): void => {
      follow.unsubscribe();
      if (follows.get(key) === follow) follows.delete(key);
    };
    const deliver = (event: TaskEvent): void => {
      if (buffer) buffer.push(event);
      else {
        try {
          this.send(socket, scope, sent, event, stop);
        } catch (e) {
          // The runtime publishes from its own work: a follower's trouble must not reach it.
          this.deps.logger.error({ err: e }, 'task events: could not send an event to a follower');
        }
      }
    };
    follow.unsubscribe = this.deps.events.subscribe(scope, deliver);
    follows.set(key, follow);
    try {
      await this.snapshot(socket, scope, sent, stop);
    } catch (e) {
      stop();
      throw e;
    }
    const waiting = buffer;
    buffer = undefined;
    for (const event of waiting) this.send(socket, scope, sent, event, stop);
    if (scope.taskId !== undefined && follows.get(key) === follow) this.pollElsewhere(socket, scope as Required<Scope>, sent, follow, stop);
    return { ok: true, following: scope };
  }

  /**
   * A task that another instance runs (or may run: queued) publishes nothing here: until it
   * ends, the follow reads its record and new points from the store every `pollMs`. Not while
   * this instance runs it (then the live events come); duplicates are dropped as ever.
   */
  private pollElsewhere(socket: Socket, scope: Required<Scope>, sent: Map<string, Sent>, follow: Follow, stop: () => void): void {
    let polling = false;
    const poll = async (): Promise<void> => {
      const task = await this.deps.store.tasks.get(scope.projectId, scope.taskId);
      if (task.state === 'running' && task.runBy === this.deps.instanceId) return;
      const seen = sent.get(task.id)?.seq ?? -1;
      const points = (await this.deps.store.tasks.listMetrics(scope.projectId, scope.taskId, { limit: 1000 })).items.filter((p) => p.seq > seen);
      const ended = ENDED.has(task.state);
      if (!ended) this.send(socket, scope, sent, { type: 'state', task }, stop);
      for (const point of points) this.send(socket, scope, sent, { type: 'metric', projectId: task.projectId, clusterId: task.clusterId, taskId: task.id, point }, stop);
      if (ended) this.send(socket, scope, sent, { type: 'state', task }, stop);
    };
    const timer = setInterval(() => {
      if (polling) return;
      polling = true;
      poll()
        .catch((e: unknown) => {
          // A deleted task ends the follow; anything else is tried again at the next tick.
          if (e instanceof NotFoundError) stop();
          else this.deps.logger.warn({ err: e, taskId: scope.taskId }, 'task events: could not read a followed task');
        })
        .finally(() => {
          polling = false;
        });
    }, this.deps.pollMs);
    timer.unref();
    this.pollers++;
    const unsubscribe = follow.unsubscribe;
    follow.unsubscribe = () => {
      unsubscribe();
      clearInterval(timer);
      this.pollers--;
      follow.unsubscribe = () => undefined;
    };
  }

  /** What happened before the follow: a task's stored points and state, or a project's
   *  active tasks with their last points. */
  private async snapshot(socket: Socket, scope: Scope, sent: Map<string, Sent>, stop: () => void): Promise<void> {
    const { store } = this.deps;
    if (scope.taskId !== undefined) {
      // The record first: when it shows the end, the points read after it are complete.
      const task = await store.tasks.get(scope.projectId, scope.taskId);
      const points = (await store.tasks.listMetrics(scope.projectId, scope.taskId, { limit: 1000 })).items;
      const ended = ENDED.has(task.state);
      if (!ended) this.send(socket, scope, sent, { type: 'state', task }, stop);
      for (const point of points) this.send(socket, scope, sent, { type: 'metric', projectId: task.projectId, clusterId: task.clusterId, taskId: task.id, point }, stop);
      if (ended) this.send(socket, scope, sent, { type: 'state', task }, stop);
      return;
    }
    const active = (await store.tasks.listByState(['queued', 'running'])).filter((t) => t.projectId === scope.projectId);
    for (const task of active) {
      const last = await store.tasks.lastMetric(task.projectId, task.id);
      this.send(socket, scope, sent, { type: 'state', task }, stop);
      if (last) this.send(socket, scope, sent, { type: 'metric', projectId: task.projectId, clusterId: task.clusterId, taskId: task.id, point: last }, stop);
    }
  }

  /** Emits one event unless this follow sent it already; ends a task follow at the task's end. */
  private send(socket: Socket, scope: Scope, sent: Map<string, Sent>, event: TaskEvent, stop: () => void): void {
    const taskId = event.type === 'state' ? event.task.id : event.taskId;
    let seen = sent.get(taskId);
    if (!seen) sent.set(taskId, (seen = { seq: -1, state: undefined }));
    if (seen.state !== undefined && ENDED.has(seen.state)) return;
    if (event.type === 'metric') {
      if (event.point.seq <= seen.seq) return;
      seen.seq = event.point.seq;
      socket.emit(EventsEvent.metric, { projectId: event.projectId, clusterId: event.clusterId, taskId, point: this.deps.metricView(event.point) });
      return;
    }
    const task = event.task;
    if (seen.state === task.state) return;
    seen.state = task.state;
    socket.emit(EventsEvent.state, { projectId: task.projectId, clusterId: task.clusterId, taskId, task: this.deps.taskView(task) });
    if (!ENDED.has(task.state)) return;
    // A project follow forgets an ended task (it will not be heard of again); a task follow
    // is over.
    if (scope.taskId === undefined) sent.delete(taskId);
    else stop();
  }

  /** Closes every socket of the namespace (service shutdown). */
  close(): void {
    this.ns.disconnectSockets(true);
  }
}

/** A connect refusal with a message and a code the client can read (`err.data.code`). */
function connectError(e: unknown): Error & { data?: unknown } {
  const known = e instanceof IoError ? { code: e.code as string, message: e.message } : e instanceof DomainError ? { code: socketCode(e.code), message: e.message } : undefined;
  const error = new Error(known?.message ?? 'the connection could not be checked') as Error & { data?: unknown };
  error.data = { code: known?.code ?? 'internal' };
  return error;
}
