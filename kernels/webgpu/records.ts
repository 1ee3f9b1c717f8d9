/**
 * Records the WebGPU backend adds to kernels/layout.ts: the per-batch uniform, the read-only
 * "plan" tables (how the network's hexagons, output groups and inputs map onto the flat GPU
 * buffers) and the growth log. Like SECTION_RECORD and NEURON_RECORD, every one of them is a
 * descriptor from which the WGSL declarations are generated (kernels/webgpu/prelude.ts), so the
 * host and the shaders can never disagree about an offset.
 */
import { type RecordLayout, record } from '../layout.js';

/** Invocations per workgroup of every kernel: the WebGPU default limit, so any adapter runs
 *  the kernels without raised limits on this count. */
export const WORKGROUP_SIZE = 256;

/** The uniform every dispatch sees (written once per submit). */
export const BATCH_PARAMS = record('BatchParams', [
  ['count', 'u32', 'samples in this batch (training, sequential inference) or workgroups in use (parallel inference)'],
  ['firstKey', 'u32', 'samples the network had trained before this batch: sample j uses key firstKey + j'],
  ['seed', 'u32', 'the network seed'],
  ['spiking', 'u32', '1 when potentials carry over between cycles'],
  ['reinforce', 'u32', '1 when training walks reinforce the synapses they reach (reduction enabled)'],
  ['sectionCount', 'u32', 'section records in use (live or free)'],
  ['rowWords', 'u32', 'words per input row in the samples buffer'],
  ['inputBytes', 'u32', '1: input rows are packed bytes (Uint8 datasets), 0: f32'],
  ['targetsOffset', 'u32', 'word offset of the per-sample output targets in the samples buffer'],
  ['cellsPerSlot', 'u32', 'neuron cells per scratch slot (sum of hexagon neuron capacities)'],
  ['totalWidth', 'u32', 'output values per sample over all output groups'],
  ['gradBase', 'u32', 'index of the first gradient in outcells (after the slots × totalWidth logits)'],
  ['valueBase', 'u32', 'index of the first output value in outcells (values are stored per sample row)'],
  ['growthCapacity', 'u32', 'growth request records the growth log holds'],
  ['refractoryTime', 'u32', 'spiking: cycles between accepted inputs'],
  ['cooldown', 'f32', 'spiking: the carried potential is divided by this every cycle'],
  ['stepHex', 'u32', 'single-step dispatches: the hexagon or output group the step works on'],
  ['stepSlot', 'u32', 'single-step dispatches: first scratch slot (workgroup x adds to it)'],
  ['stepRow', 'u32', 'single-step dispatches: first sample row (workgroup x adds to it)'],
  ['stepKey', 'u32', 'single-step dispatches: growth key of the sample'],
  ['stepTrain', 'u32', 'single-step dispatches: 1 = the training variant of the step'],
  ['eventCapacity', 'u32', 'words the event list holds (it follows the growthCapacity request records)'],
  ['reserved1', 'u32', 'padding to a multiple of 16 bytes'],
  ['reserved2', 'u32', 'padding to a multiple of 16 bytes'],
]);

/** Header of the plan buffer (array<u32>): offsets of the tables that follow it. */
export const PLAN_HEADER = record('PlanHeader', [
  ['hexagonCount', 'u32', 'hexagons'],
  ['orderOffset', 'u32', 'word offset of the processing order (hexagonCount hexagon indices)'],
  ['hexesOffset', 'u32', 'word offset of the hexagon table'],
  ['groupCount', 'u32', 'output groups'],
  ['groupsOffset', 'u32', 'word offset of the output group table'],
  ['ifacesOffset', 'u32', 'word offset of the output interface table'],
  ['inputsOffset', 'u32', 'word offset of the input list: (cell, column) per input neuron'],
  ['inputCount', 'u32', 'input neurons in the input list'],
]);

export const PLAN_HEX = record('PlanHex', [
  ['kind', 'u32', 'HEX_INPUT, HEX_HIDDEN or HEX_OUTPUT'],
  ['base', 'u32', 'first cell (global neuron index) of the hexagon'],
  ['count', 'u32', 'neurons in use (blocks × NEURONS_PER_BLOCK); the capacity may be larger'],
  ['group', 'u32', 'output hexagons: their output group'],
  ['targetsOffset', 'u32', 'word offset of the TARGET_SLOTS target hexagons (i32, -1 = empty)'],
  ['orderPos', 'u32', 'position in the processing order'],
  ['reserved0', 'u32', 'padding'],
  ['reserved1', 'u32', 'padding'],
]);

export const PLAN_GROUP = record('PlanGroup', [
  ['hexagon', 'u32', 'the output hexagon'],
  ['width', 'u32', 'output values'],
  ['widthCapacity', 'u32', 'row stride of the link matrix'],
  ['rows', 'u32', 'link rows in use'],
  ['weightsOffset', 'u32', 'links index of row 0, value 0'],
  ['biasOffset', 'u32', 'links index of the biases'],
  ['scaleOffset', 'u32', 'links index of the value scales'],
  ['usesOffset', 'u32', 'links index of the per-row use counts'],
  ['sourcesOffset', 'u32', 'plan word offset of the row sources (cell | INPUT_SOURCE_BIT)'],
  ['outOffset', 'u32', "first of the group values inside a sample's output row"],
  ['ifaceStart', 'u32', 'first interface in the interface table'],
  ['ifaceCount', 'u32', 'interfaces of the group'],
]);

export const PLAN_IFACE = record('PlanIface', [
  ['offset', 'u32', 'first value of the interface inside its group'],
  ['size', 'u32', 'values'],
  ['mode', 'u32', 'IFACE_CLASS (softmax) or IFACE_VALUE'],
  ['reserved0', 'u32', 'padding'],
]);

export const HEX_INPUT = 0;
export const HEX_HIDDEN = 1;
export const HEX_OUTPUT = 2;
export const IFACE_CLASS = 0;
export const IFACE_VALUE = 1;
/** Input list entry of a neuron no dataset column feeds. */
export const NO_COLUMN = 0xffffffff;
/** Row source flag: the source is an input neuron (its raw value is compressed first). */
export const INPUT_SOURCE_BIT = 0x80000000;

/** Header of the growth log (array<atomic<u32>>); request records follow it, then the event
 *  list: what the host must replay to keep its copy of the network's structure current without
 *  reading the network back. In a training batch one word per synapse appended inside its
 *  section (the section id); in a reduction pass two per section it shortened (the section id,
 *  its new count). */
export const GROWTH_HEADER = record('GrowthHeader', [
  ['cursor', 'u32', 'requests made (may exceed capacity: the excess was dropped)'],
  ['appended', 'u32', 'synapses appended inside their section by the GPU'],
  ['removed', 'u32', 'synapses removed by the reduction pass'],
  ['released', 'u32', 'sections the reduction pass emptied (RELEASE_PENDING)'],
  ['dropped', 'u32', 'requests that did not fit'],
  ['visits', 'u32', 'synapses the walks reached (forward + backward), for work measurements'],
  ['events', 'u32', 'words pushed to the event list (may exceed eventCapacity: the excess was not stored)'],
  ['reserved2', 'u32', 'padding'],
]);

/** One growth request (kernels/growth.ts GrowthKind). The host sorts a batch's requests into
 *  the CPU's order (sample, walk lane, hexagon in processing order, neuron, section in the
 *  neuron's chain) with keys it reads from its own copy of the structure, which is current
 *  (growth-log.ts decodeRequests): the record carries only what the host cannot know. */
export const GROWTH_REQUEST = record('GrowthRequest', [
  ['kindRow', 'u32', 'GrowthKind in the bits below REQUEST_ROW_SHIFT; above them the sample of the batch that asked (its key is firstKey + row)'],
  ['a', 'u32', 'newSection: hexagon; otherwise the section'],
  ['b', 'u32', 'newSection: neuron inside the hexagon; otherwise 0'],
  ['value', 'f32', 'potential (newSection, matchInsert) or the border to append'],
]);
/** GROWTH_REQUEST kindRow: the kind takes the bits below this. */
export const REQUEST_ROW_SHIFT = 3;

/** Per-section walk scratch (training): what the forward walk reached, for the backward walk. */
export const SECTION_WALK = record('SectionWalk', [
  ['walked', 'u32', 'synapses the walk reached this sample (0 = none)'],
  ['first', 'u32', 'first reached synapse relative to the section start (match sections)'],
  ['share', 'f32', 'covered share of the last reached synapse'],
  ['pending', 'f32', 'potential already requested as deferred appends this batch'],
  ['splitAsked', 'u32', '1 once a split was requested this batch'],
  ['reserved0', 'u32', 'padding'],
  ['reserved1', 'u32', 'padding'],
  ['reserved2', 'u32', 'padding'],
]);

/** Per-sample-slot neuron scratch (one cell per neuron per slot). */
export const NEURON_CELL = record('NeuronCell', [
  ['act', 'f32', 'raw value (input neurons) or log2(1 + u) (hidden neurons)'],
  ['slope', 'f32', 'hidden neurons: activation slope; > 0 exactly when the neuron is active'],
  ['delta', 'f32', 'backward: loss gradient by the neuron potential'],
  ['requested', 'u32', 'training: a first section was requested for this neuron in this batch'],
]);

/** All records the prelude declares, beside layout.ts's own. */
export const GPU_RECORDS: readonly { layout: RecordLayout; prefix: string }[] = [
  { layout: BATCH_PARAMS, prefix: 'BATCH' },
  { layout: PLAN_HEADER, prefix: 'PLAN' },
  { layout: PLAN_HEX, prefix: 'PLAN_HEX' },
  { layout: PLAN_GROUP, prefix: 'PLAN_GROUP' },
  { layout: PLAN_IFACE, prefix: 'PLAN_IFACE' },
  { layout: GROWTH_HEADER, prefix: 'GROWTH' },
  { layout: GROWTH_REQUEST, prefix: 'REQUEST' },
  { layout: SECTION_WALK, prefix: 'WALK' },
  { layout: NEURON_CELL, prefix: 'CELL' },
];
