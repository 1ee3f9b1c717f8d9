/**
 * Direct network I/O over Socket.IO, on the same HTTP server and port as the API
 * (namespace /v1/io, default path /socket.io; protocol in docs/socket-io.md).
 *
 * - The handshake carries the JWT (`auth: { token }`); a bad, expired or revoked token is
 *   refused at connect, as is a user over the per-user socket limit, and the refused
 *   connection is closed at once. Until a connection has passed that check its packets are
 *   capped at ANONYMOUS_MAX_PACKET_BYTES, so nobody without a token gets big JSON parsed.
 * - Revocation reaches live connections (./access.ts): every call first compares the user's
 *   access revisions and the token's expiry, and re-checks token and membership when they
 *   moved (or every HANAMI_IO_RECHECK_SECONDS); a change made in this process also re-checks
 *   the user's sockets at once. A revoked token closes the connection (after a `revoked`
 *   event saying why); a removed membership detaches the socket.
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
import type { AccessRevisions } from '../auth/revisions.js';
import { roleInProject } from '../auth/roles.js';
import { DomainError, socketCode } from '../errors.js';
import type { DirectAnswer } from '../network/direct.js';
import { NotFoundError, type Store, type User } from '../store/types.js';
import type { TaskRuntime } from '../tasks/runtime.js';
import { UserBudgets } from './budget.js';
import { ConnectionAccess, IO_POLICY_ROUTE, type AccessVerdict } from './access.js';
import { asIoError, type ClusterChannel } from './channel.js';
import type { ChannelRegistry } from './channels.js';
import { failure, IO_NAMESPACE, IoError, IoEvent, IoServerEvent, parseAttach, parseRequest, parseTrain, payloadBytes } from './protocol.js';

export { IO_POLICY_ROUTE };

/**
 * The largest packet a connection may send before its handshake passed the token check: the
 * CONNECT packet carries `auth: { token }` (a few hundred bytes). Socket.IO JSON-parses every
 * packet on the main thread, so without this anyone could make it parse megabytes.
 */
export const ANONYMOUS_MAX_PACKET_BYTES = 16 * 1024;

/** Re-check interval of live connections when the configuration does not set one. */
const DEFAULT_RECHECK_SECONDS = 2;

/** Bytes of values per second and user when the configuration does not set a rate. */
export const DEFAULT_BYTES_PER_SECOND = 16 * 1024 * 1024;

/** Bytes of values in flight per user when the configuration does not set a limit. */
export const DEFAULT_MAX_INFLIGHT_BYTES = 1024 * 1024;

export interface DirectIoDeps {
  config: HanamiConfig;
  store: Store;
  runtime: TaskRuntime;
  /** The clusters' call queues, shared with `POST …/predict`. */
  channels: ChannelRegistry;
  /** The HTTP API's token verifier (one for both transports). */
  authenticator: Authenticator;
  policy: Policy;
  /** This process's access revisions (server/auth/identity-cache.ts), bumped on revocation. */
  revisions?: AccessRevisions;
  logger: Logger;
  observe?: (event: string, outcome: 'ok' | 'error', seconds: number) => void;
}

interface Attachment {
  channel: ClusterChannel;
  canTrain: boolean;
}

/** A call waiting for its connection's access re-check: run it, or refuse it. */
interface HeldCall {
  run: () => void;
  refuse: (error: IoError) => void;
}

interface SocketState {
  user: User;
  access: ConnectionAccess;
  /** Calls that arrived while the access re-check ran, in arrival order (undefined: none runs). */
  held: HeldCall[] | undefined;
  /** A re-check is running (calls wait in `held`). */
  checking: boolean;
  /** Why the socket was detached by a revocation (answered instead of `not-attached`). */
  lostAttachment: IoError | undefined;
  attachment: Attachment | undefined;
  /** Token bucket of the per-connection rate limit. */
  tokens: number;
  refilledAt: number;
  idleTimer: NodeJS.Timeout | undefined;
  /** Closes the connection when its token expires. */
  expiryTimer: NodeJS.Timeout | undefined;
  /** Bytes of calls refused by the byte limits since `refusedSince` (see overflow). */
  refusedBytes: number;
  refusedSince: number;
  /** Cancels the socket's calls still queued (on disconnect). */
  pending: Set<() => void>;
}

type Ack = (reply: unknown) => void;

export class DirectIoServer {
  readonly io: Server;
  private readonly socketsPerUser = new Map<string, number>();
  /** The work-aware rate limit, per user over all their sockets (./budget.ts). */
  private readonly budgets: UserBudgets;
  private readonly states = new Map<Socket, SocketState>();
  private readonly maxBytes: number;
  private readonly stopListening: (() => void) | undefined;

  constructor(
    http: HttpServer,
    private readonly deps: DirectIoDeps,
  ) {
    const io = deps.config.io;
    this.maxBytes = io.maxMessageBytes;
    const bytesPerSecond = io.bytesPerSecond ?? DEFAULT_BYTES_PER_SECOND;
    this.budgets = new UserBudgets({ bytesPerSecond, byteBurst: Math.max(bytesPerSecond, io.maxMessageBytes), maxInflightBytes: io.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES });
    this.io = new Server(http, {
      serveClient: false,
      // The hard cap of the transport until the handshake passed: a packet above it closes
      // the connection. Authenticated connections get maxMessageBytes + 64 KiB (see
      // allowLargePackets); the payload limit (maxMessageBytes) is checked per value array
      // below that, with an error ack.
      maxHttpBufferSize: Math.min(ANONYMOUS_MAX_PACKET_BYTES, io.maxMessageBytes + 64 * 1024),
      perMessageDeflate: false,
      connectTimeout: 10_000,
    });
    const ns = this.io.of(IO_NAMESPACE);
    ns.use((socket, next) => {
      this.authenticate(socket).then(
        () => next(),
        (e: unknown) => {
          next(toConnectError(e));
          this.closeRefused(socket);
        },
      );
    });
    ns.on('connection', (socket) => this.onConnection(socket));
    // Socket.IO's root namespace `/` exists on every server and would accept anyone, and a
    // client that connects there by mistake (the URL without /v1/io) would wait for answers
    // that never come: it is refused with a pointer to the right namespace. Its transport is
    // then closed by `connectTimeout`, as it joined no namespace. Any other namespace is
    // refused by Socket.IO itself ("Invalid namespace").
    this.io.of('/').use((socket, next) => {
      next(
        toConnectError(
          new IoError(
            'wrong-namespace',
            `this server answers direct I/O on the namespace ${IO_NAMESPACE}: connect to <service URL>${IO_NAMESPACE} (e.g. io("http://host:port${IO_NAMESPACE}", { auth: { token } }))`,
          ),
        ),
      );
      this.closeRefused(socket);
    });
    // Revocations made in this process re-check the sockets they concern at once.
    this.stopListening = deps.revisions?.listen((change) => {
      for (const [socket, state] of this.states) if (state.access.concerns(change) && !state.held) this.recheck(socket, state);
    });
  }

  /**
   * Closes the transport of a refused handshake once the refusal is on its way, unless a
   * socket of any namespace was accepted on it (a client multiplexing namespaces). Socket.IO itself would keep
   * it open, answering pings, until `connectTimeout`: 500 refused clients would hold 500
   * connections that long.
   */
  private closeRefused(socket: Socket): void {
    const conn = socket.conn;
    // The connection's Socket.IO client and the namespaces it joined (/v1/io, /v1/events):
    // Socket.IO keeps that map private, but it is the one place that knows them all.
    const joined = (socket.client as unknown as { nsps?: Map<string, unknown> }).nsps;
    // Socket.IO writes the refusal on the next tick; close() then waits for it to drain.
    setImmediate(() => {
      if (joined ? joined.size > 0 : [...this.states.keys()].some((other) => other.conn === conn)) return;
      conn.close();
    });
  }

  /** The full packet limit, for a connection that passed the token check (every transport it
   *  upgrades to as well). The engine has one limit for all connections, set to the anonymous
   *  one; the transports read theirs per connection. */
  private allowLargePackets(socket: Socket): void {
    const bytes = this.maxBytes + 64 * 1024;
    const raise = (transport: unknown): void => {
      const t = transport as { name?: string; maxHttpBufferSize?: number; socket?: { _receiver?: { _maxPayload?: number } } };
      t.maxHttpBufferSize = bytes;
      // The WebSocket transport: ws checks each frame against its receiver's limit.
      const receiver = t.name === 'websocket' ? t.socket?._receiver : undefined;
      if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
    };
    raise(socket.conn.transport);
    socket.conn.on('upgrade', raise);
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
    socket.data.token = token;
  }

  private onConnection(socket: Socket): void {
    const user = socket.data.user as User;
    const { authenticator, store, policy, revisions } = this.deps;
    const recheckMs = (this.deps.config.io.recheckSeconds ?? DEFAULT_RECHECK_SECONDS) * 1000;
    const access = new ConnectionAccess({ authenticator, store, policy, revisions, recheckMs }, socket.data.token as string, user);
    const state: SocketState = {
      user,
      access,
      held: undefined,
      checking: false,
      lostAttachment: undefined,
      attachment: undefined,
      tokens: this.deps.config.io.ratePerSecond,
      refilledAt: Date.now(),
      idleTimer: undefined,
      expiryTimer: undefined,
      refusedBytes: 0,
      refusedSince: 0,
      pending: new Set(),
    };
    this.states.set(socket, state);
    this.allowLargePackets(socket);
    this.touch(socket, state);
    // The token's end ends the connection, however busy it is (setTimeout takes at most ~24 days).
    state.expiryTimer = setTimeout(() => this.recheck(socket, state), Math.min(Math.max(0, access.expiresAt - Date.now()), 2 ** 31 - 1));
    state.expiryTimer.unref();
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

  /**
   * Runs a call now, or after the connection's access re-check when something it rests on may
   * have changed (calls that arrive meanwhile wait behind it, in order).
   */
  private gate(socket: Socket, state: SocketState, call: HeldCall): void {
    if (state.held) state.held.push(call);
    else if (state.access.stale()) {
      state.held = [call];
      this.recheck(socket, state);
    } else call.run();
  }

  /** Re-checks a connection's token and attachment, then runs or refuses its held calls. */
  private recheck(socket: Socket, state: SocketState): void {
    if (state.checking) return;
    state.held ??= [];
    state.checking = true;
    state.access.check().then(
      (verdict) => this.apply(socket, state, verdict),
      (e: unknown) => {
        // The store failed: fail closed for these calls; the next call checks again.
        const error = asIoError(e, this.deps.logger);
        const held = state.held ?? [];
        state.held = undefined;
        state.checking = false;
        for (const call of held) call.refuse(error);
      },
    );
  }

  private apply(socket: Socket, state: SocketState, verdict: AccessVerdict): void {
    const held = state.held ?? [];
    state.checking = false;
    if (verdict.scope === 'connection') {
      state.held = undefined;
      for (const call of held) call.refuse(verdict.error);
      socket.emit(IoServerEvent.closing, { code: verdict.error.code, message: verdict.error.message });
      socket.disconnect(true);
      return;
    }
    if (verdict.scope === 'attachment') {
      state.lostAttachment = verdict.error;
      this.release(state);
    } else {
      state.user = verdict.user;
      if (state.attachment) state.attachment.canTrain = verdict.canTrain;
    }
    // Something changed again while the check ran (a user deletion right after the removal of
    // their memberships): the held calls wait for a check that saw it.
    if (state.access.stale()) {
      this.recheck(socket, state);
      return;
    }
    state.held = undefined;
    for (const call of held) call.run();
  }

  /**
   * Counts the bytes of a connection's calls refused by the byte limits; one that sends more
   * than a full bucket (HANAMI_IO_BYTES_PER_SECOND) of refused bytes within a second is
   * closed. Refusing is cheap, but receiving is not: each message is still read and unmasked
   * on the main thread, and a client that ignores its refusals would go on costing that.
   */
  private overflow(socket: Socket, state: SocketState, bytes: number): void {
    const now = Date.now();
    if (now - state.refusedSince > 1000) {
      state.refusedSince = now;
      state.refusedBytes = 0;
    }
    state.refusedBytes += bytes;
    if (state.refusedBytes <= this.budgets.limits.byteBurst || !socket.connected) return;
    const message = `this connection kept sending after its calls were refused (${state.refusedBytes} bytes of values refused within a second); it was closed`;
    socket.emit(IoServerEvent.closing, { code: 'rate-limited', message });
    socket.disconnect(true);
  }

  /** attach / detach: answered at once (they do not touch the network). */
  private handle(socket: Socket, state: SocketState, event: string, ack: Ack | undefined, work: () => Promise<unknown>): void {
    this.touch(socket, state);
    this.gate(socket, state, {
      run: () => this.handleNow(event, ack, work),
      refuse: (error) => {
        this.deps.observe?.(event, 'error', 0);
        ack?.(failure(error.code, error.message));
      },
    });
  }

  private handleNow(event: string, ack: Ack | undefined, work: () => Promise<unknown>): void {
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
    this.gate(socket, state, {
      run: () => this.callNow(socket, state, kind, payload, reply),
      refuse: (error) => reply(failure(error.code, error.message), 'error'),
    });
  }

  private callNow(socket: Socket, state: SocketState, kind: 'request' | 'train' | 'reset', payload: unknown, reply: (answer: unknown, outcome: 'ok' | 'error') => void): void {
    const attachment = state.attachment;
    if (!attachment) {
      const lost = state.lostAttachment;
      reply(lost ? failure(lost.code, lost.message) : failure('not-attached', `attach to a cluster before "${kind}"`), 'error');
      return;
    }
    let refused: IoError | undefined;
    const userId = state.user.id;
    const bytes = kind === 'reset' ? 0 : payloadBytes(payload);
    let admitted = false;
    let inputs;
    let target;
    try {
      if (!this.admit(state)) throw new IoError('rate-limited', `more than ${this.deps.config.io.ratePerSecond} calls per second on this connection`);
      if (kind !== 'reset') {
        const over = this.budgets.admit(userId, bytes);
        if (over) this.overflow(socket, state, bytes);
        if (over === 'bytes-per-second')
          throw new IoError('rate-limited', `more than ${this.budgets.limits.bytesPerSecond} bytes of values per second from this user (HANAMI_IO_BYTES_PER_SECOND); slow down`);
        if (over === 'bytes-in-flight')
          throw new IoError(
            'rate-limited',
            `this user's calls not yet answered carry more than ${this.budgets.limits.maxInflightBytes} bytes of values (HANAMI_IO_MAX_INFLIGHT_BYTES); wait for their answers`,
          );
        admitted = true;
      }
      if (kind === 'train' && !attachment.canTrain) throw new IoError('forbidden', 'the policy does not allow this user to train the cluster');
      if (kind === 'request') inputs = parseRequest(payload, this.maxBytes);
      if (kind === 'train') ({ inputs, target } = parseTrain(payload, this.maxBytes));
    } catch (e) {
      refused = asIoError(e, this.deps.logger);
    }
    // Refused calls keep their place in the queue, so acknowledgements stay in call order.
    const submitted = attachment.channel.submit(kind, inputs, target, refused);
    const done = submitted.done;
    // Bytes in flight are given back once, when answered or when the socket goes away.
    let held = admitted;
    const release = (): void => {
      if (held) this.budgets.release(userId, bytes);
      held = false;
    };
    const cancel = (): void => {
      submitted.cancel();
      release();
    };
    state.pending.add(cancel);
    done.then(
      (answer) => {
        release();
        state.pending.delete(cancel);
        reply(answer ? encodeAnswer(answer, kind === 'train') : { ok: true }, 'ok');
      },
      (e: unknown) => {
        release();
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
    state.lostAttachment = undefined;
    state.access.attachedTo(projectId);
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
    state.access.attachedTo(undefined);
    const channel = attachment.channel;
    channel.attached--;
    if (channel.attached === 0) ignoreFailure(channel.save(), 'save() logs its own failures');
  }

  private onDisconnect(socket: Socket, state: SocketState): void {
    clearTimeout(state.idleTimer);
    clearTimeout(state.expiryTimer);
    for (const cancel of state.pending) cancel();
    state.pending.clear();
    this.release(state);
    this.states.delete(socket);
    const open = (this.socketsPerUser.get(state.user.id) ?? 1) - 1;
    if (open <= 0) {
      this.socketsPerUser.delete(state.user.id);
      this.budgets.forget(state.user.id);
    } else this.socketsPerUser.set(state.user.id, open);
  }

  /** Saves all direct training and closes every socket (service shutdown). */
  async close(): Promise<void> {
    this.stopListening?.();
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
