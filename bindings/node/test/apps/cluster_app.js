'use strict';
// The cluster app of the Node tests: 2 workers (APP_WORKERS) under the
// cluster helper, serving on APP_PORT: `/` answers the worker's pid,
// `/leak` keeps 1 MiB more, `/hang` blocks the event loop for 10 s, `/stuck`
// never answers (the event loop turns on), `/late` answers after 1.5 s and
// `/partial` sends its headers and a first chunk at once and ends after
// 1.5 s (each prints { wrote: pid } then). The
// primary prints one JSON line per log line (with its severity) and per
// pool event (a worker prints its own lines and events, request_cancelled),
// and leaves on SIGTERM. APP_FAIL_FORKS=n: the first n
// cluster.fork() calls fail as a pids limit makes them (EAGAIN).
// APP_METRICS: options.metrics (else WORKERLIFE_METRICS, read by the helper).

const cluster = require('node:cluster');
const http = require('node:http');
const workerlife = require('../../lib');

if (cluster.isPrimary && process.env.APP_FAIL_FORKS) {
  let failures = Number(process.env.APP_FAIL_FORKS);
  const fork = cluster.fork.bind(cluster);
  cluster.fork = (env) => {
    if (failures-- > 0) {
      throw Object.assign(new Error(`spawn ${process.execPath} EAGAIN`), { code: 'EAGAIN', errno: -11, syscall: `spawn ${process.execPath}` });
    }
    return fork(env);
  };
}

const c = workerlife.cluster({
  workers: Number(process.env.APP_WORKERS || 2),
  name: process.env.APP_NAME || undefined,
  dir: process.env.APP_DIR,
  tickMs: 50,
  metrics: process.env.APP_METRICS,
  log: (line, severity) => console.log(JSON.stringify({ log: line, severity })),
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
    if (req.url === '/stuck') {
      console.log(JSON.stringify({ stuck: process.pid }));
      return; // no answer, ever: only request_timeout ends it
    }
    if (req.url === '/late' || req.url === '/partial') {
      if (req.url === '/partial') {
        res.writeHead(200);
        res.write('partial');
      }
      setTimeout(() => {
        if (req.url === '/late') {
          res.setHeader('X-Late', '1');
          res.writeHead(200);
        }
        res.end(String(process.pid));
        console.log(JSON.stringify({ wrote: process.pid }));
      }, 1500);
      return;
    }
    if (req.url === '/leak') leaked.push(Buffer.alloc(1 << 20, 1));
    if (req.url === '/hang') {
      console.log(JSON.stringify({ hang: process.pid }));
      const until = Date.now() + 10000;
      while (Date.now() < until); // holds the event loop: only the watchdog or the primary can end this
    }
    res.end(String(process.pid));
  })).listen(Number(process.env.APP_PORT));
}
