'use strict';
// Hello world on a 2-worker cluster: plain, or (APP_WORKERLIFE=1) under the
// workerlife cluster helper with its HTTP handler and an empty policy.
const cluster = require('node:cluster');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const hello = (req, res) => res.end('hello');
const port = Number(process.env.APP_PORT);

if (process.env.APP_WORKERLIFE === '1') {
  const workerlife = require('../lib');
  const dir = cluster.isPrimary ? fs.mkdtempSync(path.join(os.tmpdir(), 'wl-bench-')) : undefined;
  const c = workerlife.cluster({ workers: 2, policy: '', dir, name: 'bench', log: () => {} });
  if (cluster.isPrimary) {
    let n = 0;
    cluster.on('listening', () => { if (++n === 2) console.log('ready'); });
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    void c;
  } else {
    http.createServer(workerlife.http.handler(hello)).listen(port);
  }
} else if (cluster.isPrimary) {
  let n = 0;
  cluster.on('listening', () => { if (++n === 2) console.log('ready'); });
  cluster.fork();
  cluster.fork();
} else {
  http.createServer(hello).listen(port);
}
