/**
 * Rows of a dataset packed for the GPU: each sample's input row (bytes packed four to a word
 * for Uint8 datasets, so mnist uploads 784 bytes a sample; f32 otherwise), followed by each
 * sample's output targets as one float per output value (one-hot for class interfaces).
 */
import type { BoundData } from '../contract.js';
import type { NetworkState } from '../state.js';
import type { NetworkLayout } from './plan.js';

export interface PackedSamples {
  words: Uint32Array;
  rowWords: number;
  inputBytes: boolean;
  /** Word offset of the targets (0 when none were packed). */
  targetsOffset: number;
}

/** Words a packed batch of `count` rows takes. */
export function packedWords(data: BoundData, layout: NetworkLayout, count: number, withTargets: boolean): number {
  const rowWords = data.inputs instanceof Uint8Array ? Math.ceil(data.inputWidth / 4) : data.inputWidth;
  return Math.max(1, count * rowWords + (withTargets ? count * layout.totalWidth : 0));
}

/** Packs the rows `rows` (dataset row indices, in sample order). */
export function packSamples(state: NetworkState, layout: NetworkLayout, data: BoundData, rows: ArrayLike<number>, withTargets: boolean): PackedSamples {
  const bytes = data.inputs instanceof Uint8Array;
  const width = data.inputWidth;
  const rowWords = bytes ? Math.ceil(width / 4) : width;
  const count = rows.length;
  const words = new Uint32Array(packedWords(data, layout, count, withTargets));
  if (bytes) {
    const asBytes = new Uint8Array(words.buffer);
    const src = data.inputs as Uint8Array;
    for (let j = 0; j < count; j++) asBytes.set(src.subarray(rows[j]! * width, rows[j]! * width + width), j * rowWords * 4);
  } else {
    const asFloats = new Float32Array(words.buffer);
    const src = data.inputs as Float32Array;
    for (let j = 0; j < count; j++) asFloats.set(src.subarray(rows[j]! * width, rows[j]! * width + width), j * rowWords);
  }
  const targetsOffset = withTargets ? count * rowWords : 0;
  if (withTargets) writeTargets(state, layout, data, rows, new Float32Array(words.buffer, targetsOffset * 4, count * layout.totalWidth));
  return { words, rowWords, inputBytes: bytes, targetsOffset };
}

/** Targets as cpu-fallback/engine.ts targetsOf gives them: a class interface learns its
 *  bound label (class 0 when nothing is bound), a value interface its bound columns (0 when
 *  none are bound). */
function writeTargets(state: NetworkState, layout: NetworkLayout, data: BoundData, rows: ArrayLike<number>, out: Float32Array): void {
  const width = layout.totalWidth;
  state.outputs.forEach((g, gi) => {
    g.interfaces.forEach((iface, i) => {
      const binding = data.outputMap.find((b) => b.group === gi && b.iface === i);
      const base = layout.groupOut[gi]! + iface.offset;
      for (let j = 0; j < rows.length; j++) {
        const row = rows[j]!;
        const o = j * width + base;
        if (iface.mode === 'class') {
          const label = binding && data.labels ? data.labels[row]! : 0;
          if (label < iface.size) out[o + label] = 1;
        } else if (binding && data.values) {
          const from = row * data.valueWidth + binding.column;
          for (let k = 0; k < iface.size; k++) out[o + k] = data.values[from + k]!;
        }
      }
    });
  });
}
