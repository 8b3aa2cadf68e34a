'use strict';
// The Node host of tests/hosts, written as docs/node.md shows it: the
// cluster helper with its defaults (its log on stderr), 2 workers
// (APP_WORKERS), the policy from WORKERLIFE_POLICY, serving on APP_PORT:
// `/` answers the worker's pid, `/leak` keeps 1 MiB more, `/hang` never
// answers while the event loop turns on (a request stuck on a backend).
// The pool file goes in APP_DIR; SIGTERM stops it.
// With WL_HOSTS_CRASH=FILE every worker crashes at start (see below).

const cluster = require('node:cluster');
const http = require('node:http');
const path = require('node:path');
const workerlife = require(path.join(__dirname, '..', '..', '..', 'bindings', 'node', 'lib'));

const c = workerlife.cluster({ workers: Number(process.env.APP_WORKERS || 2), dir: process.env.APP_DIR });

if (cluster.isPrimary) {
  process.on('SIGTERM', () => c.stop().then(() => process.exit(0)));
} else {
  // The crash-loop scenario: with WL_HOSTS_CRASH=FILE, each worker writes
  // its pid there and exits with status 1 before serving.
  if (process.env.WL_HOSTS_CRASH) {
    require('node:fs').appendFileSync(process.env.WL_HOSTS_CRASH, `${process.pid}\n`);
    process.exit(1);
  }
  const leaked = [];
  http.createServer(workerlife.http.handler((req, res) => {
    if (req.url === '/leak') leaked.push(Buffer.alloc(1 << 20, 1));
    if (req.url === '/hang') return; // no answer, ever
    res.end(String(process.pid));
  })).listen(Number(process.env.APP_PORT), '127.0.0.1');
}
