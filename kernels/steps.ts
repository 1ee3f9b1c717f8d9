/**
 * The engine's steps as data: for each step, the WGSL file and entry point that run it on the
 * GPU, the TypeScript functions that run it on the CPU (its twins, in cpu-fallback/ or
 * kernels/), and the test that compares the two. kernels/webgpu/shaders.ts builds the shader
 * module and its pipelines from this list, and test/kernels/steps.test.ts checks it against
 * the sources: every entry point of every .wgsl file is listed here, every named function is
 * exported where it says, every twin test names its steps and ran them
 * (test/fixtures/gpu-twin.ts `TwinSteps`).
 *
 * Modules are named by path from the repository root: this file imports neither backend.
 */

export interface TypeScriptTwin {
  /** Path from the repository root. */
  readonly module: string;
  readonly functions: readonly string[];
}

export interface EngineStep {
  readonly id: string;
  /** What the step does, in a few words. */
  readonly what: string;
  /** The file in kernels/. */
  readonly wgsl: string;
  /** Its compute entry point; null when another step's entry point calls it. */
  readonly entryPoint: string | null;
  readonly typescript: readonly TypeScriptTwin[];
  /** The test file (from the repository root) that compares the WGSL with the TypeScript. */
  readonly twinTest: string;
}

const KERNEL_TWINS = 'test/kernels/webgpu/kernels.test.ts';
const SAMPLE_TWINS = 'test/kernels/webgpu/samples.test.ts';
const STEPS_TS = 'cpu-fallback/steps.ts';
const ENGINE_TS = 'cpu-fallback/engine.ts';
const GROWTH_TS = 'kernels/growth.ts';

/** The steps, in the order their files are concatenated into the shader module. */
export const ENGINE_STEPS = [
  {
    id: 'input',
    what: 'raw row values into the input neurons',
    wgsl: 'input.wgsl',
    entryPoint: 'step_input',
    typescript: [
      { module: ENGINE_TS, functions: ['loadRow'] },
      { module: STEPS_TS, functions: ['loadInputs'] },
    ],
    twinTest: KERNEL_TWINS,
  },
  {
    id: 'update',
    what: 'hidden neurons: gathered input to activation (spiking carry and refractory time)',
    wgsl: 'neurons.wgsl',
    entryPoint: 'step_update',
    typescript: [{ module: STEPS_TS, functions: ['updateNeurons'] }],
    twinTest: KERNEL_TWINS,
  },
  {
    id: 'grow',
    what: 'growth during the walk: synapses appended in a free slot, growth requests',
    wgsl: 'grow.wgsl',
    entryPoint: null,
    typescript: [{ module: GROWTH_TS, functions: ['appendSynapse', 'applyGrowth'] }],
    twinTest: KERNEL_TWINS,
  },
  {
    id: 'walk',
    what: 'section walks (thermometer), border adaptation in training',
    wgsl: 'forward.wgsl',
    entryPoint: 'step_walk',
    typescript: [{ module: STEPS_TS, functions: ['forwardSections'] }],
    twinTest: KERNEL_TWINS,
  },
  {
    id: 'output',
    what: 'logits, softmax or scaled values, the loss gradient and bias step',
    wgsl: 'output.wgsl',
    entryPoint: 'step_output',
    typescript: [{ module: STEPS_TS, functions: ['computeOutputs', 'backwardOutputs'] }],
    twinTest: KERNEL_TWINS,
  },
  {
    id: 'output-backward',
    what: 'output link rows learn, deltas to their source neurons',
    wgsl: 'output_backward.wgsl',
    entryPoint: 'step_output_backward',
    typescript: [{ module: STEPS_TS, functions: ['backwardOutputs'] }],
    twinTest: KERNEL_TWINS,
  },
  {
    id: 'backward',
    what: 'walked synapses learn, hidden sources collect their deltas',
    wgsl: 'backward.wgsl',
    entryPoint: 'step_backward',
    typescript: [{ module: STEPS_TS, functions: ['backwardSections', 'finishDeltas'] }],
    twinTest: KERNEL_TWINS,
  },
  {
    id: 'reduce',
    what: 'activity counts decay, unused trailing synapses go',
    wgsl: 'reduction.wgsl',
    entryPoint: 'step_reduce',
    typescript: [{ module: GROWTH_TS, functions: ['reduceNetwork'] }],
    twinTest: KERNEL_TWINS,
  },
  {
    id: 'train-batch',
    what: 'whole training samples, one after another, in one workgroup',
    wgsl: 'sample.wgsl',
    entryPoint: 'train_batch',
    typescript: [{ module: ENGINE_TS, functions: ['trainRows'] }],
    twinTest: SAMPLE_TWINS,
  },
  {
    id: 'infer-batch',
    what: 'inference, one workgroup per sample',
    wgsl: 'sample.wgsl',
    entryPoint: 'infer_batch',
    typescript: [{ module: ENGINE_TS, functions: ['predictRows'] }],
    twinTest: SAMPLE_TWINS,
  },
  {
    id: 'infer-sequential',
    what: 'inference of a spiking network, samples in order, potentials carried',
    wgsl: 'sample.wgsl',
    entryPoint: 'infer_sequential',
    typescript: [{ module: ENGINE_TS, functions: ['predictRows'] }],
    twinTest: SAMPLE_TWINS,
  },
] as const satisfies readonly EngineStep[];

export type StepId = (typeof ENGINE_STEPS)[number]['id'];

/** A compute entry point of the shader module. */
export type EntryPoint = NonNullable<(typeof ENGINE_STEPS)[number]['entryPoint']>;

/** WGSL files that are no step of their own: declarations and helpers the steps share,
 *  checked through the steps that use them. */
export const SHARED_KERNEL_FILES = [
  { wgsl: 'bindings.wgsl', what: 'the storage buffers (binding numbers of kernels/webgpu/pipelines.ts)', checkedBy: 'every step' },
  { wgsl: 'plan.wgsl', what: 'reading the plan tables (where hexagons, groups and interfaces are)', checkedBy: 'every step' },
  { wgsl: 'rng.wgsl', what: 'the counter-based RNG, bit-exact with kernels/rng.ts', checkedBy: 'grow (initial weights and targets) and the device smoke test' },
  { wgsl: 'accumulate.wgsl', what: '64-bit fixed-point sums in two atomic<u32> words', checkedBy: 'walk (gathered inputs)' },
] as const;

/** Every entry point, in registry order. */
export const ENTRY_POINTS: readonly EntryPoint[] = ENGINE_STEPS.flatMap((s) => (s.entryPoint === null ? [] : [s.entryPoint]));

/** Every WGSL file, shared files first, then the steps' in registry order (each once). */
export const KERNEL_FILES: readonly string[] = [...new Set([...SHARED_KERNEL_FILES.map((f) => f.wgsl), ...ENGINE_STEPS.map((s) => s.wgsl)])];
