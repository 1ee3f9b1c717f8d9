/** A team partner for team.test.ts that is stalled on purpose: it waits on a gate the test
 *  opens (after the leader's slice when the test wants a late partner), then runs the real
 *  partner loop and posts its report. */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { runPartner } from '../../cpu-fallback/team.js';

// `node --test dist/test/` also runs every file under test/ as a test file: outside a worker
// this one has nothing to do.
if (parentPort) {
  const { gate, sync, port } = workerData as { gate: Int32Array; sync: Int32Array; port: MessagePort };
  while (Atomics.load(gate, 0) === 0) Atomics.wait(gate, 0, 0, 1000);
  parentPort.postMessage(runPartner(sync, port));
}
