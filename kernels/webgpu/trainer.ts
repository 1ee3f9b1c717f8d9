/**
 * Training on the GPU, batch by batch. A batch of K samples is one command buffer: the copies
 * the host queued after the previous batch's growth (network.ts `flush`), clear the scratch,
 * ONE dispatch of `train_batch` (one workgroup runs every step of every sample in order, so
 * sample j + 1 sees the weights sample j left: batch-size-1 semantics), then copies of what
 * the host needs into one staging buffer, ONE submit and ONE readback.
 *
 * What the host needs after a batch is small: the growth log (the requests that need the
 * allocator), the event list (synapses the GPU appended inside their sections, replayed into
 * the host's structure) and, for direct training, the output values. The GPU copy owns the
 * weights during a job; the host copy owns the structure and grows it with kernels/growth.ts
 * as the CPU backend would (network.ts has the details). The host copy's values are brought
 * current when something on the host needs them: the last batch of a job reads the whole
 * network back with its growth log (so a job ends with a current `state` and no extra
 * submit), as does every batch before a `between` hook that reads the host copy; a cancelled
 * job reads it back before it reports the cancellation.
 *
 * Growth that needs the allocator waits for the end of the batch. While the network is
 * empty almost every sample asks for some, so batches start at one sample and grow with the
 * samples trained (batchSizeAt); docs/architecture.md has the measured effect.
 */
import { ignoreFailure } from '../background.js';
import { type BoundData, JobCancelled } from '../contract.js';
import { GrowthKind } from '../growth.js';
import { COUNTER, FREE_SECTION, REDUCTION_INTERVAL, SECTION_STRIDE, SEC_KIND, SPLIT_KEEP_SYNAPSES, SEC_SYN_OFFSET, SEC_SYN_PAGE } from '../layout.js';
import type { NetworkState } from '../state.js';
import { assertUsable, type GpuSession } from './session.js';
import type { GpuNetwork } from './network.js';
import { Readback, borderByte } from './buffers.js';
import { packSamples, packedWords } from './data.js';
import { batchParamWords } from './params.js';
import { GROWTH_HEADER, GROWTH_REQUEST } from './records.js';
import { type GrowthRequestRecord, applyRequests, checkRequests, decodeRequests, releaseEmptied, requestBounds } from './growth-log.js';
import { maybeCompact } from '../growth.js';
import { fieldOf } from './plan.js';
import { MapMode } from './gpu.js';

/** Samples per batch once the network has trained enough (one submit and one readback per
 *  this many samples). */
export const MAX_TRAIN_BATCH = 256;
/** While warming up, a batch holds at most samplesTrained / WARMUP_DIVISOR samples. */
export const WARMUP_DIVISOR = 4;

/** Batch size for a network that has trained `samplesTrained` samples. */
export function batchSizeAt(samplesTrained: number, maxBatch = MAX_TRAIN_BATCH, reduction = false, warmupDivisor = WARMUP_DIVISOR): number {
  let k = Math.max(1, Math.min(maxBatch, Math.floor(samplesTrained / warmupDivisor)));
  // The CPU reduces right after the growth of every REDUCTION_INTERVAL-th sample: a batch
  // ends there, so the reduction pass (its own submission) sees the same network.
  if (reduction) k = Math.min(k, REDUCTION_INTERVAL - (samplesTrained % REDUCTION_INTERVAL));
  return k;
}

export interface GpuTrainOptions {
  /** Dataset rows in training order (epochs already unrolled). */
  rows: ArrayLike<number>;
  maxBatch?: number;
  /** Warm-up: a batch holds at most samplesTrained / warmupDivisor samples (measurements). */
  warmupDivisor?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Between two batches: short reads of the network. `state` is current in it unless
   *  `betweenUsesBackend` says the hook reads only through the backend. */
  between?: () => Promise<void> | undefined;
  betweenUsesBackend?: boolean;
  /** Receives each trained row's output values from its forward pass (before it learned):
   *  dataset row r at (r − firstRow) × totalWidth; a row trained again overwrites its values.
   *  They come back with the batch's readback. */
  outputs?: { values: Float32Array; firstRow: number };
}

const HEADER = {
  cursor: fieldOf(GROWTH_HEADER, 'cursor'),
  appended: fieldOf(GROWTH_HEADER, 'appended'),
  removed: fieldOf(GROWTH_HEADER, 'removed'),
  dropped: fieldOf(GROWTH_HEADER, 'dropped'),
  visits: fieldOf(GROWTH_HEADER, 'visits'),
  events: fieldOf(GROWTH_HEADER, 'events'),
};

/** Trains `state` (whose GPU copy `network` holds) on the given rows. On return — also after
 *  a cancellation between batches (JobCancelled) — `state` is the current network. */
export async function trainOnGpu(session: GpuSession, network: GpuNetwork, state: NetworkState, data: BoundData, options: GpuTrainOptions): Promise<{ visits: number }> {
  const total = options.rows.length;
  const hostBetween = options.between !== undefined && !options.betweenUsesBackend;
  let done = 0;
  let visits = 0;
  // Between batches the two copies agree on the structure; within one they may not.
  let consistent = true;
  try {
    while (done < total) {
      if (options.signal?.aborted) {
        await session.lock.run(() => network.sync(state));
        throw new JobCancelled(state);
      }
      const key = state.counters[COUNTER.samplesTrained]!;
      const k = Math.min(total - done, batchSizeAt(key, options.maxBatch, state.enableReduction, options.warmupDivisor));
      const rows = Array.from({ length: k }, (_, j) => options.rows[done + j]!);
      // The host copy must be current after this batch: it reads the network back.
      const whole = done + k >= total || hostBetween;
      consistent = false;
      visits += await session.lock.run(async () => {
        const batchVisits = await trainBatch(session, network, state, data, rows, options.outputs, whole);
        if (state.enableReduction && state.counters[COUNTER.samplesTrained]! % REDUCTION_INTERVAL === 0) await reduceOnGpu(session, network, state, data, whole);
        return batchVisits;
      });
      consistent = true;
      done += k;
      options.onProgress?.(done, total);
      if (done < total) await options.between?.();
    }
  } catch (e) {
    // A failure between batches (a hook, a progress callback): the host copy is made current
    // before the error goes on. Within a batch the copies may disagree: the caller drops both.
    if (consistent && !(e instanceof JobCancelled) && !session.context.lost)
      await ignoreFailure(
        session.lock.run(() => network.sync(state)),
        'the job failed already: its own error is the one to report',
      );
    throw e;
  }
  return { visits };
}

/** One batch; resolves with the synapse visits it made. `whole`: the batch reads the network
 *  back too, and leaves the host copy current. */
async function trainBatch(session: GpuSession, network: GpuNetwork, state: NetworkState, data: BoundData, rows: number[], outputs: GpuTrainOptions['outputs'], whole: boolean): Promise<number> {
  assertUsable(session);
  const { device } = session.context;
  const counters = session.counters;
  const k = rows.length;
  const firstKey = state.counters[COUNTER.samplesTrained]!;
  const bounds = requestBounds(state, k);
  // This job's columns: a prediction may have run in the `between` hook with its own.
  network.setInputs(state, data.inputMap);
  network.ensureScratch({ slots: 1, valueRows: k, sampleWords: packedWords(data, network.layout, k, true), growthRecords: bounds.capacity, eventWords: bounds.events }, state);
  const packed = packSamples(state, network.layout, data, rows, true);
  network.writeSamples(packed.words);
  const width = network.layout.totalWidth;
  network.writeParams(
    batchParamWords({
      count: k,
      firstKey,
      seed: state.seed,
      spiking: state.spiking ? 1 : 0,
      reinforce: state.enableReduction ? 1 : 0,
      sectionCount: state.counters[COUNTER.sectionCount]!,
      rowWords: packed.rowWords,
      inputBytes: packed.inputBytes ? 1 : 0,
      targetsOffset: packed.targetsOffset,
      cellsPerSlot: network.layout.cellsPerSlot,
      totalWidth: width,
      gradBase: width,
      valueBase: 2 * width,
      growthCapacity: network.growthRecords,
      eventCapacity: network.eventWords,
      refractoryTime: state.refractoryTime,
      cooldown: state.neuronCooldown,
    }),
  );

  const encoder = device.createCommandEncoder();
  network.flush(encoder);
  network.encodeClearScratch(encoder, state, 1);
  const pass = encoder.beginComputePass();
  pass.setPipeline(session.pipelines.pipelines.train_batch);
  pass.setBindGroup(0, network.getBindGroup());
  pass.dispatchWorkgroups(1);
  pass.end();
  // What crosses the bus: the log header, the requests and events the recent batches suggest
  // (more cost a second readback), the output values when asked for, and the network itself
  // when the host copy must be current after the batch.
  const requestWindow = network.windows.requests.size(k, bounds.expected, network.growthRecords);
  const eventWindow = network.windows.events.size(k, Math.min(bounds.events, 256), network.eventWords);
  const growth = network.buffer('growth');
  const readback = new Readback();
  const logAt = readback.add(growth, 0, (GROWTH_HEADER.stride + requestWindow * GROWTH_REQUEST.stride) * 4);
  const eventsAt = readback.add(growth, network.eventBase * 4, eventWindow * 4);
  // The output values train_batch keeps per sample (output.wgsl writes them at valueBase +
  // sample × totalWidth) ride along when the caller wants them.
  const valuesAt = outputs && width > 0 ? readback.add(network.buffer('outcells'), 2 * width * 4, k * width * 4) : -1;
  const networkAt = whole ? network.addNetwork(readback, state) : undefined;
  const staging = network.encodeReadback(encoder, readback);
  network.submit(encoder);
  network.learned();
  counters.dispatches++;
  await staging.mapAsync(MapMode.READ, 0, readback.total);
  counters.readbacks++;
  try {
    const mapped = staging.getMappedRange(0, readback.total);
    const header = new Uint32Array(mapped, logAt, GROWTH_HEADER.stride).slice();
    const made = header[HEADER.cursor]!;
    const appended = header[HEADER.appended]!;
    const dropped = header[HEADER.dropped]!;
    const eventWords = header[HEADER.events]!;
    // Every in-section append is an event, and the event list holds as many as the batch
    // could make (requestBounds): anything else is a broken invariant, not a full list.
    if (eventWords !== appended || eventWords > network.eventWords)
      throw new Error(`WebGPU: ${appended} synapses appended in their sections, ${eventWords} events (the list holds ${network.eventWords})`);
    const kept = Math.min(made, network.growthRecords);
    let records: Uint32Array = new Uint32Array(mapped, logAt + GROWTH_HEADER.stride * 4, Math.min(kept, requestWindow) * GROWTH_REQUEST.stride).slice();
    let events: Uint32Array = new Uint32Array(mapped, eventsAt, Math.min(eventWords, eventWindow)).slice();
    if (outputs && valuesAt >= 0) {
      const trained = new Float32Array(mapped, valuesAt, k * width);
      rows.forEach((row, j) => outputs.values.set(trained.subarray(j * width, (j + 1) * width), (row - outputs.firstRow) * width));
    }
    if (kept > requestWindow || eventWords > eventWindow) {
      // More than the windows held: the rest in a second readback (counted).
      const [moreRecords, moreEvents] = await network.readRanges([
        { name: 'growth', offset: (GROWTH_HEADER.stride + requestWindow * GROWTH_REQUEST.stride) * 4, bytes: Math.max(0, kept - requestWindow) * GROWTH_REQUEST.stride * 4 },
        { name: 'growth', offset: (network.eventBase + eventWindow) * 4, bytes: Math.max(0, eventWords - eventWindow) * 4 },
      ]);
      records = concat(records, moreRecords!);
      events = concat(events, moreEvents!);
    }
    network.replayAppends(state, events);
    if (networkAt) network.adoptNetwork(state, mapped, networkAt, true);
    const c = state.counters;
    c[COUNTER.synapseCount] = c[COUNTER.synapseCount]! + appended;
    const requests = decodeRequests(records, kept, state);
    checkRequests(state, requests);
    if (network.hostBehind) await fetchSplitBorders(network, state, requests);
    network.track(state);
    applyRequests(state, requests, firstKey);
    c[COUNTER.samplesTrained] = firstKey + k;
    counters.batches++;
    counters.trainSamples += k;
    counters.growthRequests += requests.length;
    counters.droppedRequests += dropped;
    network.windows.requests.record(made, k);
    network.windows.events.record(eventWords, k);
    network.stage(state, data.inputMap);
    return header[HEADER.visits]!;
  } finally {
    staging.unmap();
  }
}

function concat(a: Uint32Array, b: Uint32Array): Uint32Array {
  if (b.length === 0) return a;
  const out = new Uint32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A split keeps its section's first SPLIT_KEEP_SYNAPSES synapses and the potential their
 *  borders cover: the host's allocator sums those borders, which only the GPU holds while the
 *  host copy is behind. They are read (a readback of their own, only in a batch with splits)
 *  into the host copy, where splitSection finds them. */
async function fetchSplitBorders(network: GpuNetwork, state: NetworkState, requests: readonly GrowthRequestRecord[]): Promise<void> {
  const sections = [...new Set(requests.filter((r) => r.kind === GrowthKind.split && !(state.sectionsI32[r.a * SECTION_STRIDE + SEC_KIND]! & FREE_SECTION)).map((r) => r.a))];
  if (sections.length === 0) return;
  const borders = await network.readRanges(sections.map((s) => ({ name: 'pages' as const, offset: borderByte(state, s), bytes: SPLIT_KEEP_SYNAPSES * 4 })));
  sections.forEach((s, i) => {
    const o = s * SECTION_STRIDE;
    const page = state.pages[state.sectionsI32[o + SEC_SYN_PAGE]!]!;
    new Uint32Array(page.border.buffer, page.border.byteOffset, page.border.length).set(borders[i]!, state.sectionsI32[o + SEC_SYN_OFFSET]);
  });
}

/** The reduction pass (kernels/reduction.wgsl) as its own submission, after the host applied
 *  the growth of the sample that ends a reduction interval: the same order as the CPU's
 *  growAfterSample. The sections it shortened come back as events; the emptied ones are freed
 *  here with kernels/growth.ts. */
async function reduceOnGpu(session: GpuSession, network: GpuNetwork, state: NetworkState, data: BoundData, whole: boolean): Promise<void> {
  const { device } = session.context;
  const counters = session.counters;
  const sections = state.counters[COUNTER.sectionCount]!;
  const capacity = network.ensureEventList(2 * sections);
  network.writeParams(batchParamWords({ sectionCount: sections, cellsPerSlot: network.layout.cellsPerSlot, totalWidth: network.layout.totalWidth, eventCapacity: capacity }));
  const encoder = device.createCommandEncoder();
  network.flush(encoder);
  encoder.clearBuffer(network.buffer('growth'), 0, GROWTH_HEADER.stride * 4);
  const pass = encoder.beginComputePass();
  pass.setPipeline(session.pipelines.pipelines.step_reduce);
  pass.setBindGroup(0, network.getBindGroup());
  pass.dispatchWorkgroups(1);
  pass.end();
  const window = 2 * Math.ceil(network.windows.reductions.size(1, Math.min(sections, 256), capacity) / 2);
  const growth = network.buffer('growth');
  const readback = new Readback();
  const headerAt = readback.add(growth, 0, GROWTH_HEADER.stride * 4);
  const eventsAt = readback.add(growth, GROWTH_HEADER.stride * 4, window * 4);
  const networkAt = whole ? network.addNetwork(readback, state) : undefined;
  const staging = network.encodeReadback(encoder, readback);
  network.submit(encoder);
  network.learned();
  counters.dispatches++;
  await staging.mapAsync(MapMode.READ, 0, readback.total);
  counters.readbacks++;
  try {
    const mapped = staging.getMappedRange(0, readback.total);
    const header = new Uint32Array(mapped, headerAt, GROWTH_HEADER.stride);
    const removed = header[HEADER.removed]!;
    const eventWords = header[HEADER.events]!;
    if (eventWords > capacity) throw new Error(`WebGPU: the reduction pass made ${eventWords} event words (the list holds ${capacity})`);
    let events: Uint32Array = new Uint32Array(mapped, eventsAt, Math.min(eventWords, window)).slice();
    if (eventWords > window) {
      const [more] = await network.readRanges([{ name: 'growth', offset: (GROWTH_HEADER.stride + window) * 4, bytes: (eventWords - window) * 4 }]);
      events = concat(events, more!);
    }
    network.windows.reductions.record(eventWords, 1);
    network.replayReductions(state, events);
    if (networkAt) network.adoptNetwork(state, mapped, networkAt, true);
    const c = state.counters;
    c[COUNTER.synapseCount] = c[COUNTER.synapseCount]! - removed;
    c[COUNTER.synapsesRemoved] = c[COUNTER.synapsesRemoved]! + removed;
    network.track(state);
    releaseEmptied(state);
    maybeCompact(state);
    network.stage(state, data.inputMap);
  } finally {
    staging.unmap();
  }
}
