'use strict';
// Node benchmarks (`make node-bench`), each against a baseline measured in
// the same run:
//  1. begin()+end() through koffi against two bare method calls of a JS
//     object (what a request costs a Node host; goal: <= 3x), and
//     beginTicket()+endTicket(ticket) (what the HTTP handler calls);
//  2. hello-world requests/s of a 2-worker cluster, plain against the
//     workerlife cluster helper with its HTTP handler (goal: <= 3 % lost),
//     with wrk, alternating, median of 3.
//
// BENCH_QUICK=1 (what CI runs): one round of each measurement and wrk runs
// of 2 s, each ratio still against its baseline measured in the same run;
// the full rounds are what docs/benchmarks.md quotes. BENCH_ROUNDS sets the
// rounds of the server runs either way.

const { spawn, execFileSync } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const wl = require('../lib');

const QUICK = process.env.BENCH_QUICK === '1';
const REPEATS = QUICK ? 1 : 5;
const SERVER_ROUNDS = process.env.BENCH_ROUNDS ? Number(process.env.BENCH_ROUNDS) : (QUICK ? 1 : 3);
const SECONDS = QUICK ? 2 : 3;

function perOp(n, f) {
  for (let i = 0; i < n / 10; i++) f(); // warm up: JIT and caches
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f();
  return Number(process.hrtime.bigint() - t0) / n;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function hotPath() {
  const pool = new wl.Pool('max_requests=1000000000', { slots: 1 });
  pool.spawned(0, process.pid);
  const w = pool.worker(0);
  // The baseline: two calls the JIT cannot drop (they change state).
  class Counter { constructor() { this.n = 0; } begin() { this.n++; return this.n > 1e15; } end() { this.n--; return this.n < -1; } }
  const bare = new Counter();
  const N = 2_000_000;
  const rounds = [];
  for (let r = 0; r < REPEATS; r++) {
    const base = perOp(N, () => { bare.begin(); bare.end(); });
    const ours = perOp(N, () => { w.begin(); w.end(); });
    const ticketed = perOp(N, () => { w.endTicket(w.beginTicket()); });
    rounds.push([base, ours, ticketed]);
  }
  const base = median(rounds.map((r) => r[0]));
  const ours = median(rounds.map((r) => r[1]));
  const ticketed = median(rounds.map((r) => r[2]));
  console.log(`Node begin()+end() through koffi (median of ${REPEATS} rounds of 2M)`);
  console.log(`  two bare JS method calls   ${base.toFixed(1).padStart(8)} ns`);
  console.log(`  worker.begin()+end()       ${ours.toFixed(1).padStart(8)} ns   ${(ours / base).toFixed(1)}x`);
  console.log(`  beginTicket()+endTicket()  ${ticketed.toFixed(1).padStart(8)} ns   ${(ticketed / base).toFixed(1)}x`);
  console.log('  goal: <= 3x');
  w.close();
  pool.close();
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function serve(withWorkerlife) {
  const port = await freePort();
  const app = path.join(__dirname, 'hello_cluster.js');
  const proc = spawn(process.execPath, [app], {
    env: { ...process.env, APP_PORT: String(port), APP_WORKERLIFE: withWorkerlife ? '1' : '0' },
    detached: true, stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => { out += d; if (out.includes('ready')) resolve(); });
    proc.on('exit', () => reject(new Error('the hello app exited')));
  });
  return { port, stop: () => { try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* gone */ } } };
}

function wrk(port) {
  const out = execFileSync('wrk', ['-t2', '-c32', `-d${SECONDS}s`, `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  const m = out.match(/Requests\/sec:\s+([\d.]+)/);
  if (!m) throw new Error(`wrk said: ${out}`);
  return Number(m[1]);
}

async function http() {
  const rounds = { plain: [], workerlife: [] };
  for (let r = 0; r < SERVER_ROUNDS; r++) {
    for (const kind of ['plain', 'workerlife']) {
      const s = await serve(kind === 'workerlife');
      try {
        wrk(s.port); // warm up
        rounds[kind].push(wrk(s.port));
      } finally {
        s.stop();
      }
    }
  }
  const plain = median(rounds.plain);
  const ours = median(rounds.workerlife);
  console.log(`Node cluster, 2 workers, hello world, wrk -t2 -c32 -d${SECONDS}s (median of ${SERVER_ROUNDS} alternating runs)`);
  console.log(`  plain cluster                         ${plain.toFixed(0).padStart(8)} req/s  [${rounds.plain.map(Math.round).join(', ')}]`);
  console.log(`  workerlife.cluster + http.handler     ${ours.toFixed(0).padStart(8)} req/s  [${rounds.workerlife.map(Math.round).join(', ')}]  ${(100 * ours / plain).toFixed(1)}%`);
  console.log('  goal: <= 3 % lost');
}

(async () => {
  hotPath();
  await http();
})().catch((e) => { console.error(e); process.exit(1); });
