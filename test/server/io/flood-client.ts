/**
 * A flooding Socket.IO client, run as its own process by the flood test (attack-flood.test.ts)
 * so that its encoding and sending do not share the measuring process's event loop.
 *
 * argv: url token projectId clusterId calls values binary|json [trainFirst]
 * Attaches, optionally trains once with a sample of `values` numbers (so the requests are
 * valid and do real work), sends `calls` requests of `values` numbers without waiting, and
 * prints one JSON line: the acknowledgement codes counted (`closed-<code>` for calls the
 * server's closing of the connection left unanswered) and the milliseconds it took.
 */
import { io } from 'socket.io-client';

interface Ack {
  ok: boolean;
  error?: { code: string };
}

/** The flood; `args` as described above. */
async function flood(args: string[]): Promise<void> {
  const [url, token, projectId, clusterId, callsText, valuesText, encoding, trainFirst] = args;
  const calls = Number(callsText);
  const values = Number(valuesText);
  const socket = io(`${url}/v1/io`, { auth: { token }, transports: ['websocket'], reconnection: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const attached = (await socket.emitWithAck('attach', { projectId, clusterId })) as Ack;
  if (!attached.ok) throw new Error(`attach: ${JSON.stringify(attached)}`);
  const input = Float32Array.from({ length: values }, (_, i) => (i * 13) % 255);
  if (trainFirst === 'train') {
    const trained = (await socket.emitWithAck('train', { input, label: 1, classes: 2 })) as Ack;
    if (!trained.ok) throw new Error(`train: ${JSON.stringify(trained)}`);
    // Direct training is saved 2 s after the last train call, on the service's main thread (a
    // 200k-input network takes a few hundred ms to encode): let that happen before the flood,
    // which is about requests.
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
  process.stdout.write('ready\n');
  // Wait for the go (a line on stdin), so the measuring side has its idle figure first.
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const payload = encoding === 'json' ? Array.from(input) : input;
  const started = Date.now();
  let closing: { code: string } | undefined;
  socket.on('closing', (why: { code: string }) => (closing = why));
  const outcomes = await Promise.allSettled(Array.from({ length: calls }, () => socket.timeout(300_000).emitWithAck('request', payload) as Promise<Ack>));
  const codes: Record<string, number> = {};
  for (const o of outcomes) {
    // Calls still unanswered when the server closed the connection.
    const code = o.status === 'rejected' ? `closed-${closing?.code ?? 'unknown'}` : o.value.ok ? 'ok' : (o.value.error?.code ?? 'unknown');
    codes[code] = (codes[code] ?? 0) + 1;
  }
  process.stdout.write(`${JSON.stringify({ codes, ms: Date.now() - started })}\n`);
  socket.close();
  process.stdin.destroy();
}

// `node --test dist/test/` also runs every file under test/ as a test file: without its
// arguments this one has nothing to do.
const args = process.argv.slice(2);
if (args.length >= 7) await flood(args);
