/**
 * Whether a task's data fits its cluster, decided on interface sizes alone, before the task
 * is queued. The rules are those the task meets when it runs: `Cluster.bind`
 * (server/network/cluster.ts) with the grow-only sizing of kernels/state.ts (`sizeInput`,
 * `sizeOutput`). A request task binds read-only: every input must take exactly as many
 * columns as it learned from, and a labelled dataset's targets must match the output. A
 * train task grows interfaces, which fails only where growing would move an interface that
 * has learned, or where an output would switch between classes and values.
 *
 * The sizes come from the cluster as it is (runtime.ts: `interfaceSizes`), then grow by the
 * train tasks queued ahead (`applyTrain`), so a request queued right behind the first train
 * task is judged by the network that task will leave.
 */
import type { NetworkState, OutputMode } from '../../kernels/state.js';
import type { CheckpointInterfaces } from '../network/checkpoint.js';
import type { ClusterTemplate, Position } from '../network/template-types.js';
import type { InputMapping } from '../store/types.js';

export interface InterfaceSizes extends CheckpointInterfaces {
  /**
   * The network has learned something. Growing an input then must not move the inputs after
   * it in its hexagon: their neurons have grown sections (kernels/state.ts checks this per
   * hexagon; after any learning every input hexagon has grown).
   */
  learned: boolean;
}

/** What a dataset offers a cluster: its input columns and its targets. */
export interface DataShape {
  /** Names the dataset in messages. */
  name: string;
  width: number;
  targets: { kind: 'class'; classes: string[] } | { kind: 'values'; columns: string[] } | null;
}

/** What a task asks: which columns feed which input, which output the targets teach. */
export interface Binding {
  inputs?: InputMapping[] | undefined;
  output?: string | undefined;
}

export interface Misfit {
  /** `width_mismatch`: sizes that cannot meet; `bad_mapping`: a choice the data cannot make. */
  code: 'width_mismatch' | 'bad_mapping';
  /** The request field to change (`/body/inputs/0/size`, `/body/output`, `/body/datasetId`). */
  field: string;
  message: string;
}

export function sizesOfState(state: NetworkState, learned: boolean): InterfaceSizes {
  return {
    inputs: state.inputs.map((i) => ({ name: i.name, hexagon: i.hexagon, size: i.size })),
    outputs: state.outputs.map((g) => ({ rows: g.rows, interfaces: g.interfaces.map((o) => ({ name: o.name, mode: o.mode, size: o.size })) })),
    learned,
  };
}

function key(p: Position): string {
  return `${p.x},${p.y},${p.z}`;
}

/** A fresh network of `template`: every interface empty (createNetworkState groups outputs by hexagon). */
export function sizesOfTemplate(template: ClusterTemplate): InterfaceSizes {
  const hexagon = new Map(template.hexagons.map((h, i) => [key(h.position), i]));
  const groups = new Map<string, InterfaceSizes['outputs'][number]>();
  for (const o of template.outputs) {
    const group = groups.get(key(o.position)) ?? { rows: 0, interfaces: [] };
    group.interfaces.push({ name: o.name, mode: 'value', size: 0 });
    groups.set(key(o.position), group);
  }
  return { inputs: template.inputs.map((i) => ({ name: i.name, hexagon: hexagon.get(key(i.position)) ?? -1, size: 0 })), outputs: [...groups.values()], learned: false };
}

interface InputUse {
  index: number;
  name: string;
  column: number;
  size: number;
  /** The request field that says this size. */
  field: string;
}

/** The inputs a binding feeds, as bindInputs resolves them (default: the only input takes every column). */
function inputUses(sizes: InterfaceSizes, data: DataShape, binding: Binding): InputUse[] | Misfit {
  const specs = binding.inputs ?? (sizes.inputs.length === 1 ? [{ name: sizes.inputs[0]!.name }] : undefined);
  if (!specs) {
    return {
      code: 'bad_mapping',
      field: '/body/inputs',
      message: `the cluster has ${sizes.inputs.length} inputs (${sizes.inputs.map((i) => i.name).join(', ')}): say which columns feed which in "inputs"`,
    };
  }
  return specs.map((spec, i) => {
    const column = spec.column ?? 0;
    const field = !binding.inputs ? '/body/datasetId' : spec.size !== undefined ? `/body/inputs/${i}/size` : `/body/inputs/${i}`;
    return { index: sizes.inputs.findIndex((x) => x.name === spec.name), name: spec.name, column, size: spec.size ?? data.width - column, field };
  });
}

/** "1 value", "2 values". */
function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

function columns(use: InputUse): string {
  return use.size === 1 ? `column ${use.column}` : `columns ${use.column}..${use.column + use.size - 1}`;
}

interface OutputUse {
  group: InterfaceSizes['outputs'][number];
  output: InterfaceSizes['outputs'][number]['interfaces'][number];
  mode: OutputMode;
  size: number;
  field: string;
  /** "10 classes", "2 value columns". */
  what: string;
}

/** The output a labelled dataset's targets meet, as bindOutputs resolves it; undefined when the dataset has no targets. */
function outputUse(sizes: InterfaceSizes, data: DataShape, binding: Binding): OutputUse | Misfit | undefined {
  const targets = data.targets;
  if (!targets) return undefined;
  const all = sizes.outputs.flatMap((g) => g.interfaces);
  const name = binding.output ?? (all.length === 1 ? all[0]!.name : undefined);
  if (name === undefined) {
    return {
      code: 'bad_mapping',
      field: '/body/output',
      message: `the cluster has ${all.length} outputs (${all.map((o) => o.name).join(', ')}): say in "output" which one dataset "${data.name}"'s ${targets.kind === 'class' ? 'labels' : 'targets'} are for`,
    };
  }
  const group = sizes.outputs.find((g) => g.interfaces.some((o) => o.name === name));
  const output = group?.interfaces.find((o) => o.name === name);
  if (!group || !output) return { code: 'bad_mapping', field: '/body/output', message: `the cluster has no output "${name}" (outputs: ${all.map((o) => o.name).join(', ')})` };
  const size = targets.kind === 'class' ? targets.classes.length : targets.columns.length;
  const what = targets.kind === 'class' ? count(size, 'class', 'classes') : count(size, 'value column');
  return { group, output, mode: targets.kind === 'class' ? 'class' : 'value', size, field: binding.output !== undefined ? '/body/output' : '/body/datasetId', what };
}

function learnsWhat(o: { mode: OutputMode; size: number }): string {
  return o.mode === 'class' ? count(o.size, 'class', 'classes') : count(o.size, 'value');
}

/** A request task: the data must fit the network exactly as it is (read-only binding). */
export function requestFit(sizes: InterfaceSizes, data: DataShape, binding: Binding): Misfit | undefined {
  const uses = inputUses(sizes, data, binding);
  if (!Array.isArray(uses)) return uses;
  for (const use of uses) {
    const input = sizes.inputs[use.index];
    if (!input || use.size === input.size) continue;
    const message =
      input.size === 0
        ? `input "${use.name}" has not learned yet (it takes 0 values), so it cannot predict from dataset "${data.name}"'s ${count(use.size, 'column')}: train the cluster first (${use.field})`
        : `input "${use.name}" takes ${count(input.size, 'value')} (the width it learned), but dataset "${data.name}" gives it ${count(use.size, 'column')} (${columns(use)}) (${use.field})`;
    return { code: 'width_mismatch', field: use.field, message };
  }
  const out = outputUse(sizes, data, binding);
  if (!out || !('output' in out)) return out;
  if (out.output.size === 0) {
    return {
      code: 'width_mismatch',
      field: out.field,
      message: `output "${out.output.name}" has not learned yet (0 values), so it cannot be scored against dataset "${data.name}"'s ${out.what}: train the cluster first (${out.field})`,
    };
  }
  if (out.output.mode !== out.mode) {
    return { code: 'bad_mapping', field: out.field, message: `output "${out.output.name}" learned ${learnsWhat(out.output)}, but dataset "${data.name}" has ${out.what} (${out.field})` };
  }
  if (out.output.size !== out.size) {
    return {
      code: 'width_mismatch',
      field: out.field,
      message: `output "${out.output.name}" has ${learnsWhat(out.output)} (the width it learned), but dataset "${data.name}" has ${out.what} (${out.field})`,
    };
  }
  return undefined;
}

/**
 * A train task: whether its binding can grow the network; if it can, `sizes` becomes the
 * network it leaves (so later tasks are judged by it).
 */
export function applyTrain(sizes: InterfaceSizes, data: DataShape, binding: Binding): Misfit | undefined {
  const uses = inputUses(sizes, data, binding);
  if (!Array.isArray(uses)) return uses;
  const grown = sizes.inputs.map((i) => i.size);
  for (const use of uses) {
    const input = sizes.inputs[use.index];
    if (!input || use.size <= grown[use.index]!) continue;
    const follower = sizes.learned ? sizes.inputs.find((other, j) => j > use.index && other.hexagon === input.hexagon) : undefined;
    if (follower) {
      return {
        code: 'width_mismatch',
        field: use.field,
        message: `input "${use.name}" takes ${count(grown[use.index]!, 'value')} and cannot grow to dataset "${data.name}"'s ${count(use.size, 'column')} (${columns(use)}): input "${follower.name}" follows it in the same hexagon and the network has learned, so that input cannot move; give "${use.name}" at most ${count(grown[use.index]!, 'column')} (${use.field})`,
      };
    }
    grown[use.index] = use.size;
  }
  const out = outputUse(sizes, data, binding);
  if (out && !('output' in out)) return out;
  if (out) {
    if (out.output.size > 0 && out.output.mode !== out.mode) {
      return {
        code: 'bad_mapping',
        field: out.field,
        message: `output "${out.output.name}" learns ${out.output.mode === 'class' ? 'classes' : 'values'} (${learnsWhat(out.output)}), but dataset "${data.name}" has ${out.what} (${out.field})`,
      };
    }
    const last = out.group.interfaces[out.group.interfaces.length - 1] === out.output;
    if (out.size > out.output.size && out.output.size > 0 && !last && out.group.rows > 0) {
      return {
        code: 'width_mismatch',
        field: out.field,
        message: `output "${out.output.name}" has ${learnsWhat(out.output)} and cannot grow to dataset "${data.name}"'s ${out.what} once the outputs after it have learned (${out.field})`,
      };
    }
  }
  // It fits: the network this task leaves behind.
  sizes.inputs.forEach((input, i) => (input.size = grown[i]!));
  if (out) {
    out.output.mode = out.mode;
    out.output.size = Math.max(out.output.size, out.size);
    out.group.rows = Math.max(out.group.rows, 1);
  }
  sizes.learned = true;
  return undefined;
}
