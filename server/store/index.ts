/**
 * Picks the Store for a configuration: MongoDB + GridFS when a connection string is set
 * (HANAMI_MONGO_URL), otherwise the embedded SQLite store + blob files in the data folder.
 * The returned store is not yet initialised: call `init()` before using it.
 */
import type { HanamiConfig } from '../config.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export async function openStore(config: Pick<HanamiConfig, 'dataDir' | 'mongoUrl' | 'mongoDatabase'>): Promise<Store> {
  if (config.mongoUrl) {
    // Loaded only when used: the driver adds ~10 MB to a process on the embedded store.
    const { MongoStore } = await import('./mongo.js');
    return new MongoStore({ url: config.mongoUrl, database: config.mongoDatabase });
  }
  return new SqliteStore({ dataDir: config.dataDir });
}

export * from './types.js';
