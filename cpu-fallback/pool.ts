/**
 * The CPU backend's worker pool: one pool per host, sized to the cores, shared by every
 * cluster of every user. Work is cut into slices (a few hundred samples); idle workers take
 * the next slice round-robin over the jobs that have work, so several clusters train at the
 * same time and none starves another. A training job has at most one slice in flight (its
 * samples are sequential); inference on a non-spiking network spreads its slices over all
 * workers, the one place where splitting one cluster's work pays on two cores
 * (docs/performance.md).
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { type BoundData, JobCancelled, outputWidth } from '../kernels/contract.js';
import type { NetworkState } from '../kernels/state.js';
import { type TeamCounters, failTeam, newTeamSync } from './team.js';
import { defaultThreads } from './threads.js';
import { WasmWalk, wasmWalkAvailable, wasmWalkWanted } from './wasm-walk.js';
import type { WorkerReply, WorkerRequest } from './worker.js';

/** A training slice gets a second thread only when the job's slices so far walked at least
 *  this many synapses per sample (forward + backward): below it the hand-offs and the shared
 *  cache lines cost more than halving the walks saves. Measured on 2 cores: mnist8k (~5,500
 *  per sample) trains slower with a team, fashion60k (~8,400) faster (docs/performance.md). */
export const TEAM_MIN_VISITS_PER_SAMPLE = 7000;

/** After a team fell back to one thread (its partner was not running: the cores are busy),
 *  the job's next slices run without a partner: 1, then 2, 4 … up to this many after
 *  consecutive fallbacks, and back to teams at once after a team slice that kept its partner. */
export const TEAM_BACKOFF_MAX_SLICES = 32;

/** What the pool's training teams did (counted; `hanami bench`, tests). */
export interface TeamStats {
  /** Training slices run by a team of two threads. */
  slices: number;
  /** Of those, slices whose leader found the partner late and finished alone. */
  fallbacks: number;
  /** Lane-1 phases run by partners, and by leaders after a fallback. */
  partnerPhases: number;
  leaderPhases: number;
  /** Samples leaders trained alone after a fallback. */
  soloSamples: number;
  /** Slices that ran without a partner because of the back-off. */
  backedOff: number;
  /** Seconds the leaders of team slices took (to compare with solo slices per sample). */
  seconds: number;
}

export interface TrainOptions {
  from?: number;
  to?: number;
  epochs?: number;
  /** Samples per slice (default 512). */
  sliceRows?: number;
  /** Called after every slice with samples done and total. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Let an idle second worker run lane 1 of the walks when it pays (default true);
   *  'always' whenever a worker is idle (tests, measurements). */
  team?: boolean | 'always';
  /** Called after every slice but the last with the network as that slice left it; when it
   *  returns a promise, the job's next slice waits for it (short reads of the network, such as
   *  predictions, that must not wait for the whole job). */
  between?: (state: NetworkState) => Promise<void> | undefined;
  /** Receives each trained row's output values from its forward pass, before it learned:
   *  (to − from) × outputWidth (with several epochs, the last epoch's). */
  outputs?: Float32Array;
}

export interface PredictOptions {
  from?: number;
  to?: number;
  sliceRows?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface JobResult {
  state: NetworkState;
  /** Synapses visited (forward + backward). */
  visits: number;
  /** Seconds the workers spent on the job (sum over slices). */
  workerSeconds: number;
}

interface Slice {
  from: number;
  to: number;
}

interface Job {
  kind: 'train' | 'predict';
  key: string;
  state: NetworkState;
  data: BoundData;
  pending: Slice[];
  inFlight: number;
  maxParallel: number;
  done: number;
  total: number;
  first: number;
  visits: number;
  seconds: number;
  outputs?: Float32Array;
  width: number;
  failed: boolean;
  error?: Error;
  team: boolean | 'always';
  /** Partner threads still running a slice of this job. */
  partners: number;
  /** Slices to run without a partner after a fallback, and the next back-off. */
  teamSkip: number;
  teamBackoff: number;
  onProgress?: ((done: number, total: number) => void) | undefined;
  signal?: AbortSignal | undefined;
  between?: ((state: NetworkState) => Promise<void> | undefined) | undefined;
  /** Waiting for `between`: no slice of it is handed out meanwhile. */
  paused: boolean;
  resolve: (r: JobResult & { outputs?: Float32Array }) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
  slice: Slice | null;
  /** Set while the slot is the second thread of a training team. */
  teamSync: Int32Array | null;
  /** Slices this worker ran (training, inference, and team parts), for tests and reports. */
  ran: number;
}

let nextMessageId = 1;

function slices(from: number, to: number, size: number, repeat = 1): Slice[] {
  const out: Slice[] = [];
  for (let e = 0; e < repeat; e++) for (let s = from; s < to; s += size) out.push({ from: s, to: Math.min(to, s + size) });
  return out;
}

export class CpuPool {
  readonly threads: number;
  private readonly slots: Slot[] = [];
  private readonly jobs: Job[] = [];
  private cursor = 0;
  private closed = false;
  /** What training teams did so far (for reports and tests). */
  readonly teams: TeamStats = { slices: 0, fallbacks: 0, partnerPhases: 0, leaderPhases: 0, soloSamples: 0, backedOff: 0, seconds: 0 };

  /** Training slices run by a team of two threads so far. */
  get teamSlices(): number {
    return this.teams.slices;
  }

  constructor(threads = defaultThreads().threads) {
    this.threads = Math.max(1, Math.floor(threads));
    for (let i = 0; i < this.threads; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const worker = new Worker(new URL('./worker.js', import.meta.url));
    const slot: Slot = { worker, job: null, slice: null, teamSync: null, ran: 0 };
    worker.on('message', (reply: WorkerReply) => this.onReply(slot, reply));
    worker.on('error', (e) => this.onWorkerFailure(slot, e));
    worker.on('exit', (code) => {
      if (!this.closed) this.onWorkerFailure(slot, new Error(`CPU worker exited with code ${code}`));
    });
    worker.unref();
    return slot;
  }

  /** Trains `state` on rows of `data`; resolves with the grown state. The caller must not
   *  touch the network until the promise settles. `key` names the network (scratch reuse). */
  train(key: string, state: NetworkState, data: BoundData, options: TrainOptions = {}): Promise<JobResult> {
    const from = options.from ?? 0;
    const to = options.to ?? data.rows;
    const pending = slices(from, to, options.sliceRows ?? 512, options.epochs ?? 1);
    return this.submit({
      kind: 'train',
      key,
      state,
      data,
      pending,
      maxParallel: 1,
      first: from,
      width: options.outputs ? outputWidth(state) : 0,
      team: options.team ?? true,
      onProgress: options.onProgress,
      signal: options.signal,
      between: options.between,
      ...(options.outputs ? { outputs: options.outputs } : {}),
    });
  }

  /** Runs rows forward only; resolves with rows × outputWidth output values. Non-spiking
   *  networks are split over all workers (read-only), spiking ones run in order. */
  async predict(key: string, state: NetworkState, data: BoundData, options: PredictOptions = {}): Promise<JobResult & { outputs: Float32Array }> {
    const from = options.from ?? 0;
    const to = options.to ?? data.rows;
    const width = outputWidth(state);
    const parallel = state.spiking ? 1 : this.threads;
    const size = options.sliceRows ?? Math.max(64, Math.min(2048, Math.ceil((to - from) / (parallel * 4))));
    const result = await this.submit({
      kind: 'predict',
      key,
      state,
      data,
      pending: slices(from, to, size),
      maxParallel: parallel,
      first: from,
      width,
      team: false,
      outputs: new Float32Array((to - from) * width),
      onProgress: options.onProgress,
      signal: options.signal,
    });
    return result as JobResult & { outputs: Float32Array };
  }

  private submit(
    spec: Pick<Job, 'kind' | 'key' | 'state' | 'data' | 'pending' | 'maxParallel' | 'first' | 'width' | 'team' | 'onProgress' | 'signal'> & { outputs?: Float32Array; between?: Job['between'] },
  ): Promise<JobResult & { outputs?: Float32Array }> {
    if (this.closed) return Promise.reject(new Error('the CPU pool is closed'));
    if (spec.signal?.aborted) return Promise.reject(new JobCancelled());
    return new Promise((resolve, reject) => {
      const total = spec.pending.reduce((n, s) => n + s.to - s.from, 0);
      const job: Job = { ...spec, inFlight: 0, partners: 0, teamSkip: 0, teamBackoff: 0, done: 0, total, visits: 0, seconds: 0, failed: false, paused: false, resolve, reject };
      if (total === 0) {
        resolve({ state: job.state, visits: 0, workerSeconds: 0, ...(job.outputs ? { outputs: job.outputs } : {}) });
        return;
      }
      this.jobs.push(job);
      spec.signal?.addEventListener('abort', () => this.cancel(job), { once: true });
      this.schedule();
    });
  }

  private cancel(job: Job): void {
    if (job.failed) return;
    job.pending.length = 0;
    job.failed = true;
    if (job.inFlight === 0 && job.partners === 0) this.finish(job, new JobCancelled(job.state));
  }

  /** Hands slices to idle workers, round-robin over jobs with work left. */
  private schedule(): void {
    for (const slot of this.slots) {
      if (slot.job) continue;
      const job = this.nextJob();
      if (!job) return;
      const slice = job.pending.shift()!;
      job.inFlight++;
      slot.job = job;
      slot.slice = slice;
      const partner = job.kind === 'train' ? this.partnerFor(job, slot) : undefined;
      if (job.kind === 'train' && partner) {
        // A team: this slot leads, the partner runs lane 1 of the walks.
        const channel = new MessageChannel();
        const sync = newTeamSync();
        job.partners++;
        this.teams.slices++;
        partner.job = job;
        partner.slice = null;
        partner.teamSync = sync;
        partner.worker.ref();
        partner.worker.postMessage({ type: 'join', id: nextMessageId++, team: { sync, port: channel.port2 } } satisfies WorkerRequest, [channel.port2]);
        const msg: WorkerRequest = {
          type: 'train',
          id: nextMessageId++,
          key: job.key,
          state: job.state,
          data: job.data,
          from: slice.from,
          to: slice.to,
          outputs: job.outputs !== undefined,
          team: { sync, port: channel.port1 },
        };
        slot.worker.ref();
        slot.worker.postMessage(msg, [channel.port1]);
        continue;
      }
      const msg: WorkerRequest =
        job.kind === 'train'
          ? { type: 'train', id: nextMessageId++, key: job.key, state: job.state, data: job.data, from: slice.from, to: slice.to, outputs: job.outputs !== undefined }
          : { type: 'predict', id: nextMessageId++, key: job.key, state: job.state, data: job.data, from: slice.from, to: slice.to };
      slot.worker.ref();
      slot.worker.postMessage(msg);
    }
  }

  /** An idle worker to help with a training slice, if teams pay for this job right now:
   *  only when no other job is waiting for a worker, and the network is large enough. */
  private partnerFor(job: Job, lead: Slot): Slot | undefined {
    if (!job.team) return undefined;
    // Alone, a thread walks in WebAssembly, which beats a team of two TypeScript walks
    // (docs/performance.md, "A leaner walk"); teams are left to networks it does not take.
    if (job.team !== 'always' && wasmWalkWanted() && WasmWalk.supports(job.state) && wasmWalkAvailable()) return undefined;
    if (job.team !== 'always' && (job.done === 0 || job.visits / job.done < TEAM_MIN_VISITS_PER_SAMPLE)) return undefined;
    if (this.jobs.some((j) => j !== job && j.pending.length > 0 && j.inFlight < j.maxParallel)) return undefined;
    const idle = this.slots.find((s) => s !== lead && !s.job);
    if (idle && job.teamSkip > 0) {
      job.teamSkip--;
      this.teams.backedOff++;
      return undefined;
    }
    return idle;
  }

  private nextJob(): Job | undefined {
    for (let i = 0; i < this.jobs.length; i++) {
      const job = this.jobs[(this.cursor + i) % this.jobs.length]!;
      if (job.pending.length > 0 && job.inFlight < job.maxParallel && !job.paused) {
        this.cursor = (this.cursor + i + 1) % Math.max(1, this.jobs.length);
        return job;
      }
    }
    return undefined;
  }

  private onReply(slot: Slot, reply: WorkerReply): void {
    const job = slot.job;
    const slice = slot.slice;
    const partnerOf = slot.teamSync;
    slot.job = null;
    slot.slice = null;
    slot.teamSync = null;
    slot.worker.unref();
    slot.ran++;
    if (job && partnerOf) {
      // A partner thread finished its part of a slice.
      job.partners--;
      if (reply.type === 'done') job.visits += reply.visits;
      else job.failed = true;
      this.settleIfDone(job);
      this.schedule();
      return;
    }
    if (!job || !slice) return;
    job.inFlight--;
    if (reply.type === 'error') {
      job.pending.length = 0;
      job.failed = true;
      job.error = new Error(reply.message);
      this.settleIfDone(job);
      this.schedule();
      return;
    }
    if (reply.state) job.state = reply.state;
    if (reply.outputs && job.outputs) job.outputs.set(reply.outputs, (slice.from - job.first) * job.width);
    job.visits += reply.visits;
    job.seconds += reply.seconds;
    if (reply.team) this.countTeam(job, reply.team, reply.seconds);
    job.done += slice.to - slice.from;
    if (!job.failed) job.onProgress?.(job.done, job.total);
    this.settleIfDone(job);
    if (!job.failed && job.pending.length > 0) this.pauseBetween(job);
    this.schedule();
  }

  private countTeam(job: Job, c: TeamCounters, seconds: number): void {
    const t = this.teams;
    t.seconds += seconds;
    t.fallbacks += c.fallbacks;
    t.partnerPhases += c.partnerPhases;
    t.leaderPhases += c.leaderPhases;
    t.soloSamples += c.soloSamples;
    if (c.fallbacks > 0) {
      job.teamBackoff = Math.min(TEAM_BACKOFF_MAX_SLICES, Math.max(1, job.teamBackoff * 2));
      job.teamSkip = job.teamBackoff;
    } else {
      job.teamBackoff = 0;
    }
  }

  /** Runs the job's `between` hook; its next slice waits until the hook's work is done. */
  private pauseBetween(job: Job): void {
    let waiting: Promise<void> | undefined;
    try {
      waiting = job.between?.(job.state);
    } catch (e) {
      waiting = Promise.reject(e);
    }
    if (!waiting) return;
    job.paused = true;
    waiting
      .catch((e: unknown) => {
        // The hook's own work failed: it answers its callers; the training goes on.
        void e;
      })
      .finally(() => {
        job.paused = false;
        this.schedule();
      });
  }

  /** Settles a job once nothing of it is running any more. */
  private settleIfDone(job: Job): void {
    if (job.inFlight > 0 || job.partners > 0) return;
    if (job.error) this.finish(job, job.error);
    else if (job.failed) this.finish(job, new JobCancelled(job.state));
    else if (job.pending.length === 0) this.finish(job);
  }

  private finish(job: Job, error?: Error): void {
    const i = this.jobs.indexOf(job);
    if (i >= 0) this.jobs.splice(i, 1);
    if (this.cursor >= this.jobs.length) this.cursor = 0;
    if (error) job.reject(error);
    else job.resolve({ state: job.state, visits: job.visits, workerSeconds: job.seconds, ...(job.outputs ? { outputs: job.outputs } : {}) });
  }

  private onWorkerFailure(slot: Slot, error: Error): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    const job = slot.job;
    this.slots[i] = this.spawn();
    if (job) {
      if (slot.teamSync) {
        // The leader is waiting for this partner: release it.
        failTeam(slot.teamSync);
        job.partners--;
      } else {
        job.inFlight--;
      }
      job.pending.length = 0;
      job.failed = true;
      job.error = error;
      this.settleIfDone(job);
    }
    this.schedule();
  }

  /** Slices each worker has run so far (index = worker): how work spread over the pool. */
  workerSlices(): number[] {
    return this.slots.map((s) => s.ran);
  }

  /** Jobs waiting or running. */
  get busy(): number {
    return this.jobs.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of [...this.jobs]) this.finish(job, new Error('the CPU pool was closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
