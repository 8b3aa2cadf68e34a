'use strict';
// The primary's side of Node's `cluster` under workerlife, and the worker's.
//
// cluster workers are new Node processes, not forks, so the pool is a named
// pool file in a private directory: the primary makes it (replacing a file
// left by a primary that was killed), passes its path and each worker's
// slot by environment, ticks it, and acts: `spawn` forks a worker into a
// slot, `recycle` asks the worker to leave through `disconnect()` (its
// servers close, the connections the primary already handed it are
// answered), `kill` sends SIGKILL only to the process the action names
// (pid and start time checked). A worker's `listening` makes its slot
// ready; its exit, as Node reports it (code, signal), becomes the wait
// status the pool wants. `max_surge=1` is the default: a replacement
// listens before the worker it replaces leaves, so the primary never
// closes the shared listener for want of a worker.

const cluster = require('node:cluster');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const wl = require('./index');

const DEFAULT_TICK_MS = 100;

/** The private directory for pool files: $XDG_RUNTIME_DIR or the temp dir, `workerlife-UID`, mode 0700, ours. */
function privateDir(dir) {
  const base = dir ?? path.join(process.env.XDG_RUNTIME_DIR || os.tmpdir(), `workerlife-${process.getuid()}`);
  try {
    fs.mkdirSync(base, { mode: 0o700 });
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
  }
  const st = fs.lstatSync(base);
  if (!st.isDirectory() || st.uid !== process.getuid() || (st.mode & 0o077) !== 0) {
    throw new wl.PoolError(306, `workerlife: ${base} must be a directory of uid ${process.getuid()} with mode 0700 (not a symlink): refusing it`);
  }
  return base;
}

/** The policy, with max_surge=1 unless the spec says otherwise. */
function clusterPolicy(spec) {
  const text = spec ?? process.env.WORKERLIFE_POLICY ?? '';
  if (typeof text !== 'string') throw new wl.ArgumentError(104, 'policy must be a spec string');
  const hasSurge = text.split(',').some((kv) => kv.trim().split('=')[0].trim() === 'max_surge');
  return wl.Policy.parse(hasSurge ? text : [text.trim(), 'max_surge=1'].filter(Boolean).join(','));
}

/**
 * In the primary: runs `workers` workers under the policy and returns a
 * handle { pool, path, stop() }. In a worker: claims its slot and returns
 * { worker, leave() } (see `worker()`). Options: workers (default the CPU
 * count), policy (a spec; default WORKERLIFE_POLICY), name (the pool file's
 * name, default "cluster"; one primary per name), dir (the private
 * directory), tickMs (default 100), log (a function of one line; default
 * console.error), exec/args (cluster.setupPrimary's).
 */
function run(options = {}) {
  return cluster.isPrimary ? primary(options) : worker(options);
}

function primary(options) {
  const workers = options.workers ?? os.availableParallelism?.() ?? os.cpus().length;
  if (!Number.isInteger(workers) || workers < 1) throw new wl.ArgumentError(104, `workers must be a positive integer, not ${workers}`);
  const log = options.log ?? ((line) => console.error(line));
  const policy = clusterPolicy(options.policy);
  const surge = Number(String(policy).match(/(?:^|,)max_surge=(\d+)/)?.[1] ?? 0);
  const name = options.name ?? 'cluster';
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(name)) throw new wl.ArgumentError(104, `name must be letters, digits, ".", "_" or "-", not ${JSON.stringify(name)}`);
  const file = path.join(privateDir(options.dir), `${name}.pool`);
  const pool = wl.Pool.open(file, policy, workers + surge);
  policy.close();
  if (options.exec || options.args) cluster.setupPrimary({ exec: options.exec, args: options.args });

  const bySlot = new Map(); // slot -> cluster worker
  let stopping = false;

  const fork = (slot) => {
    const w = cluster.fork({ WORKERLIFE_POOL: file, WORKERLIFE_SLOT: String(slot) });
    w.workerlifeSlot = slot;
    bySlot.set(slot, w);
    pool.spawned(slot, w.process.pid);
    // A worker that leaves closes its IPC channel; Node's own answer to its
    // last message can then fail with EPIPE, an 'error' that would end the
    // primary if nobody listened.
    w.on('error', (e) => {
      if (e.code !== 'EPIPE' && e.code !== 'ERR_IPC_CHANNEL_CLOSED') log(`workerlife: worker ${w.process.pid}: ${e.message}`);
    });
    w.on('listening', () => {
      try { pool.ready(slot); } catch (e) { log(`workerlife: ready ${slot}: ${e.message}`); }
    });
  };
  const onExit = (w, code, signal) => {
    if (bySlot.get(w.workerlifeSlot) === w) bySlot.delete(w.workerlifeSlot);
    try {
      pool.exited(w.process.pid, { code, signal });
    } catch (e) {
      if (!(e instanceof wl.PoolError)) throw e; // an unknown pid: already told
    }
  };
  cluster.on('exit', onExit);

  const act = (a) => {
    if (a.action === 'spawn') {
      if (!stopping) fork(a.slot);
    } else if (a.action === 'recycle') {
      const w = bySlot.get(a.slot);
      log(`workerlife: recycling worker ${a.pid} (slot ${a.slot}): ${pool.decision(a.slot).text}`);
      if (w && w.process.pid === a.pid && w.isConnected()) w.disconnect();
    } else if (a.action === 'kill') {
      log(`workerlife: killing worker ${a.pid} (slot ${a.slot}): ${pool.decision(a.slot).text}`);
      try {
        wl.kill(a.pid, 'SIGKILL', a.identity);
      } catch (e) {
        log(`workerlife: not signalling ${a.pid}: ${e.message}`);
      }
    }
  };
  const tick = () => {
    if (stopping) return;
    try {
      for (const a of pool.tick()) act(a);
      for (const e of pool.events()) if (options.onEvent) options.onEvent(e);
    } catch (e) {
      log(`workerlife: tick: ${e.stack || e}`);
    }
  };
  for (let slot = 0; slot < workers; slot++) fork(slot);
  const timer = setInterval(tick, options.tickMs ?? DEFAULT_TICK_MS);

  /** Stops ticking, asks every worker to leave, and removes the pool file once they are gone. */
  const stop = () => new Promise((resolve) => {
    stopping = true;
    clearInterval(timer);
    const left = [...Object.values(cluster.workers)].filter(Boolean);
    const done = () => {
      cluster.off('exit', onExit);
      try { pool.removeIfLast(); } catch (e) { log(`workerlife: ${e.message}`); }
      pool.close();
      resolve();
    };
    if (left.length === 0) return done();
    let n = left.length;
    for (const w of left) {
      try { pool.exiting(w.process.pid); } catch { /* already gone */ }
      w.once('exit', () => { if (--n === 0) done(); });
      w.disconnect();
    }
  });
  return { pool, path: file, stop, workers: bySlot };
}

/**
 * In a cluster worker: its slot in the primary's pool, the watchdog (kills
 * a request stuck past request_timeout even while JavaScript is blocked),
 * and a SIGTERM handler that leaves gracefully. `leave()` is the one way
 * out: exiting() (not a crash, the permit back), then disconnect().
 */
function worker(options = {}) {
  const file = process.env.WORKERLIFE_POOL;
  if (!file) throw new wl.ArgumentError(104, 'workerlife.cluster: WORKERLIFE_POOL is not set in this worker');
  const pool = wl.Pool.attach(file);
  const w = pool.claim(process.pid);
  pool.close();
  const watchdog = options.watchdog === false ? null : w.watchdog();
  let leaving = false;
  const leave = () => {
    if (leaving) return;
    leaving = true;
    try { w.exiting(); } catch { /* the slot is gone already */ }
    if (cluster.worker && cluster.worker.isConnected()) cluster.worker.disconnect();
    else process.exit(0);
  };
  process.on('SIGTERM', leave);
  // The primary's disconnect(): this worker is leaving.
  if (cluster.worker) cluster.worker.on('disconnect', () => { leaving = true; });
  current = { worker: w, watchdog, leave, get leaving() { return leaving; } };
  return current;
}

let current = null;

// `workerlife.cluster(options)` is `run`; the parts are its properties.
module.exports = Object.assign(run, { run, primary, worker, current: () => current, privateDir });
