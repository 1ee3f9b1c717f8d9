/**
 * Deleting the blobs of a deleted record. The record is gone already, so a failure here must
 * not fail the request; it leaves an orphaned blob, which is logged (a blob that is already
 * gone is fine).
 */
import { NotFoundError } from '../store/types.js';
import type { Services } from './services.js';

export async function dropBlob(services: Services, blobId: string): Promise<void> {
  try {
    await services.store.blobs.delete(blobId);
  } catch (error) {
    if (!(error instanceof NotFoundError)) services.logger.warn({ err: error, blobId }, 'could not delete a blob; it stays as an orphan');
  }
}
