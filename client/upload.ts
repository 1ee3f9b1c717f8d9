/**
 * Streamed uploads with progress. `fetch` cannot say how much of a request body has gone out,
 * so a part is sent with node:http / node:https: the file is read as a stream (never held in
 * memory), counted as it is handed to the socket, and `onProgress` hears the bytes sent.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HanamiError } from './errors.js';
import { parseBody } from './session.js';

export interface UploadSource {
  /** The file to send (read as a stream), or bytes already in memory. */
  file?: string;
  bytes?: Uint8Array;
}

export interface UploadOptions {
  contentType: string;
  token: string;
  onProgress?: ((sent: number, total: number) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** Counts what passes through on its way to the socket. */
class Counter extends Transform {
  sent = 0;
  constructor(
    private readonly total: number,
    private readonly onProgress: ((sent: number, total: number) => void) | undefined,
  ) {
    super({ highWaterMark: 64 * 1024 });
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.sent += chunk.length;
    this.onProgress?.(this.sent, this.total);
    done(null, chunk);
  }
}

export async function sizeOf(source: UploadSource): Promise<number> {
  if (source.bytes) return source.bytes.byteLength;
  if (source.file === undefined) throw new TypeError('an upload needs a file or bytes');
  return (await stat(source.file)).size;
}

function open(source: UploadSource): Readable {
  if (source.bytes) {
    const bytes = source.bytes;
    // In 64 KiB slices, so progress moves (and an abort lands) part-way.
    return Readable.from(
      (function* () {
        for (let at = 0; at < bytes.byteLength; at += 64 * 1024) yield Buffer.from(bytes.buffer, bytes.byteOffset + at, Math.min(64 * 1024, bytes.byteLength - at));
      })(),
    );
  }
  return createReadStream(source.file!, { highWaterMark: 64 * 1024 });
}

function readAnswer(res: IncomingMessage): Promise<{ status: number; statusText: string; body: unknown }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.once('error', reject);
    res.once('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', body: parseBody(Buffer.concat(chunks).toString('utf8')) }));
  });
}

/** PUTs `source` as the raw body to `url`; resolves with the parsed answer (or throws HanamiError). */
export async function putStream(url: string, source: UploadSource, options: UploadOptions): Promise<unknown> {
  const total = await sizeOf(source);
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const req = send(target, {
    method: 'PUT',
    headers: { authorization: `Bearer ${options.token}`, 'content-type': options.contentType, 'content-length': String(total), accept: 'application/json' },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const answer = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  const counter = new Counter(total, options.onProgress);
  // The service may answer (and close) before the body is all sent, e.g. 413 or 422 on the
  // first bytes: then the answer counts, not the broken pipe.
  const sending = pipeline(open(source), counter, req).then(
    () => undefined,
    (error: unknown) => error,
  );
  let res: IncomingMessage;
  try {
    res = await answer;
  } catch (error) {
    throw HanamiError.network(options.signal?.aborted ? Object.assign(new Error('aborted'), { name: 'AbortError' }) : error, url);
  }
  const { status, statusText, body } = await readAnswer(res);
  await sending;
  if (status >= 400) throw HanamiError.fromResponse(status, body, statusText);
  return body;
}
