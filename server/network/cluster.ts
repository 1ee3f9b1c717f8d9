/**
 * A cluster: one network created from a template. Holds the template, the network's buffers
 * (kernels/state.ts) and knows how to bind a dataset to the network's inputs and outputs.
 */
import { randomUUID } from 'node:crypto';
import { COUNTER, NEURONS_PER_BLOCK, NEURON_STRIDE, SECTION_STRIDE, BYTES_PER_SYNAPSE_SLOT } from '../../kernels/layout.js';
import {
  type NetworkShape,
  type NetworkState,
  type OutputMode,
  createNetworkState,
  findInput,
  findOutput,
  sizeInput,
  sizeOutput,
} from '../../kernels/state.js';
import type { BoundData, InputBinding, OutputBinding } from '../../kernels/contract.js';
import type { Dataset } from '../datasets/types.js';
import { type CheckpointMeta, decodeCheckpoint, encodeCheckpoint } from './checkpoint.js';
import type { ClusterTemplate } from './template-types.js';
import { parseTemplate, templateToText } from './template.js';
import { buildTopology } from './topology.js';

/** The template used when none is given: input, one hidden hexagon, output, in a line. */
export const DEFAULT_TEMPLATE = `version: 1
settings:
    neuron_cooldown: 1000000000.0
    refractory_time: 1
    max_connection_distance: 1
    enable_reduction: false
hexagons:
    1,1,1
    2,1,1
    3,1,1
inputs:
    input: 1,1,1
outputs:
    output: 3,1,1
`;

export interface ClusterStats {
  neurons: number;
  hiddenNeurons: number;
  blocks: number;
  sections: number;
  synapses: number;
  outputLinks: number;
  /** Bytes of the network's live records (synapse slots in use, sections, neurons, links). */
  bytes: number;
  bytesPerSynapse: number;
  samplesTrained: number;
  splits: number;
  synapsesRemoved: number;
}

/** Mapping of dataset columns onto interfaces; defaults cover single-input/single-output. */
export interface BindOptions {
  /** Input interface name → first column and width (default: the only input takes all columns). */
  inputs?: { name: string; column?: number; size?: number }[];
  /** Output interface name taught by the dataset's targets (default: the only output). */
  output?: string;
  /** Do not size interfaces (the data must fit the network as it is). */
  readOnly?: boolean;
}

export class BindError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BindError';
  }
}

export class Cluster {
  /** Identifies the cluster to backends (scratch reuse); not part of the network. */
  readonly key: string = randomUUID();

  constructor(
    readonly template: ClusterTemplate,
    public state: NetworkState,
  ) {}

  /** A fresh, empty cluster. */
  static create(template: ClusterTemplate | string, seed = 1): Cluster {
    const t = typeof template === 'string' ? parseTemplate(template) : template;
    const topology = buildTopology(t, seed >>> 0);
    const index = new Map(t.hexagons.map((h, i) => [key(h.position), i]));
    const shape: NetworkShape = {
      seed: seed >>> 0,
      settings: { ...t.settings },
      hexagons: topology.kinds.map((kind, i) => ({ kind, targets: topology.targets[i]! })),
      order: topology.order,
      inputs: t.inputs.map((i) => ({ name: i.name, hexagon: index.get(key(i.position))!, type: i.type })),
      outputs: t.outputs.map((o) => ({ name: o.name, hexagon: index.get(key(o.position))!, type: o.type })),
    };
    return new Cluster(t, createNetworkState(shape));
  }

  static fromCheckpoint(bytes: Uint8Array): { cluster: Cluster; meta: CheckpointMeta } {
    const { state, meta } = decodeCheckpoint(bytes);
    return { cluster: new Cluster(parseTemplate(meta.template), state), meta };
  }

  get templateText(): string {
    return templateToText(this.template);
  }

  checkpoint(labels?: Record<string, string>): Buffer {
    return encodeCheckpoint(this.state, labels ? { template: this.templateText, labels } : { template: this.templateText });
  }

  /**
   * Binds a dataset: sizes the input interface(s) to its columns and the output interface to
   * its targets (class labels → one value per class, learned with softmax; value columns →
   * one value per column, learned in the targets' own units). Sizes only grow.
   */
  bind(dataset: Dataset, options: BindOptions = {}): BoundData {
    const inputMap = this.bindInputs(dataset, options);
    const { outputMap, labels, values, valueWidth } = this.bindOutputs(dataset, options);
    return { rows: dataset.rows, inputs: dataset.inputs, inputWidth: dataset.inputWidth, inputMap, labels, values, valueWidth, outputMap };
  }

  private bindInputs(dataset: Dataset, options: BindOptions): InputBinding[] {
    const specs = options.inputs ?? (this.state.inputs.length === 1 ? [{ name: this.state.inputs[0]!.name }] : undefined);
    if (!specs) {
      throw new BindError(`the template has ${this.state.inputs.length} inputs (${this.state.inputs.map((i) => i.name).join(', ')}); say which columns feed which`);
    }
    return specs.map((spec) => {
      const column = spec.column ?? 0;
      const size = spec.size ?? dataset.inputWidth - column;
      if (column < 0 || size <= 0 || column + size > dataset.inputWidth) {
        throw new BindError(`input "${spec.name}": columns ${column}..${column + size - 1} are outside the dataset's ${dataset.inputWidth} columns`);
      }
      const iface = findInput(this.state, spec.name);
      if (!iface) throw new BindError(`the template has no input named "${spec.name}"`);
      if (options.readOnly) {
        if (size !== iface.size) throw new BindError(`input "${spec.name}" takes ${iface.size} values, the data has ${size} columns`);
      } else {
        sizeInput(this.state, spec.name, size);
      }
      return { input: this.state.inputs.indexOf(iface), column, size };
    });
  }

  private bindOutputs(
    dataset: Dataset,
    options: BindOptions,
  ): { outputMap: OutputBinding[]; labels: Uint16Array | undefined; values: Float32Array | undefined; valueWidth: number } {
    const none = { outputMap: [], labels: undefined, values: undefined, valueWidth: 0 };
    const targets = dataset.targets;
    const allOutputs = this.state.outputs.flatMap((g) => g.interfaces);
    const name = options.output ?? (allOutputs.length === 1 ? allOutputs[0]!.name : undefined);
    if (!targets) return none;
    if (!name) throw new BindError(`the template has ${allOutputs.length} outputs (${allOutputs.map((o) => o.name).join(', ')}); say which one the targets teach`);
    const found = findOutput(this.state, name);
    if (!found) throw new BindError(`the template has no output named "${name}"`);
    const mode: OutputMode = targets.kind === 'class' ? 'class' : 'value';
    const size = targets.kind === 'class' ? targets.classes.length : targets.columns.length;
    if (options.readOnly) {
      if (found.output.size !== size || found.output.mode !== mode) {
        throw new BindError(`output "${name}" has ${found.output.size} ${found.output.mode === 'class' ? 'classes' : 'values'}, the data has ${size} ${mode === 'class' ? 'classes' : 'values'}`);
      }
    } else {
      try {
        sizeOutput(this.state, name, size, mode);
      } catch (e) {
        throw new BindError((e as Error).message);
      }
    }
    const group = this.state.outputs.indexOf(found.group);
    const iface = found.group.interfaces.indexOf(found.output);
    const outputMap: OutputBinding[] = [{ group, iface, source: targets.kind === 'class' ? 'class' : 'values', column: 0, size }];
    return targets.kind === 'class'
      ? { outputMap, labels: targets.labels, values: undefined, valueWidth: 0 }
      : { outputMap, labels: undefined, values: targets.values, valueWidth: targets.columns.length };
  }

  /** Whether samples must be processed in order (potentials carry over between cycles). */
  get spiking(): boolean {
    return this.state.spiking;
  }

  stats(): ClusterStats {
    const s = this.state;
    const c = s.counters;
    let neurons = 0;
    let hidden = 0;
    let blocks = 0;
    for (const h of s.hexagons) {
      blocks += h.blocks;
      neurons += h.blocks * NEURONS_PER_BLOCK;
      if (h.kind === 'hidden') hidden += h.blocks * NEURONS_PER_BLOCK;
    }
    let links = 0;
    let linkBytes = 0;
    for (const g of s.outputs) {
      links += g.rows * g.width;
      linkBytes += g.rows * (g.width + 3) * 4 + g.width * 8;
      neurons += g.width;
    }
    const synapses = c[COUNTER.synapseCount]!;
    const slots = c[COUNTER.slotsReserved]! - c[COUNTER.slotsFreed]!;
    const bytes =
      slots * BYTES_PER_SYNAPSE_SLOT +
      c[COUNTER.sectionsUsed]! * SECTION_STRIDE * 4 +
      blocks * NEURONS_PER_BLOCK * NEURON_STRIDE * 4 +
      linkBytes;
    const total = synapses + links;
    return {
      neurons,
      hiddenNeurons: hidden,
      blocks,
      sections: c[COUNTER.sectionsUsed]!,
      synapses: total,
      outputLinks: links,
      bytes,
      bytesPerSynapse: total > 0 ? bytes / total : 0,
      samplesTrained: c[COUNTER.samplesTrained]!,
      splits: c[COUNTER.splits]!,
      synapsesRemoved: c[COUNTER.synapsesRemoved]!,
    };
  }
}

function key(p: { x: number; y: number; z: number }): string {
  return `${p.x},${p.y},${p.z}`;
}
