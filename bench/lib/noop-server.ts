// The transport floor: answers every infer request with a fixed small JSON body once the
// request body has arrived, and runs no model. Its latency at one client is the loopback HTTP
// round trip (client, kernel, node:http) that every server variant pays before doing anything.
// Usage: PORT=... node bench/lib/noop-server.ts
import { createServer } from 'node:http';

const ANSWER = JSON.stringify({ outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 1], data: [0] }] });
const server = createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () =>
    res
      .writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) })
      .end(ANSWER),
  );
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 8090), '127.0.0.1');
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
