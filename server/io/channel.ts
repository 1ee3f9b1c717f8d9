/**
 * One cluster's direct-I/O channel: every socket attached to the cluster sends its calls
 * here, in one FIFO queue, so calls run in arrival order (per socket and overall). Consecutive
 * `request` calls — from one pipelining client or from many clients — are answered as one
 * batch: on the CPU backend several rows go to the worker pool (the main thread stays free
 * for sockets), on WebGPU to one batched dispatch; a lone request runs right here in the main
 * thread, where it costs tens of microseconds instead of a worker round trip. `train` calls
 * run one at a time between batches. Batching never changes an answer: every row goes through
 * the same forward pass either way.
 *
 * `POST …/clusters/{id}/predict` sends its rows through the same channel, so they join the
 * sockets' batches; it also works in tasks mode, where requests run as the runtime's
 * interludes (between the slices of a running task).
 */
import { ignoreFailure, inBackground } from '../../kernels/background.js';
import type { Logger } from 'pino';
import type { Backend } from '../../kernels/contract.js';
import { BindError } from '../network/binding.js';
import type { Cluster } from '../network/cluster.js';
import { type DirectAnswer, DirectRunner, type SampleInputs, type SampleTarget } from '../network/direct.js';
import { resetSpikingState } from '../../kernels/state.js';
import { NotFoundError, type OutputLayout } from '../store/types.js';
import { modeRefusal, requireMode } from '../tasks/cluster-service.js';
import type { HostedCluster } from '../tasks/hosted-cluster.js';
import type { TaskRuntime } from '../tasks/runtime.js';
import { DomainError, socketCode } from '../errors.js';
import { IoError } from './protocol.js';

export type CallKind = 'request' | 'train' | 'reset';

/** Where a call came from: a socket attached in direct mode, or `POST …/predict` (any mode). */
export type CallSource = 'socket' | 'http';

interface Call {
  kind: CallKind;
  source: CallSource;
  inputs?: SampleInputs;
  target?: SampleTarget | Record<string, SampleTarget>;
  /** Set when the caller went away: skip if not started yet. */
  cancelled: boolean;
  /** A call refused before it could run keeps its place in the queue with this error. */
  refused?: IoError;
  resolve: (answer: ChannelAnswer | undefined) => void;
  reject: (error: IoError) => void;
}

/** An answer; HTTP calls also get the outputs' layout with class names (`outputs` of the
 *  response), which sockets were told at attach. */
export type ChannelAnswer = DirectAnswer & { layout?: OutputLayout[] };

/** A request batch runs in the calling (main) thread only while it has at most this many
 *  values: a lone request with 200k inputs would otherwise hold every other socket for tens of
 *  milliseconds; on the worker pool it holds one worker. */
export const INLINE_MAX_VALUES = 16 * 1024;

export interface ChannelOptions {
  /** Most requests answered together. */
  maxBatch: number;
  /** From this many rows on, a CPU batch goes to the worker pool. */
  parallelMin: number;
  /** Worker threads of the CPU pool (a batch is split into this many slices). */
  threads: number;
  /** Direct training is saved this long after the last train call. */
  saveDelayMs: number;
}

export class ClusterChannel {
  private readonly queue: Call[] = [];
  private draining = false;
  private runner: DirectRunner | undefined;
  private runnerFor: { cluster: Cluster; backend: Backend } | undefined;
  private dirty = false;
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<unknown> = Promise.resolve();
  /** Sockets attached. */
  attached = 0;
  /** Calls answered and batches run (for reports and tests). */
  stats = { calls: 0, batches: 0, largestBatch: 0 };
  /** Called whenever the channel may have become idle (the owner drops idle channels). */
  onIdle: (() => void) | undefined;

  constructor(
    readonly projectId: string,
    readonly clusterId: string,
    private readonly runtime: TaskRuntime,
    private readonly logger: Logger,
    private readonly options: ChannelOptions,
  ) {}

  /** Queues a call; resolves with its answer (none for `reset`). */
  submit(
    kind: CallKind,
    inputs?: SampleInputs,
    target?: SampleTarget | Record<string, SampleTarget>,
    refused?: IoError,
    source: CallSource = 'socket',
  ): { done: Promise<ChannelAnswer | undefined>; cancel: () => void } {
    let call!: Call;
    const done = new Promise<ChannelAnswer | undefined>((resolve, reject) => {
      call = { kind, source, cancelled: false, resolve, reject, ...(inputs ? { inputs } : {}), ...(target ? { target } : {}), ...(refused ? { refused } : {}) };
    });
    this.queue.push(call);
    if (!this.draining) {
      // Start on the next turn of the event loop, not now: calls that other sockets sent in
      // the same turn join the batch (the only moment they can: each socket's message is its
      // own I/O callback). Costs one loop turn, a few microseconds when idle.
      this.draining = true;
      setImmediate(() => inBackground(this.drain(), (error) => this.logger.error({ err: error }, 'a direct-I/O channel could not run its queue')));
    }
    return {
      done,
      cancel: () => {
        call.cancelled = true;
      },
    };
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Idle: nothing queued or running, no socket attached, nothing left to save. */
  get idle(): boolean {
    return this.attached === 0 && this.queue.length === 0 && !this.draining && !this.dirty;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        const live = batch.filter((c) => !c.cancelled);
        if (live.length === 0) continue;
        const refused = live.filter((c) => c.refused);
        for (const c of refused) c.reject(c.refused!);
        const runnable = live.filter((c) => !c.refused);
        if (runnable.length === 0) continue;
        try {
          if (runnable[0]!.kind === 'request') {
            // Reads of the network: between the slices of a running task if there is one.
            await this.runtime.interlude(this.projectId, this.clusterId, (hosted, backend, record, within) => {
              // Sockets speak to clusters in direct mode only; predictions over HTTP to any.
              const refusal = modeRefusal(record, 'direct');
              const allowed: Call[] = [];
              for (const c of runnable) {
                if (c.source === 'socket' && refusal) c.reject(asIoError(refusal));
                else allowed.push(c);
              }
              return allowed.length > 0 ? this.run(allowed, hosted, backend, within.inTask) : undefined;
            });
          } else {
            await this.runtime.withCluster(this.projectId, this.clusterId, (hosted, backend, record) => {
              requireMode(record, 'direct');
              return this.run(runnable, hosted, backend, false);
            });
          }
        } catch (error) {
          const e = asIoError(error, this.logger);
          for (const c of runnable) c.reject(e);
        }
        // Let calls that arrived meanwhile (other sockets' I/O callbacks) join the next batch.
        if (this.queue.length > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.draining = false;
      if (this.idle) this.onIdle?.();
    }
  }

  /** The next calls to run together: consecutive requests (up to maxBatch), or one other call. */
  private takeBatch(): Call[] {
    const first = this.queue.shift()!;
    if (first.kind !== 'request' || first.refused) return [first];
    const batch = [first];
    while (batch.length < this.options.maxBatch && this.queue[0]?.kind === 'request' && !this.queue[0].refused) batch.push(this.queue.shift()!);
    return batch;
  }

  private runnerOf(cluster: Cluster, backend: Backend): DirectRunner {
    if (!this.runner || this.runnerFor?.cluster !== cluster || this.runnerFor.backend !== backend) {
      this.runner = new DirectRunner(cluster, backend);
      this.runnerFor = { cluster, backend };
    }
    return this.runner;
  }

  /** Runs one batch; `inTask`: a task's job holds the backend, so everything runs inline. */
  private async run(calls: Call[], hosted: HostedCluster, backend: Backend, inTask: boolean): Promise<void> {
    const cluster = hosted.cluster;
    const runner = this.runnerOf(cluster, backend);
    if (calls.some((c) => c.source === 'http')) {
      const layout = hosted.outputLayout();
      for (const c of calls) {
        if (c.source !== 'http') continue;
        const resolve = c.resolve;
        c.resolve = (answer) => resolve(answer && { ...answer, layout });
      }
    }
    this.stats.batches++;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, calls.length);
    this.stats.calls += calls.length;
    const first = calls[0]!;
    if (first.kind === 'reset') {
      resetSpikingState(cluster.state);
      first.resolve(undefined);
      return;
    }
    if (first.kind === 'train') {
      // One sample through the backend's training, in the calling thread on the CPU.
      await settle(first, () => runner.train(first.inputs!, first.target!));
      this.markDirty();
      return;
    }
    // Requests. A few (and, inside a task, all) run inline: on the CPU backend right here,
    // where a lone request is cheapest; spiking networks too, strictly one after another
    // (each call changes the state the next one sees). Larger batches go to the CPU worker
    // pool; the WebGPU backend runs every batch as one dispatch.
    let values = 0;
    for (const c of calls) values += inputValues(c.inputs);
    const inline = inTask || cluster.spiking || (calls.length < this.options.parallelMin && values <= INLINE_MAX_VALUES);
    const answers = await runner.requestMany(
      calls.map((c) => c.inputs!),
      { inline, slices: this.options.threads },
    );
    answers.forEach((a, i) => {
      const c = calls[i]!;
      if (a instanceof BindError) c.reject(asIoError(a));
      else c.resolve(a);
    });
  }

  private markDirty(): void {
    this.dirty = true;
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => {
      ignoreFailure(this.save(), 'save() logs its own failures');
    }, this.options.saveDelayMs);
    this.saveTimer.unref();
  }

  /** Persists direct training (also called when the last socket detaches and at shutdown). */
  save(): Promise<unknown> {
    clearTimeout(this.saveTimer);
    if (!this.dirty) {
      // Nothing to save: the last socket may just have left an idle channel.
      if (this.idle) this.onIdle?.();
      return this.saving;
    }
    this.dirty = false;
    this.saving = this.saving
      .then(() => this.runtime.saveCluster(this.projectId, this.clusterId))
      .catch((e: unknown) => {
        if (e instanceof NotFoundError) return;
        this.logger.warn({ err: e, clusterId: this.clusterId }, 'could not save direct training');
      })
      .finally(() => {
        if (this.idle) this.onIdle?.();
      });
    return this.saving;
  }
}

function inputValues(inputs: SampleInputs | undefined): number {
  if (!inputs) return 0;
  if (inputs instanceof Float32Array) return inputs.length;
  let n = 0;
  for (const v of Object.values(inputs)) n += v.length;
  return n;
}

async function settle(call: Call, work: () => Promise<DirectAnswer | undefined>): Promise<void> {
  try {
    const answer = await work();
    if (answer) call.resolve(answer);
  } catch (error) {
    call.reject(asIoError(error));
  }
}

/** Errors of the layers below, as acknowledgement errors. */
export function asIoError(raised: unknown, logger?: Logger): IoError {
  if (raised instanceof IoError) return raised;
  const error = raised instanceof BindError ? raised.asDomainError() : raised;
  // The vocabulary's errors (server/errors.ts), in Socket.IO's spelling of the same code;
  // `internal` ones (a store that failed, a bug) are logged, not described.
  if (error instanceof DomainError && error.code !== 'internal') return new IoError(socketCode(error.code), error.message);
  logger?.error({ err: raised }, 'direct I/O failed');
  return new IoError('internal', 'the call failed inside the service; see the error log');
}
