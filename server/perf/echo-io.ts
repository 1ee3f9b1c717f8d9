/**
 * A plain Socket.IO echo server for the direct-I/O benchmark: the same namespace, transport
 * settings and payload path as the service, but the acknowledgement just sends the input
 * back. The difference to the service is what Hanami adds per call (auth is done once at
 * connect in both). Prints "listening on <url>".
 */
import { ignoreFailure } from '../../kernels/background.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http, { serveClient: false, maxHttpBufferSize: 4 * 1024 * 1024 + 64 * 1024, perMessageDeflate: false });
io.of('/v1/io').on('connection', (socket) => {
  socket.on('request', (payload: unknown, ack?: (reply: unknown) => void) => {
    if (typeof ack === 'function') ack({ ok: true, outputs: payload });
  });
});
http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo;
  process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => {
  ignoreFailure(io.close(), 'the process exits at once anyway');
  process.exit(0);
});
