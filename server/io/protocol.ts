/**
 * The direct-I/O protocol over Socket.IO (docs/socket-io.md): event names, payload parsing
 * and the error codes of acknowledgements. Everything a client sends is untrusted: it is
 * parsed into typed values here or refused with an IoError naming the problem.
 */
import type { SocketErrorCode } from '../errors.js';
import type { SampleInputs, SampleTarget } from '../network/direct.js';

export const IO_NAMESPACE = '/v1/io';

export const IoEvent = {
  attach: 'attach',
  detach: 'detach',
  request: 'request',
  train: 'train',
  reset: 'reset',
} as const;

/** Events the server sends unasked. */
export const IoServerEvent = {
  /** `{ code, message }` just before the server closes a connection: `unauthorized` when its
   *  token no longer stands (expired, revoked, user deleted), `rate-limited` when it kept
   *  sending far more bytes than its limits admit. */
  closing: 'closing',
} as const;

/** Error codes an acknowledgement can carry: the service's vocabulary (server/errors.ts),
 *  spelled with hyphens (documented in docs/socket-io.md). */
export type IoErrorCode = SocketErrorCode;

export class IoError extends Error {
  constructor(
    readonly code: IoErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'IoError';
  }
}

export interface IoFailure {
  ok: false;
  error: { code: IoErrorCode; message: string };
}

export function failure(code: IoErrorCode, message: string): IoFailure {
  return { ok: false, error: { code, message } };
}

/** A number array as the client sent it: binary (Buffer, ArrayBuffer, typed array) or a
 *  JSON array of numbers. Binary arrives in Node as a Buffer whose byteOffset is usually
 *  not a multiple of 4, so it is copied before being viewed as floats. */
export function toFloat32(value: unknown, what: string, maxBytes: number): Float32Array {
  if (value instanceof Float32Array) return checkSize(Float32Array.from(value), what, maxBytes);
  if (ArrayBuffer.isView(value)) {
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    return fromBytes(bytes, what, maxBytes);
  }
  if (value instanceof ArrayBuffer) return fromBytes(new Uint8Array(value), what, maxBytes);
  if (Array.isArray(value)) {
    if (value.length * 4 > maxBytes) throw new IoError('payload-too-large', `${what} has ${value.length} values; at most ${Math.floor(maxBytes / 4)} are accepted`);
    const out = new Float32Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v !== 'number') throw new IoError('bad-payload', `${what}[${i}] is ${v === null ? 'null' : typeof v}; expected a number`);
      out[i] = v;
    }
    return out;
  }
  throw new IoError('bad-payload', `${what} must be binary float32 data (little-endian) or an array of numbers`);
}

/**
 * The bytes of values a call carries, read without parsing them: binary arrays by their
 * length, JSON number arrays at 4 bytes a number (what they become), through at most two
 * levels of objects (`{ inputs: { name: values } }`, `{ targets: { name: { values } } }`).
 * The work-aware rate limit charges this before anything is copied or checked.
 */
export function payloadBytes(payload: unknown, depth = 0): number {
  if (ArrayBuffer.isView(payload) || payload instanceof ArrayBuffer) return payload.byteLength;
  if (Array.isArray(payload)) return payload.length * 4;
  if (depth > 2 || typeof payload !== 'object' || payload === null) return 0;
  let total = 0;
  let keys = 0;
  for (const key in payload) {
    // A payload with more fields than any valid one is refused by parsing anyway.
    if (++keys > 64) break;
    total += payloadBytes((payload as Record<string, unknown>)[key], depth + 1);
  }
  return total;
}

function fromBytes(bytes: Uint8Array, what: string, maxBytes: number): Float32Array {
  if (bytes.byteLength > maxBytes) throw new IoError('payload-too-large', `${what} has ${bytes.byteLength} bytes; at most ${maxBytes} are accepted`);
  if (bytes.byteLength % 4 !== 0) throw new IoError('bad-payload', `${what} has ${bytes.byteLength} bytes, not a whole number of float32 values (4 bytes each)`);
  // Copy into a fresh, aligned buffer (little-endian float32, as every client platform is).
  return new Float32Array(bytes.slice().buffer);
}

function checkSize(values: Float32Array, what: string, maxBytes: number): Float32Array {
  if (values.byteLength > maxBytes) throw new IoError('payload-too-large', `${what} has ${values.byteLength} bytes; at most ${maxBytes} are accepted`);
  return values;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer);
}

function rejectUnknownKeys(v: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(v)) {
    if (!allowed.includes(key)) throw new IoError('bad-payload', `${what}: unknown field "${key}" (expected ${allowed.join(', ')})`);
  }
}

export interface AttachPayload {
  projectId: string;
  clusterId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parseAttach(payload: unknown): AttachPayload {
  if (!isRecord(payload)) throw new IoError('bad-payload', 'attach takes { projectId, clusterId }');
  rejectUnknownKeys(payload, ['projectId', 'clusterId'], 'attach');
  const { projectId, clusterId } = payload;
  if (typeof projectId !== 'string' || !UUID.test(projectId)) throw new IoError('bad-payload', 'attach: projectId must be a UUID');
  if (typeof clusterId !== 'string' || !UUID.test(clusterId)) throw new IoError('bad-payload', 'attach: clusterId must be a UUID');
  return { projectId, clusterId };
}

/** `request` takes the input values alone (a network with one input) or { inputs: { name: values } }. */
export function parseRequest(payload: unknown, maxBytes: number): SampleInputs {
  if (isRecord(payload)) {
    rejectUnknownKeys(payload, ['inputs'], 'request');
    return parseNamedInputs(payload.inputs, maxBytes);
  }
  return toFloat32(payload, 'request input', maxBytes);
}

function parseNamedInputs(inputs: unknown, maxBytes: number): Record<string, Float32Array> {
  if (!isRecord(inputs)) throw new IoError('bad-payload', 'inputs must be an object of { inputName: values }');
  const out: Record<string, Float32Array> = {};
  let total = 0;
  for (const [name, values] of Object.entries(inputs)) {
    out[name] = toFloat32(values, `input "${name}"`, maxBytes - total);
    total += out[name].byteLength;
  }
  if (Object.keys(out).length === 0) throw new IoError('bad-payload', 'inputs is empty');
  return out;
}

export interface TrainPayload {
  inputs: SampleInputs;
  target: SampleTarget | Record<string, SampleTarget>;
}

/**
 * `train` takes { input | inputs, and one of: label (+ classes for a new class output),
 * values, targets: { outputName: { label, classes? } | { values } } }.
 */
export function parseTrain(payload: unknown, maxBytes: number): TrainPayload {
  if (!isRecord(payload)) throw new IoError('bad-payload', 'train takes { input, label | values } or { inputs, targets }');
  rejectUnknownKeys(payload, ['input', 'inputs', 'label', 'classes', 'values', 'targets'], 'train');
  if ((payload.input === undefined) === (payload.inputs === undefined)) throw new IoError('bad-payload', 'train: give either input (one input) or inputs (by name)');
  const inputs = payload.input !== undefined ? toFloat32(payload.input, 'train input', maxBytes) : parseNamedInputs(payload.inputs, maxBytes);
  const given = ['label', 'values', 'targets'].filter((k) => payload[k] !== undefined);
  if (given.length !== 1) throw new IoError('bad-payload', 'train: give exactly one of label, values or targets');
  let target: TrainPayload['target'];
  if (payload.targets !== undefined) {
    if (payload.classes !== undefined) throw new IoError('bad-payload', 'train: classes belongs inside targets when targets are named');
    if (!isRecord(payload.targets)) throw new IoError('bad-payload', 'targets must be an object of { outputName: { label, classes? } | { values } }');
    const named: Record<string, SampleTarget> = {};
    for (const [name, t] of Object.entries(payload.targets)) named[name] = parseTarget(t, `target "${name}"`, maxBytes);
    target = named;
  } else {
    target = parseTarget({ label: payload.label, classes: payload.classes, values: payload.values }, 'train', maxBytes);
  }
  return { inputs, target };
}

function parseTarget(t: unknown, what: string, maxBytes: number): SampleTarget {
  if (!isRecord(t)) throw new IoError('bad-payload', `${what} must be { label, classes? } or { values }`);
  if (t.values !== undefined && t.values !== null) {
    if (t.label !== undefined || t.classes !== undefined) throw new IoError('bad-payload', `${what}: give label or values, not both`);
    return { values: toFloat32(t.values, `${what} values`, maxBytes) };
  }
  if (typeof t.label !== 'number' || !Number.isInteger(t.label)) throw new IoError('bad-label', `${what}: label must be an integer`);
  if (t.classes !== undefined && (typeof t.classes !== 'number' || !Number.isInteger(t.classes))) throw new IoError('bad-payload', `${what}: classes must be an integer`);
  return t.classes === undefined ? { label: t.label } : { label: t.label, classes: t.classes };
}
