/**
 * The batch uniform (records.ts BATCH_PARAMS) written from named values, so a field is always
 * written at the offset the shaders read it from.
 */
import { BATCH_PARAMS } from './records.js';

type FieldName = (typeof BATCH_PARAMS.fields)[number]['name'];
export type BatchParamValues = Partial<Record<FieldName, number>>;

/** The words of the uniform: every field not given is 0. */
export function batchParamWords(values: BatchParamValues): Uint32Array {
  for (const name of Object.keys(values)) {
    if (!BATCH_PARAMS.fields.some((f) => f.name === name)) throw new Error(`BatchParams has no field ${name}`);
  }
  const words = new Uint32Array(BATCH_PARAMS.stride);
  const floats = new Float32Array(words.buffer);
  for (const field of BATCH_PARAMS.fields) {
    const v = values[field.name];
    if (v === undefined) continue;
    if (field.type === 'f32') floats[field.offset] = v;
    else words[field.offset] = v >>> 0;
  }
  return words;
}
