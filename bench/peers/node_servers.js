#!/usr/bin/env node
// Peer servers for the echo and http workloads: Node.js.
//
// Usage: node node_servers.js echo|http PORT
//   echo: net.createServer, every chunk written back as it arrives
//   http: the http module, a handler answering "hello, world" (text/plain)
// Listens on 127.0.0.1:PORT (0: any free port), prints "listening on port N",
// serves until SIGTERM / SIGINT.
'use strict';
const net = require('net');
const http = require('http');

const [kind, portArg] = process.argv.slice(2);
if ((kind !== 'echo' && kind !== 'http') || portArg === undefined) {
  console.error('usage: node node_servers.js echo|http PORT');
  process.exit(2);
}

let server;
if (kind === 'echo') {
  server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
    s.on('error', () => s.destroy());
  });
} else {
  const hello = Buffer.from('hello, world');
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 12 });
    res.end(hello);
  });
  server.keepAliveTimeout = 60000;
}
server.listen({ host: '127.0.0.1', port: Number(portArg), backlog: 4096 }, () => {
  console.log(`node_servers: listening on port ${server.address().port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
