/**
 * Direct network I/O over Socket.IO, on the same HTTP server and port as the API
 * (namespace /v1/io, default path /socket.io; protocol in docs/socket-io.md).
 *
 * - The handshake carries the JWT (`auth: { token }`); a bad, expired or revoked token is
 *   refused at connect, as is a user over the per-user socket limit.
 * - `attach` checks the cluster with the API's Casbin policy and project scoping (route
 *   /v1/projects/:projectId/clusters/:clusterId/io; GET for requests, POST for training).
 * - Every call is answered through its acknowledgement: `{ ok: true, ... }` or
 *   `{ ok: false, error: { code, message } }`. Calls of a socket run strictly in order (all
 *   go through the cluster's channel, in arrival order); bad payloads, unknown events, rate
 *   and size limits get an error acknowledgement and the socket stays usable.
 * - Idle sockets are closed; a socket that disconnects mid-call loses only its answers.
 */
import { ignoreFailure } from '../../kernels/background.js';
import type { Server as HttpServer } from 'node:http';
import type { Logger } from 'pino';
import { Server, type Socket } from 'socket.io';
import type { HanamiConfig } from '../config.js';
import type { Authenticator } from '../auth/authenticate.js';
import type { Policy } from '../auth/policy.js';
import { roleInProject } from '../auth/roles.js';
import { DomainError, socketCode } from '../errors.js';
import type { DirectAnswer } from '../network/direct.js';
import { NotFoundError, type Store, type User } from '../store/types.js';
import type { TaskRuntime } from '../tasks/runtime.js';
import { asIoError, type ClusterChannel } from './channel.js';
import type { ChannelRegistry } from './channels.js';
import { failure, IO_NAMESPACE, IoError, IoEvent, parseAttach, parseRequest, parseTrain } from './protocol.js';

/** The route direct I/O is authorized as (a member may use it like the cluster routes). */
export const IO_POLICY_ROUTE = '/v1/projects/:projectId/clusters/:clusterId/io';

export interface DirectIoDeps {
  config: HanamiConfig;
  store: Store;
  runtime: TaskRuntime;
  /** The clusters' call queues, shared with `POST …/predict`. */
  channels: ChannelRegistry;
  /** The HTTP API's token verifier (one for both transports). */
  authenticator: Authenticator;
  policy: Policy;
  logger: Logger;
  observe?: (event: string, outcome: 'ok' | 'error', seconds: number) => void;
}

interface Attachment {
  channel: ClusterChannel;
  canTrain: boolean;
}

interface SocketState {
  user: User;
  attachment: Attachment | undefined;
  /** Token bucket of the per-connection rate limit. */
  tokens: number;
  refilledAt: number;
  idleTimer: NodeJS.Timeout | undefined;
  /** Cancels the socket's calls still queued (on disconnect). */
  pending: Set<() => void>;
}

type Ack = (reply: unknown) => void;

export class DirectIoServer {
  readonly io: Server;
  private readonly socketsPerUser = new Map<string, number>();
  private readonly states = new Map<Socket, SocketState>();
  private readonly maxBytes: number;

  constructor(
    http: HttpServer,
    private readonly deps: DirectIoDeps,
  ) {
    const io = deps.config.io;
    this.maxBytes = io.maxMessageBytes;
    this.io = new Server(http, {
      serveClient: false,
      // The hard cap of the transport: a message above it closes the connection. The payload
      // limit (maxMessageBytes) is checked per value array below it, with an error ack.
      maxHttpBufferSize: io.maxMessageBytes + 64 * 1024,
      perMessageDeflate: false,
      connectTimeout: 10_000,
    });
    const ns = this.io.of(IO_NAMESPACE);
    ns.use((socket, next) => {
      this.authenticate(socket).then(
        () => next(),
        (e: unknown) => next(toConnectError(e)),
      );
    });
    ns.on('connection', (socket) => this.onConnection(socket));
    // Socket.IO's root namespace `/` exists on every server and would accept anyone, and a
    // client that connects there by mistake (the URL without /v1/io) would wait for answers
    // that never come: it is refused with a pointer to the right namespace. Its transport is
    // then closed by `connectTimeout`, as it joined no namespace. Any other namespace is
    // refused by Socket.IO itself ("Invalid namespace").
    this.io
      .of('/')
      .use((_socket, next) =>
        next(
          toConnectError(
            new IoError(
              'wrong-namespace',
              `this server answers direct I/O on the namespace ${IO_NAMESPACE}: connect to <service URL>${IO_NAMESPACE} (e.g. io("http://host:port${IO_NAMESPACE}", { auth: { token } }))`,
            ),
          ),
        ),
      );
  }

  /** Sockets connected now (for tests and metrics). */
  get connected(): number {
    return this.states.size;
  }

  /** Channels open now (clusters with attached sockets or unsaved direct training). */
  get openChannels(): number {
    return this.deps.channels.size;
  }

  channelStats(clusterId: string): ClusterChannel['stats'] | undefined {
    return this.deps.channels.get(clusterId)?.stats;
  }

  private async authenticate(socket: Socket): Promise<void> {
    const auth: unknown = socket.handshake.auth;
    const token = typeof auth === 'object' && auth !== null && typeof (auth as { token?: unknown }).token === 'string' ? (auth as { token: string }).token : undefined;
    if (!token) throw new DomainError('unauthorized', 'unauthorized: send the token from POST /v1/auth/login as auth: { token }');
    // The HTTP API's verifier: the same checks, messages and cache of verified tokens.
    const user = await this.deps.authenticator.verifyToken(token).catch((e: unknown) => {
      throw e instanceof DomainError && e.code === 'unauthorized' ? new DomainError('unauthorized', `unauthorized: ${e.message}`) : e;
    });
    const open = this.socketsPerUser.get(user.id) ?? 0;
    if (open >= this.deps.config.io.maxSocketsPerUser) {
      throw new IoError('rate-limited', `too many sockets: at most ${this.deps.config.io.maxSocketsPerUser} per user`);
    }
    this.socketsPerUser.set(user.id, open + 1);
    socket.data.user = user;
  }

  private onConnection(socket: Socket): void {
    const user = socket.data.user as User;
    const state: SocketState = { user, attachment: undefined, tokens: this.deps.config.io.ratePerSecond, refilledAt: Date.now(), idleTimer: undefined, pending: new Set() };
    this.states.set(socket, state);
    this.touch(socket, state);
    socket.on(IoEvent.attach, (payload: unknown, ack?: Ack) => this.handle(socket, state, IoEvent.attach, ack, () => this.attach(state, payload)));
    socket.on(IoEvent.detach, (ack?: Ack) => this.handle(socket, state, IoEvent.detach, typeof ack === 'function' ? ack : undefined, () => this.detach(state)));
    socket.on(IoEvent.request, (payload: unknown, ack?: Ack) => this.call(socket, state, 'request', payload, ack));
    socket.on(IoEvent.train, (payload: unknown, ack?: Ack) => this.call(socket, state, 'train', payload, ack));
    socket.on(IoEvent.reset, (payload: unknown, ack?: Ack) => this.call(socket, state, 'reset', payload, ack ?? (typeof payload === 'function' ? (payload as Ack) : undefined)));
    socket.onAny((event: string, ...args: unknown[]) => {
      if ((Object.values(IoEvent) as string[]).includes(event)) return;
      const ack = args[args.length - 1];
      if (typeof ack === 'function') (ack as Ack)(failure('unknown-event', `unknown event "${event}" (expected ${Object.values(IoEvent).join(', ')})`));
    });
    socket.on('disconnect', () => this.onDisconnect(socket, state));
  }

  private touch(socket: Socket, state: SocketState): void {
    clearTimeout(state.idleTimer);
    state.idleTimer = setTimeout(() => socket.disconnect(true), this.deps.config.io.idleSeconds * 1000);
    state.idleTimer.unref();
  }

  /** Takes one token from the connection's bucket; false when the rate is exceeded. */
  private admit(state: SocketState): boolean {
    const rate = this.deps.config.io.ratePerSecond;
    const now = Date.now();
    state.tokens = Math.min(rate, state.tokens + ((now - state.refilledAt) * rate) / 1000);
    state.refilledAt = now;
    if (state.tokens < 1) return false;
    state.tokens -= 1;
    return true;
  }

  /** attach / detach: answered at once (they do not touch the network). */
  private handle(socket: Socket, state: SocketState, event: string, ack: Ack | undefined, work: () => Promise<unknown>): void {
    this.touch(socket, state);
    const started = performance.now();
    work().then(
      (reply) => {
        this.deps.observe?.(event, 'ok', (performance.now() - started) / 1000);
        ack?.(reply);
      },
      (e: unknown) => {
        this.deps.observe?.(event, 'error', (performance.now() - started) / 1000);
        const error = asIoError(e, this.deps.logger);
        ack?.(failure(error.code, error.message));
      },
    );
  }

  /** request / train / reset: queued in the cluster's channel, in arrival order. */
  private call(socket: Socket, state: SocketState, kind: 'request' | 'train' | 'reset', payload: unknown, ack: Ack | undefined): void {
    this.touch(socket, state);
    const started = performance.now();
    const reply = (answer: unknown, outcome: 'ok' | 'error'): void => {
      this.deps.observe?.(kind, outcome, (performance.now() - started) / 1000);
      if (typeof ack === 'function') ack(answer);
    };
    const attachment = state.attachment;
    if (!attachment) {
      reply(failure('not-attached', `attach to a cluster before "${kind}"`), 'error');
      return;
    }
    let refused: IoError | undefined;
    let inputs;
    let target;
    try {
      if (!this.admit(state)) throw new IoError('rate-limited', `more than ${this.deps.config.io.ratePerSecond} calls per second on this connection`);
      if (kind === 'train' && !attachment.canTrain) throw new IoError('forbidden', 'the policy does not allow this user to train the cluster');
      if (kind === 'request') inputs = parseRequest(payload, this.maxBytes);
      if (kind === 'train') ({ inputs, target } = parseTrain(payload, this.maxBytes));
    } catch (e) {
      refused = asIoError(e, this.deps.logger);
    }
    // Refused calls keep their place in the queue, so acknowledgements stay in call order.
    const { done, cancel } = attachment.channel.submit(kind, inputs, target, refused);
    state.pending.add(cancel);
    done.then(
      (answer) => {
        state.pending.delete(cancel);
        reply(answer ? encodeAnswer(answer, kind === 'train') : { ok: true }, 'ok');
      },
      (e: unknown) => {
        state.pending.delete(cancel);
        const error = asIoError(e, this.deps.logger);
        reply(failure(error.code, error.message), 'error');
      },
    );
  }

  private async attach(state: SocketState, payload: unknown): Promise<unknown> {
    const { projectId, clusterId } = parseAttach(payload);
    if (state.attachment) throw new IoError('already-attached', `this socket is attached to cluster ${state.attachment.channel.clusterId}; detach first`);
    const role = await roleInProject(this.deps.store, state.user, projectId);
    const route = IO_POLICY_ROUTE;
    if (!(await this.deps.policy.allows(role, projectId, route, 'GET'))) throw new IoError('forbidden', `the policy does not allow role "${role}" to use direct I/O in project ${projectId}`);
    const canTrain = await this.deps.policy.allows(role, projectId, route, 'POST');
    const record = await this.deps.store.clusters.get(projectId, clusterId).catch((e: unknown) => {
      throw e instanceof NotFoundError ? new IoError('not-found', `cluster ${clusterId} not found in project ${projectId}`) : e;
    });
    this.deps.runtime.clusters.checkDirectIo(record);
    const channel = this.deps.channels.channelFor(projectId, clusterId);
    channel.attached++;
    state.attachment = { channel, canTrain };
    const description = await this.deps.runtime
      .withCluster(projectId, clusterId, async (hosted) => {
        const s = hosted.cluster.state;
        return {
          id: record.id,
          name: record.name,
          spiking: s.spiking,
          inputs: s.inputs.map((i) => ({ name: i.name, size: i.size })),
          outputs: hosted.outputLayout().map((o) => ({ name: o.name, offset: o.column, size: o.size, mode: o.mode, labels: o.labels })),
        };
      })
      .catch((e: unknown) => {
        this.release(state);
        throw e;
      });
    return { ok: true, cluster: description, canTrain };
  }

  private async detach(state: SocketState): Promise<unknown> {
    if (!state.attachment) throw new IoError('not-attached', 'this socket is not attached');
    this.release(state);
    return { ok: true };
  }

  /** Detaches a socket: its queued calls are skipped; the channel saves and closes when idle. */
  private release(state: SocketState): void {
    const attachment = state.attachment;
    if (!attachment) return;
    state.attachment = undefined;
    const channel = attachment.channel;
    channel.attached--;
    if (channel.attached === 0) ignoreFailure(channel.save(), 'save() logs its own failures');
  }

  private onDisconnect(socket: Socket, state: SocketState): void {
    clearTimeout(state.idleTimer);
    for (const cancel of state.pending) cancel();
    state.pending.clear();
    this.release(state);
    this.states.delete(socket);
    const open = (this.socketsPerUser.get(state.user.id) ?? 1) - 1;
    if (open <= 0) this.socketsPerUser.delete(state.user.id);
    else this.socketsPerUser.set(state.user.id, open);
  }

  /** Saves all direct training and closes every socket (service shutdown). */
  async close(): Promise<void> {
    await this.deps.channels.saveAll();
    this.io.of(IO_NAMESPACE).disconnectSockets(true);
    await new Promise<void>((resolve) => {
      // Socket.IO's close() also closes the HTTP server; the service closes that itself.
      this.io.engine.close();
      resolve();
    });
  }
}

/**
 * The acknowledgement of a request or train call: outputs as binary float32 and the argmax of
 * the first class output. Where each output's values sit was told at attach (and is repeated
 * in train answers); a network with several class outputs also gets the argmax of each, by
 * name.
 */
function encodeAnswer(answer: DirectAnswer, withLayout: boolean): unknown {
  const classes = answer.interfaces.filter((i) => i.argmax !== undefined);
  const reply: Record<string, unknown> = {
    ok: true,
    outputs: Buffer.from(answer.outputs.buffer, answer.outputs.byteOffset, answer.outputs.byteLength),
    argmax: classes.length > 0 ? classes[0]!.argmax : null,
  };
  if (classes.length > 1) reply.argmaxes = Object.fromEntries(classes.map((c) => [c.name, c.argmax]));
  // Training may size an output (a fresh cluster's first sample): its answer says where every
  // output's values sit now, so a client can decode without attaching again.
  if (withLayout) reply.layout = answer.interfaces.map(({ name, offset, size, mode }) => ({ name, offset, size, mode }));
  return reply;
}

/** A connect refusal with a message and a code the client can read (`err.data.code`). */
function toConnectError(e: unknown): Error & { data?: unknown } {
  const known = e instanceof IoError ? { code: e.code as string, message: e.message } : e instanceof DomainError ? { code: socketCode(e.code), message: e.message } : undefined;
  const error = new Error(known?.message ?? 'the connection could not be checked') as Error & { data?: unknown };
  error.data = { code: known?.code ?? 'internal' };
  return error;
}
