'use strict';
// The cluster app of the Node tests: 2 workers (APP_WORKERS) under the
// cluster helper, serving on APP_PORT: `/` answers the worker's pid,
// `/leak` keeps 1 MiB more, `/hang` blocks the event loop for 10 s. The
// primary prints one JSON line per pool event, and leaves on SIGTERM.

const cluster = require('node:cluster');
const http = require('node:http');
const workerlife = require('../../lib');

const c = workerlife.cluster({
  workers: Number(process.env.APP_WORKERS || 2),
  name: process.env.APP_NAME,
  dir: process.env.APP_DIR,
  tickMs: 50,
  log: (line) => console.log(JSON.stringify({ log: line })),
  onEvent: (e) => console.log(JSON.stringify({
    event: e.kind, pid: e.pid, slot: e.slot, reason: e.reason, crash: e.crash, rss: e.rss, status: e.status,
  })),
});

if (cluster.isPrimary) {
  console.log(JSON.stringify({ primary: process.pid, pool: c.path }));
  let listening = 0;
  cluster.on('listening', (w) => {
    console.log(JSON.stringify({ listening: w.process.pid }));
    if (++listening === Number(process.env.APP_WORKERS || 2)) console.log(JSON.stringify({ ready: true }));
  });
  process.on('SIGTERM', () => c.stop().then(() => process.exit(0)));
} else {
  const leaked = [];
  http.createServer(workerlife.http.handler((req, res) => {
    if (req.url === '/leak') leaked.push(Buffer.alloc(1 << 20, 1));
    if (req.url === '/hang') {
      const until = Date.now() + 10000;
      while (Date.now() < until); // holds the event loop: only the watchdog or the primary can end this
    }
    res.end(String(process.pid));
  })).listen(Number(process.env.APP_PORT));
}
