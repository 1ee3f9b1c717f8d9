/**
 * A small client for Hanami's direct network I/O (docs/socket-io.md), for Node and browsers:
 * plain socket.io-client underneath, so anything here can also be done with any Socket.IO
 * client (see the Python example in the docs).
 *
 *   const io = await HanamiIo.connect('http://127.0.0.1:8080', token);
 *   const cluster = await io.attach(projectId, clusterId);
 *   const { argmax, byOutput } = await io.request(pixels);         // Float32Array in
 *   byOutput.output.label;                                         // "7": the class's name
 *   await io.train(pixels, { label: 5, classes: 10 });
 *   io.close();
 */
import { io as connectSocket, type Socket } from 'socket.io-client';

export const IO_NAMESPACE_PATH = '/v1/io';

export interface AttachedCluster {
  id: string;
  name: string;
  spiking: boolean;
  inputs: { name: string; size: number }[];
  /** Where each output's values sit in `outputs` of an answer. */
  outputs: { name: string; offset: number; size: number; mode: 'class' | 'value'; labels: string[] }[];
}

/** One output's part of an answer, decoded. */
export interface OutputValues {
  mode: 'class' | 'value';
  /** This output's values (a view into `IoAnswer.outputs`). */
  values: Float32Array;
  /** Class outputs: the index of the largest value, and the name of that class (the dataset's
   *  label, e.g. "7"; the index as text for classes learned without names). */
  index?: number;
  label?: string;
}

export interface IoAnswer {
  /** Every output value of every output, in order (see AttachedCluster.outputs). */
  outputs: Float32Array;
  /** The same values split by output name and decoded (after `attach`). */
  byOutput: Record<string, OutputValues>;
  /** Index of the largest value of the first class output (null when there is none). */
  argmax: number | null;
  /** With several class outputs: the argmax of each, by output name. */
  argmaxes?: Record<string, number>;
}

export type Values = Float32Array | number[];
export type Target = { label: number; classes?: number } | { values: Values };

/** An error acknowledgement (`code` as in docs/socket-io.md). */
export class HanamiIoError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HanamiIoError';
  }
}

interface Reply {
  ok: boolean;
  error?: { code: string; message: string };
  [key: string]: unknown;
}

/** Binary from the server arrives as a Buffer (Node) or ArrayBuffer (browser). */
function asFloat32(data: unknown): Float32Array {
  if (data instanceof ArrayBuffer) return new Float32Array(data.slice(0));
  if (ArrayBuffer.isView(data)) {
    const copy = new Uint8Array(data.byteLength);
    copy.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return new Float32Array(copy.buffer);
  }
  throw new HanamiIoError('bad-reply', 'the server sent outputs that are not binary');
}

function payloadOf(values: Values): Float32Array | number[] {
  return values;
}

/** Splits the flat outputs by output, with the winning class of each class output. */
function decode(outputs: Float32Array, layout: AttachedCluster['outputs']): Record<string, OutputValues> {
  const byOutput: Record<string, OutputValues> = {};
  for (const o of layout) {
    const values = outputs.subarray(o.offset, o.offset + o.size);
    if (o.mode !== 'class' || values.length === 0) {
      byOutput[o.name] = { mode: o.mode, values };
      continue;
    }
    let index = 0;
    for (let i = 1; i < values.length; i++) if (values[i]! > values[index]!) index = i;
    byOutput[o.name] = { mode: 'class', values, index, label: o.labels[index] ?? String(index) };
  }
  return byOutput;
}

export class HanamiIo {
  /** The attached cluster's outputs (where each one's values sit in an answer). */
  private layout: AttachedCluster['outputs'] = [];

  private constructor(readonly socket: Socket) {}

  /** Connects and authenticates (rejects with the server's reason: bad token, limits). */
  static connect(url: string, token: string, options: { timeoutMs?: number } = {}): Promise<HanamiIo> {
    const socket = connectSocket(`${url.replace(/\/$/, '')}${IO_NAMESPACE_PATH}`, {
      auth: { token },
      transports: ['websocket'],
      reconnection: false,
      timeout: options.timeoutMs ?? 10_000,
    });
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(new HanamiIo(socket)));
      socket.once('connect_error', (error: Error & { data?: { code?: string } }) => {
        socket.close();
        reject(new HanamiIoError(error.data?.code ?? 'connect-failed', error.message));
      });
    });
  }

  private async ask(event: string, ...args: unknown[]): Promise<Reply> {
    const reply = (await this.socket.emitWithAck(event, ...args)) as Reply;
    if (!reply || typeof reply !== 'object') throw new HanamiIoError('bad-reply', 'the server sent no acknowledgement object');
    if (!reply.ok) throw new HanamiIoError(reply.error?.code ?? 'unknown', reply.error?.message ?? 'the call failed');
    return reply;
  }

  async attach(projectId: string, clusterId: string): Promise<AttachedCluster & { canTrain: boolean }> {
    const reply = await this.ask('attach', { projectId, clusterId });
    const cluster = reply.cluster as AttachedCluster;
    this.layout = cluster.outputs;
    return { ...cluster, canTrain: reply.canTrain === true };
  }

  async detach(): Promise<void> {
    await this.ask('detach');
    this.layout = [];
  }

  /** One input in (one array for a single-input network, or by input name), outputs back. */
  async request(input: Values | Record<string, Values>): Promise<IoAnswer> {
    const payload = Array.isArray(input) || input instanceof Float32Array ? payloadOf(input) : { inputs: input };
    return this.answer(await this.ask('request', payload));
  }

  /** Learns one sample; returns the outputs the network gave before learning it. */
  async train(input: Values | Record<string, Values>, target: Target | Record<string, Target>): Promise<IoAnswer> {
    const inputs = Array.isArray(input) || input instanceof Float32Array ? { input } : { inputs: input };
    const isNamed = !('label' in target) && !('values' in target);
    const payload = isNamed ? { ...inputs, targets: target } : { ...inputs, ...(target as Target) };
    return this.answer(await this.ask('train', payload));
  }

  /** Clears what a spiking network carries between calls. */
  async reset(): Promise<void> {
    await this.ask('reset');
  }

  private answer(reply: Reply): IoAnswer {
    const outputs = asFloat32(reply.outputs);
    if (Array.isArray(reply.layout)) this.relayout(reply.layout as { name: string; offset: number; size: number; mode: 'class' | 'value' }[]);
    const answer: IoAnswer = { outputs, byOutput: decode(outputs, this.layout), argmax: typeof reply.argmax === 'number' ? reply.argmax : null };
    if (reply.argmaxes && typeof reply.argmaxes === 'object') answer.argmaxes = reply.argmaxes as Record<string, number>;
    return answer;
  }

  /** A train answer's layout (outputs sized by training); known class names are kept. */
  private relayout(layout: { name: string; offset: number; size: number; mode: 'class' | 'value' }[]): void {
    this.layout = layout.map((o) => {
      const known = this.layout.find((k) => k.name === o.name)?.labels;
      return { ...o, labels: known && known.length === o.size ? known : Array.from({ length: o.size }, (_, k) => String(k)) };
    });
  }

  close(): void {
    this.socket.close();
  }
}
