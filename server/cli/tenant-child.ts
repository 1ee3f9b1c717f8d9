/**
 * One tenant of the `tenants` bench as a process of its own: loads the dataset, builds its
 * cluster, says `ready`, waits for `go` on stdin (so every process starts training at the
 * same moment, data already loaded), trains on its own CPU backend, and prints one JSON line
 * with its samples and its start and end (epoch milliseconds).
 * Arguments: dataset, seed, rows (0: all), epochs, threads.
 */
import { createInterface } from 'node:readline';
import { Cluster, DEFAULT_TEMPLATE } from '../network/cluster.js';
import { createBackend } from '../network/select-backend.js';
import { loadDatasetArg } from './datasets.js';

const [dataset = 'mnist8k', seed = '1', rows = '0', epochs = '1', threads = '1'] = process.argv.slice(2);
const data = await loadDatasetArg(dataset, 'train', {});
const cluster = Cluster.create(DEFAULT_TEMPLATE, Number(seed));
const bound = cluster.bind(data);
const to = Number(rows) > 0 ? Math.min(Number(rows), bound.rows) : bound.rows;
const backend = await createBackend('cpu', Number(threads), { strict: true, log: () => {} });
const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
for await (const line of lines) if (line.trim() === 'go') break;
const startedAt = performance.timeOrigin + performance.now();
await backend.train(cluster, bound, { to, epochs: Number(epochs) });
const endedAt = performance.timeOrigin + performance.now();
process.stdout.write(`${JSON.stringify({ samples: to * Number(epochs), startedAt, endedAt })}\n`);
lines.close();
await backend.close();
