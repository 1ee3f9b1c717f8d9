/**
 * The interfaces of a saved cluster state, read from the head of its checkpoint blob: a
 * network's buffers can be hundreds of megabytes, its header (names, sizes, the template) a
 * few kilobytes, and a check before a task is queued needs only the sizes.
 */
import type { Readable } from 'node:stream';
import { CHECKPOINT_PREFIX_BYTES, checkpointHeadBytes, readCheckpointInterfaces, type CheckpointInterfaces } from '../network/checkpoint.js';
import type { Store } from '../store/types.js';

/** Reads chunks of `stream` until `enough(bytes so far)` says so or it ends. */
async function readUntil(stream: Readable, enough: (bytes: Buffer) => boolean): Promise<Buffer> {
  let bytes = Buffer.alloc(0);
  for await (const chunk of stream) {
    bytes = Buffer.concat([bytes, chunk as Buffer]);
    if (enough(bytes)) break;
  }
  return bytes;
}

export async function readSavedInterfaces(store: Store, blobId: string): Promise<CheckpointInterfaces> {
  const stream = await store.blobs.open(blobId);
  try {
    let needed = CHECKPOINT_PREFIX_BYTES;
    const head = await readUntil(stream, (bytes) => {
      if (bytes.byteLength >= CHECKPOINT_PREFIX_BYTES) needed = checkpointHeadBytes(bytes);
      return bytes.byteLength >= needed;
    });
    return readCheckpointInterfaces(head);
  } finally {
    // The buffers that follow are not needed.
    stream.destroy();
  }
}
