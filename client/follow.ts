/**
 * Following a task live: the service pushes its state changes and metric points over
 * Socket.IO (namespace /v1/events, docs/socket-io.md "Following tasks"); `followTask` turns
 * them into an async iterator that ends after the task's end state.
 *
 * A service without that namespace (older than the metric series) is followed by polling
 * `GET …/tasks/{id}` instead: state events only, each carrying the task's progress.
 */
import { io as connectSocket, type Socket } from 'socket.io-client';
import { HanamiError } from './errors.js';
import type { ListTaskMetricsResponse } from './generated/types.gen.js';

export const EVENTS_NAMESPACE_PATH = '/v1/events';

/** One point of a task's metric series (GET …/tasks/{id}/metrics), as the service's
 *  document (and so the generated SDK) declares it. */
export type MetricPoint = ListTaskMetricsResponse['items'][number];

/** A task as GET …/tasks/{id} shows it (the fields a follower reads). */
export interface TaskView {
  id: string;
  projectId: string;
  clusterId: string;
  kind: 'train' | 'request';
  name: string;
  state: 'queued' | 'running' | 'finished' | 'failed' | 'cancelled';
  progress: { done: number; total: number };
  result: ({ samples: number; seconds: number; samplesPerSecond: number; accuracy?: number; rmse?: number; mae?: number } & Record<string, unknown>) | null;
  error: string | null;
  [key: string]: unknown;
}

export type TaskEvent = { type: 'state'; task: TaskView } | { type: 'metric'; taskId: string; point: MetricPoint };

export const ENDED_STATES: ReadonlySet<string> = new Set(['finished', 'failed', 'cancelled']);

export interface FollowTarget {
  projectId: string;
  clusterId: string;
  taskId: string;
}

export interface FollowOptions {
  /** Polling interval when the service has no events namespace (default 250 ms). */
  pollMs?: number;
  signal?: AbortSignal;
}

/** A small queue between socket callbacks and the iterator. */
class EventQueue<T> {
  private items: T[] = [];
  private waiting: (() => void) | undefined;
  private ended = false;
  private failure: unknown;

  push(item: T): void {
    this.items.push(item);
    this.wake();
  }
  end(): void {
    this.ended = true;
    this.wake();
  }
  fail(error: unknown): void {
    this.failure ??= error;
    this.end();
  }
  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }
  async *drain(): AsyncGenerator<T> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }
}

function connect(url: string, token: string): Promise<Socket | 'no-namespace'> {
  const socket = connectSocket(`${url}${EVENTS_NAMESPACE_PATH}`, { auth: { token }, transports: ['websocket'], reconnection: false, timeout: 10_000 });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error: Error & { data?: { code?: string } }) => {
      socket.close();
      if (/invalid namespace/i.test(error.message)) resolve('no-namespace');
      else
        reject(
          new HanamiError({ type: 'about:blank', title: 'Follow refused', status: error.data?.code === 'unauthorized' ? 401 : 0, code: error.data?.code ?? 'connect-failed', detail: error.message }),
        );
    });
  });
}

/** Follows one task over the events namespace; ends after its end state. */
export async function* followTask(
  url: string,
  token: (renew: boolean) => Promise<string>,
  target: FollowTarget,
  poll: () => Promise<TaskView>,
  options: FollowOptions = {},
): AsyncGenerator<TaskEvent> {
  let socket: Socket | 'no-namespace';
  try {
    socket = await connect(url, await token(false));
  } catch (error) {
    // A token revoked (or expired) since it was checked: once more with a renewed one.
    if (!(error instanceof HanamiError && error.status === 401)) throw error;
    socket = await connect(url, await token(true));
  }
  if (socket === 'no-namespace') {
    yield* pollTask(poll, options);
    return;
  }
  const queue = new EventQueue<TaskEvent>();
  const onAbort = (): void => queue.fail(HanamiError.network(Object.assign(new Error('aborted'), { name: 'AbortError' }), url));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  socket.on('task:state', (e: { task: TaskView }) => {
    queue.push({ type: 'state', task: e.task });
    if (ENDED_STATES.has(e.task.state)) queue.end();
  });
  socket.on('task:metric', (e: { taskId: string; point: MetricPoint }) => queue.push({ type: 'metric', taskId: e.taskId, point: e.point }));
  socket.on('disconnect', (reason) =>
    queue.fail(new HanamiError({ type: 'about:blank', title: 'Follow ended', status: 0, code: 'disconnected', detail: `the service closed the event stream (${reason}) before the task ended` })),
  );
  try {
    const reply = (await socket.emitWithAck('follow', target)) as { ok: boolean; error?: { code: string; message: string } };
    if (!reply.ok) {
      const code = reply.error?.code ?? 'unknown';
      const status = code === 'not-found' ? 404 : code === 'forbidden' ? 403 : 400;
      throw new HanamiError({ type: `urn:hanami:problem:${code}`, title: 'Follow refused', status, code, detail: reply.error?.message ?? 'the follow was refused' });
    }
    yield* queue.drain();
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    socket.off('disconnect');
    socket.close();
  }
}

/** The fallback: the task's record every `pollMs`, as a state event whenever it changed. */
async function* pollTask(poll: () => Promise<TaskView>, options: FollowOptions): AsyncGenerator<TaskEvent> {
  let last = '';
  for (;;) {
    if (options.signal?.aborted) throw HanamiError.network(Object.assign(new Error('aborted'), { name: 'AbortError' }), 'follow');
    const task = await poll();
    const key = `${task.state}:${task.progress.done}`;
    if (key !== last) {
      last = key;
      yield { type: 'state', task };
    }
    if (ENDED_STATES.has(task.state)) return;
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 250));
  }
}
