/**
 * A cluster: one network created from a template. Holds the template, the network's buffers
 * (kernels/state.ts) and binds datasets to the network's inputs and outputs (./binding.ts).
 * It is what the backends know as a ClusterHandle (kernels/contract.ts): a key and a state.
 */
import { randomUUID } from 'node:crypto';
import { COUNTER, NEURONS_PER_BLOCK, NEURON_STRIDE, SECTION_STRIDE, BYTES_PER_SYNAPSE_SLOT } from '../../kernels/layout.js';
import type { BoundData, ClusterHandle } from '../../kernels/contract.js';
import { type NetworkShape, type NetworkState, createNetworkState } from '../../kernels/state.js';
import type { Dataset } from '../datasets/types.js';
import { type BindOptions, bindDataset } from './binding.js';
import { type CheckpointMeta, decodeCheckpoint, encodeCheckpoint } from './checkpoint.js';
import type { ClusterTemplate } from './template-types.js';
import { parseTemplate, templateToText } from './template.js';
import { buildTopology } from './topology.js';

// Callers bind datasets through Cluster.bind and catch its BindError here.
export { BindError, type BindOptions } from './binding.js';

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

export class Cluster implements ClusterHandle {
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
   * one value per column, learned in the targets' own units). Sizes only grow. The rules are
   * ./binding.ts's, shared with direct I/O.
   */
  bind(dataset: Dataset, options: BindOptions = {}): BoundData {
    return bindDataset(this.state, dataset, options);
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
    const bytes = slots * BYTES_PER_SYNAPSE_SLOT + c[COUNTER.sectionsUsed]! * SECTION_STRIDE * 4 + blocks * NEURONS_PER_BLOCK * NEURON_STRIDE * 4 + linkBytes;
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
