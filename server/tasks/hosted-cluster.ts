/**
 * A cluster as the service holds it in memory: the engine's Cluster plus what the service
 * knows about its outputs' meaning (class names, value column names), which the engine does
 * not keep. Both travel together in the checkpoint bytes (the class names as a checkpoint
 * label), so a restored cluster answers with the same class names.
 */
import { outputWidth } from '../../kernels/contract.js';
import { Cluster } from '../network/cluster.js';
import { interfaceColumn } from '../network/evaluate.js';
import type { Targets } from '../datasets/types.js';
import type { OutputLayout } from '../store/types.js';

/** Per output interface: the names of its values, in order. */
export type OutputLabels = Record<string, string[]>;

const OUTPUT_LABELS_KEY = 'outputLabels';

export class HostedCluster {
  constructor(
    readonly cluster: Cluster,
    readonly outputLabels: OutputLabels = {},
  ) {}

  static fresh(templateText: string, seed: number): HostedCluster {
    return new HostedCluster(Cluster.create(templateText, seed));
  }

  static fromCheckpoint(bytes: Uint8Array): HostedCluster {
    const { cluster, meta } = Cluster.fromCheckpoint(bytes);
    return new HostedCluster(cluster, parseOutputLabels(meta.labels?.[OUTPUT_LABELS_KEY]));
  }

  checkpoint(name: string): Buffer {
    return this.cluster.checkpoint({ name, [OUTPUT_LABELS_KEY]: JSON.stringify(this.outputLabels) });
  }

  /** Remembers what a training dataset's targets call the output's values. */
  learnLabels(output: string, targets: Targets): void {
    this.outputLabels[output] = targets.kind === 'class' ? [...targets.classes] : [...targets.columns];
  }

  get width(): number {
    return outputWidth(this.cluster.state);
  }

  /** Every output interface of the network, in row order. */
  outputLayout(): OutputLayout[] {
    const state = this.cluster.state;
    return state.outputs.flatMap((group, g) =>
      group.interfaces.map((iface) => {
        const known = this.outputLabels[iface.name];
        const labels = known && known.length === iface.size ? known : Array.from({ length: iface.size }, (_, k) => String(k));
        return { name: iface.name, mode: iface.mode, column: interfaceColumn(state, g, iface), size: iface.size, labels };
      }),
    );
  }
}

function parseOutputLabels(text: string | undefined): OutputLabels {
  if (text === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
    const out: OutputLabels = {};
    for (const [name, labels] of Object.entries(parsed)) {
      if (Array.isArray(labels) && labels.every((l) => typeof l === 'string')) out[name] = labels;
    }
    return out;
  } catch {
    // Labels are a convenience: a checkpoint from elsewhere (the CLI) has none, and a
    // mangled label must not make the network itself unusable.
    return {};
  }
}
