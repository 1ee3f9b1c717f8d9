/**
 * The network's memory layout, defined once. Both backends read and write exactly these
 * records: the CPU fallback through typed arrays over SharedArrayBuffers, the WebGPU backend
 * by uploading the same bytes into storage buffers (its WGSL struct declarations are
 * generated from the descriptors below, so the two can never drift).
 *
 * Records are fixed-stride arrays of 32-bit words. Synapses are stored field-major inside a
 * page (a weight column, a border column and a meta column of SYNAPSES_PER_PAGE entries
 * each): measured ~8 % faster in the section walk than interleaved 12-byte records, and
 * still one fixed stride (4 bytes) per field.
 */

export type WordType = 'u32' | 'i32' | 'f32';

export interface RecordField {
  readonly name: string;
  readonly type: WordType;
  readonly offset: number;
  readonly doc: string;
}

export interface RecordLayout {
  /** Name of the WGSL struct generated from this record. */
  readonly name: string;
  /** Words (4 bytes) per record. */
  readonly stride: number;
  readonly fields: readonly RecordField[];
}

/** Builds a record descriptor: one 32-bit word per field, in the order given. */
export function record(name: string, fields: readonly [string, WordType, string][]): RecordLayout {
  return Object.freeze({
    name,
    stride: fields.length,
    fields: Object.freeze(fields.map(([fieldName, type, doc], offset) => Object.freeze({ name: fieldName, type, offset, doc }))),
  });
}

// ---------------------------------------------------------------------------------------
// Sizes and limits
// ---------------------------------------------------------------------------------------

/** Neurons come in blocks; a section's synapses all target neurons of one block, so a
 *  target fits in one byte. */
export const NEURONS_PER_BLOCK = 128;
/** Incoming-section slots a block accounts for (drives when a hexagon grows a block). */
export const SECTION_SLOTS_PER_BLOCK = 512;
/** A hexagon grows a new block when fewer free section slots than this remain. */
export const BLOCK_GROWTH_FREE_SLOTS = 256;
/** Maximum synapses in one section; a full section with potential left over is split. */
export const MAX_SYNAPSES_PER_SECTION = 128;
/** A split keeps the synapses below this index and hands the potential above them to a
 *  new section. */
export const SPLIT_KEEP_SYNAPSES = 64;
/** Synapse storage grows by pages of this many synapses (768 KiB per page): the addressing
 *  unit (page × SYNAPSES_PER_PAGE + offset) and the GPU's page stride. A page's host arrays
 *  start at PAGE_INITIAL_SLOTS and double as its bump pointer needs, up to this. */
export const SYNAPSES_PER_PAGE = 1 << 16;
/** Slots a new page's host arrays hold (3 KiB); they double as the network grows, so a
 *  hosted cluster costs about what it grew, not whole pages. */
export const PAGE_INITIAL_SLOTS = 1 << 8;
/** Section capacities are multiples of this (so a section wastes at most 3 slots). */
export const SYNAPSE_CAPACITY_STEP = 4;
/** Target-hexagon slots per hexagon, drawn once by random walks. */
export const TARGET_SLOTS = 86;
/** Section walks are split into this many lanes by section id (lane = id & 1); each lane
 *  accumulates separately and lanes are combined in order, so one thread and a team of two
 *  produce identical networks. */
export const WALK_LANES = 2;
/** Synapses a binary input section fans out to. */
export const BINARY_SECTION_SYNAPSES = 32;

// ---------------------------------------------------------------------------------------
// Growth and learning constants (documented with their measured effect in docs/algorithm.md)
// ---------------------------------------------------------------------------------------

/** Tolerance window a new section starts with (remaining potential inside
 *  ((0.5 - tol) * border, (0.5 + tol) * border) shrinks that synapse). */
export const INITIAL_TOLERANCE = 0.49;
/** Border and weight are divided by this when a value lands inside a synapse's window. */
export const BORDER_SHRINK = 1.5;
/** The section's tolerance is divided by this on every shrink (the growth brake). */
export const TOLERANCE_DECAY = 1.3;
/** The walk stops when the remaining potential is below this fraction of the potential
 *  the walk started with (relative, so raw values of any unit behave the same). */
export const WALK_EPSILON = 1e-5;
/** New synapse weight magnitude is uniform in [0, SYNAPSE_INIT_WEIGHT), sign 50/50. */
export const SYNAPSE_INIT_WEIGHT = 0.2;
/** Section learning rate starts here and decays as LR / (1 + uses / TAU) per section. */
export const SECTION_LEARNING_RATE = 0.7;
export const SECTION_LEARNING_TAU = 300;
/** Output-link learning rate, decaying per source neuron the same way. */
export const LINK_LEARNING_RATE = 0.05;
export const LINK_LEARNING_TAU = 1000;
/** Output bias learning rate (no decay). */
export const BIAS_LEARNING_RATE = 0.05;
/** Reduction bookkeeping: new synapses start at this activity count... */
export const ACTIVE_COUNTER_INIT = 5;
/** ...and are persistent (never removed) once they reach this one. */
export const ACTIVE_COUNTER_PERSISTENT = 10;
/** Training samples between two reduction passes. */
export const REDUCTION_INTERVAL = 100;
/** A neuron cooldown at or above this carries less than a millionth of the potential into
 *  the next cycle; such clusters (with refractory time 1) are treated as not spiking, which
 *  lets samples be processed independently and in parallel. */
export const SPIKING_COOLDOWN_LIMIT = 1e6;

// ---------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------

/** One synapse section: the synapses one source neuron sends into one block of a target
 *  hexagon, covering the slice [lower, lower + range) of the source's potential. */
export const SECTION_RECORD = record('Section', [
  ['srcHex', 'u32', 'hexagon of the source neuron'],
  ['srcNeuron', 'u32', 'source neuron index within its hexagon'],
  ['tgtHex', 'u32', 'hexagon the section lives in (its synapses target neurons there)'],
  ['tgtBlock', 'u32', 'neuron block of the target hexagon hit by all synapses of the section'],
  ['synPage', 'u32', 'synapse page holding the synapses'],
  ['synOffset', 'u32', 'index of the first synapse inside the page'],
  ['synCount', 'u32', 'synapses in use (contiguous from synOffset)'],
  ['synCapacity', 'u32', 'synapse slots reserved (multiple of SYNAPSE_CAPACITY_STEP)'],
  ['lower', 'f32', 'potential below this does not reach the section'],
  ['range', 'f32', 'width of the potential slice the section covers (+inf: open)'],
  ['tolerance', 'f32', 'current border-adaptation window'],
  ['uses', 'f32', 'training visits, drives the per-section learning-rate decay'],
  ['next', 'i32', 'next section of the same source neuron (after splits), -1 = none'],
  ['kind', 'u32', 'SectionKind; FREE_SECTION bit when the record is unused'],
  ['reserved0', 'u32', 'reserved, zero'],
  ['reserved1', 'u32', 'reserved, zero'],
]);

export const SEC_SRC_HEX = 0;
export const SEC_SRC_NEURON = 1;
export const SEC_TGT_HEX = 2;
export const SEC_TGT_BLOCK = 3;
export const SEC_SYN_PAGE = 4;
export const SEC_SYN_OFFSET = 5;
export const SEC_SYN_COUNT = 6;
export const SEC_SYN_CAPACITY = 7;
export const SEC_LOWER = 8;
export const SEC_RANGE = 9;
export const SEC_TOLERANCE = 10;
export const SEC_USES = 11;
export const SEC_NEXT = 12;
export const SEC_KIND = 13;
export const SECTION_STRIDE = SECTION_RECORD.stride;

export const SectionKind = {
  /** Thermometer walk over the raw potential. */
  plain: 0,
  /** Any potential > 0 fires every synapse fully. */
  binary: 1,
  /** Categorical: the synapse whose border equals the value fires. */
  match: 2,
} as const;
export const FREE_SECTION = 0x100;
/** Set by the WebGPU reduction kernel on a section it emptied: freeing a section needs the
 *  allocator, so the host frees it (kernels/growth.ts freeSection) right after the pass. Never
 *  present in a network between GPU submissions or in a checkpoint. */
export const RELEASE_PENDING = 0x200;

/** Persistent per-neuron state. Activations, inputs and deltas are per execution context
 *  (see cpu-fallback/context.ts), so several workers can run inference at once. */
export const NEURON_RECORD = record('Neuron', [
  ['firstSection', 'i32', 'first outgoing section, -1 = none yet'],
  ['outputRow', 'i32', 'row of the output links of this neuron, -1 = none'],
  ['carry', 'f32', 'spiking: raw potential carried into the next cycle'],
  ['refractory', 'i32', 'spiking: cycles until input is accepted again'],
]);
export const NEU_FIRST_SECTION = 0;
export const NEU_OUTPUT_ROW = 1;
export const NEU_CARRY = 2;
export const NEU_REFRACTORY = 3;
export const NEURON_STRIDE = NEURON_RECORD.stride;

/** Synapse meta word: bits 0..7 target neuron inside the section's block, bits 8..15 the
 *  activity counter used by reduction. */
export const META_TARGET_MASK = 0xff;
export const META_COUNTER_SHIFT = 8;
export const META_COUNTER_MASK = 0xff;

export function packMeta(target: number, counter: number): number {
  return ((target & META_TARGET_MASK) | ((counter & META_COUNTER_MASK) << META_COUNTER_SHIFT)) >>> 0;
}

/** Byte layout of one synapse page: three columns of SYNAPSES_PER_PAGE words. */
export const PAGE_WEIGHT_COLUMN = 0;
export const PAGE_BORDER_COLUMN = 1;
export const PAGE_META_COLUMN = 2;
export const PAGE_COLUMNS = 3;
export const PAGE_BYTES = SYNAPSES_PER_PAGE * 4 * PAGE_COLUMNS;
/** The page's columns as a descriptor (one entry per column, in PAGE_*_COLUMN order), from
 *  which the WGSL `SynapsePage` struct is generated. */
export const SYNAPSE_PAGE_COLUMNS: readonly { readonly name: string; readonly type: WordType }[] = Object.freeze([
  Object.freeze({ name: 'weight', type: 'f32' as const }),
  Object.freeze({ name: 'border', type: 'f32' as const }),
  Object.freeze({ name: 'meta', type: 'u32' as const }),
]);
/** Bytes one synapse occupies (weight, border, meta). */
export const BYTES_PER_SYNAPSE_SLOT = 4 * PAGE_COLUMNS;

/** Cluster-wide counters, kept in a Float64Array so they survive being handed between
 *  threads with the buffers (and are exact up to 2^53). */
export const COUNTER_NAMES = [
  'samplesTrained',
  'sectionCount',
  'sectionsUsed',
  'synapseCount',
  'slotsReserved',
  'slotsFreed',
  'pageCount',
  'outputRowCount',
  'splits',
  'synapsesRemoved',
  'compactions',
  'slotsCopied',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
export const COUNTER: Readonly<Record<CounterName, number>> = Object.freeze(Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, i])) as Record<CounterName, number>);

/** Activation of hidden neurons: y = log2(1 + max(0, x)), compressive for raw inputs. */
export function hiddenActivation(x: number): number {
  return x > 0 ? Math.log2(1 + x) : 0;
}

/** dy/dx of {@link hiddenActivation} expressed through y: 1 / ((1 + x) ln 2) = 2^-y / ln 2. */
export function hiddenActivationSlope(y: number): number {
  return 1.4426950408889634 * Math.pow(2, -y);
}
