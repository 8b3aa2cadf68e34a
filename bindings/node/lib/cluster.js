'use strict';
// The primary's side of Node's `cluster` under workerlife, and the worker's.
//
// cluster workers are new Node processes, not forks, so the pool is a named
// pool file in a private directory. The primary declares the host ("Node
// cluster": heartbeats, surge, concurrent requests each with its ticket, one
// request cancelled alone, master and watchdog kills, numbered workers), so
// a rule it cannot carry out stops the start;
// takes the pool's name (one primary per name) and makes the pool, passes
// its path and each worker's slot by environment, ticks it, and acts:
// `spawn` forks a worker into a slot, `recycle` asks the worker to leave
// through `disconnect()` (its servers close, the connections the primary
// already handed it are answered), `kill` sends SIGKILL only to the process
// the action names (pid and start time checked). A worker's `listening`
// makes its slot ready; its exit, as Node reports it (code, signal), becomes
// the wait status the pool wants. Every event is logged with the library's
// line, every error of the round through the pool's round errors (once,
// then counted). `max_surge=1` is the default: a replacement listens before
// the worker it replaces leaves, so the primary never closes the shared
// listener for want of a worker. With `metrics` (or WORKERLIFE_METRICS) the
// primary serves the pool's stats from the library's own thread until it
// stops.

const cluster = require('node:cluster');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const wl = require('./core');

const DEFAULT_TICK_MS = 100;

/** The host this helper is, and what it carries out (see docs/node.md). */
const HOST = 'Node cluster';
// cancel and tickets: the HTTP handler (http.js) gives each request a
// ticket and ends one past request_timeout alone (a 504), so a worker's
// requests are timed apart and request_timeout holds here.
const CAPS = Object.freeze(['heartbeat', 'surge', 'cancel', 'concurrent', 'master_kills', 'watchdog_kills', 'numbered', 'tickets']);

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
    throw new wl.PoolError(wl.results.WL_UNSAFE_FILE, `workerlife: ${base} must be a directory of uid ${process.getuid()} with mode 0700 (not a symlink): refusing it`);
  }
  return base;
}

/**
 * The pool's name when none is given: the main script's name and a hash of
 * its path and the working directory (`server-1a2b3c4d5e6f`), so two apps
 * on one host never share a pool, and one app started again finds its own.
 */
function defaultName(main = require.main?.filename ?? process.argv[1] ?? 'node', cwd = process.cwd()) {
  const file = path.resolve(cwd, main);
  const base = path.basename(file, path.extname(file)).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40) || 'node';
  const hash = crypto.createHash('sha256').update(`${file}\0${cwd}`).digest('hex').slice(0, 12);
  return `${base}-${hash}`;
}

/** The policy, with max_surge=1 unless the spec says otherwise; a bad one names where it came from. */
function clusterPolicy(spec) {
  const fromEnv = spec === undefined || spec === null;
  const text = fromEnv ? process.env.WORKERLIFE_POLICY ?? '' : spec;
  if (typeof text !== 'string') throw new wl.ArgumentError(wl.results.WL_INVALID_ARGUMENT, 'policy must be a spec string');
  try {
    // The library parses the spec; a key given twice takes its last value,
    // so the spec's own max_surge (0 too) replaces this default.
    return wl.Policy.parse(`max_surge=1,${text}`);
  } catch (e) {
    throw renamed(e, `${fromEnv ? 'WORKERLIFE_POLICY' : 'options.policy'}: ${e.message}`);
  }
}

/**
 * Where to serve the stats: options.metrics when given (a "HOST:PORT"
 * string; false or '' for none), else WORKERLIFE_METRICS when set and not
 * empty, else null (off).
 */
function metricsAddress(option) {
  if (option === undefined || option === null) {
    const text = (process.env.WORKERLIFE_METRICS ?? '').trim();
    return text ? { address: text, from: 'WORKERLIFE_METRICS' } : null;
  }
  if (option === false || option === '') return null;
  if (typeof option !== 'string') throw new wl.ArgumentError(wl.results.WL_INVALID_ARGUMENT, 'options.metrics must be a "HOST:PORT" string or false');
  return { address: option, from: 'options.metrics' };
}

/** The same error (class and code) with a clearer message. */
function renamed(e, message) {
  if (!(e instanceof wl.WorkerLifeError)) return e;
  const again = new e.constructor(e.code, message);
  again.cause = e;
  return again;
}

/** A file a live process holds: what `Pool.create` refuses. */
function heldByALiveProcess(e) {
  return e instanceof wl.SystemError && /a live process holds/.test(e.message);
}

/**
 * One pool, one master. The name is taken by `NAME.primary`, a one-slot
 * pool file only the primary holds (Pool.create refuses one a live process
 * holds and replaces a stale one): a second primary of the name is refused
 * here. The pool itself is `NAME.pool`, made with Pool.create too; the
 * workers hold it as well, so after a primary was SIGKILLed its old workers
 * may hold it still (they leave when their event loop next turns). Holding
 * the name, we know they are no master's: the file is unlinked (they keep
 * their mapping) and made anew.
 */
function takePool(dir, name, policy, slots, say) {
  const lockFile = path.join(dir, `${name}.primary`);
  let lock;
  try {
    lock = wl.Pool.create(lockFile, '', 1);
  } catch (e) {
    if (!heldByALiveProcess(e)) throw e;
    throw renamed(e, `workerlife: another primary named "${name}" is running (it holds ${lockFile}): one pool, one master; stop it, or give this one another name (options.name). ${e.message}`);
  }
  const file = path.join(dir, `${name}.pool`);
  try {
    try {
      return { lock, file, pool: wl.Pool.create(file, policy, slots) };
    } catch (e) {
      if (!heldByALiveProcess(e)) throw e;
    }
    const old = wl.Pool.attach(file); // a workerlife pool we may trust, else an error and left as it is
    const pids = old.stats().per_slot.map((s) => s.pid).filter(Boolean);
    old.close();
    fs.unlinkSync(file);
    say(`workerlife: ${file} was still held by workers of a primary that is gone (pids ${pids.join(', ') || 'none listed'}); made anew (they leave when their event loop turns)`, 'warning');
    return { lock, file, pool: wl.Pool.create(file, policy, slots) };
  } catch (e) {
    lock.close();
    throw e;
  }
}

/**
 * In the primary: runs `workers` workers under the policy and returns a
 * handle { pool, path, stop() }. In a worker: claims its slot and returns
 * { worker, leave() } (see `worker()`). Options: workers (default the CPU
 * count), policy (a spec; default WORKERLIFE_POLICY), name (the pool's
 * name, default `defaultName()`; one primary per name), dir (the private
 * directory), tickMs (default 100), log (a function of a line and its
 * severity, 'info', 'warning' or 'error'; default console.info/warn/error),
 * onEvent (each pool event, besides its log line), exec/args
 * (cluster.setupPrimary's), metrics ("HOST:PORT" to serve the stats at;
 * default WORKERLIFE_METRICS; false for none).
 */
function run(options = {}) {
  return cluster.isPrimary ? primary(options) : worker(options);
}

const LOGGERS = { info: console.info, warning: console.warn, error: console.error };

// The primaries of this process, so that their handles (the name's lock
// included) live while they run, kept or not by the caller.
const running = new Set();

function primary(options) {
  const workers = options.workers ?? os.availableParallelism?.() ?? os.cpus().length;
  if (!Number.isInteger(workers) || workers < 1 || workers > 0xffff) {
    throw new wl.ArgumentError(wl.results.WL_INVALID_ARGUMENT, `workers must be an integer in [1, 65535], not ${String(workers)}`);
  }
  const tickMs = options.tickMs ?? DEFAULT_TICK_MS;
  if (!Number.isInteger(tickMs) || tickMs < 1 || tickMs > 2 ** 31 - 1) {
    throw new wl.ArgumentError(wl.results.WL_INVALID_ARGUMENT, `tickMs must be an integer in [1, 2^31), not ${String(tickMs)}`);
  }
  const log = options.log ?? ((line, severity) => (LOGGERS[severity] ?? console.error)(line));
  const name = options.name ?? defaultName();
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(name)) {
    throw new wl.ArgumentError(wl.results.WL_INVALID_ARGUMENT, `name must be letters, digits, ".", "_" or "-", not ${JSON.stringify(name)}`);
  }
  const metricsAt = metricsAddress(options.metrics);
  const policy = clusterPolicy(options.policy);
  let taken;
  try {
    policy.checkHost(HOST, CAPS); // before any file: a refused rule stops the start
    const slots = wl.hostSlots(workers, policy, CAPS);
    taken = takePool(privateDir(options.dir), name, policy, slots, log);
  } finally {
    policy.close();
  }
  const { pool, file, lock } = taken;
  pool.setHost(HOST, CAPS);
  // Before the start-up line and any worker: an address that cannot be
  // served stops the start (the library's message names the address),
  // rather than leaving an empty dashboard to be found later.
  let metrics = null;
  if (metricsAt) {
    try {
      metrics = pool.serveMetrics(metricsAt.address);
    } catch (e) {
      pool.close();
      lock.close();
      throw renamed(e, `${metricsAt.from}: ${e.message}`);
    }
  }
  log(`workerlife: ${pool.startupLine()}`, 'info');
  if (metrics) log(`workerlife: serving the pool's stats at http://${metricsAt.address.replace(/:\d+$/, `:${metrics.port}`)}/metrics`, 'info');
  if (options.exec || options.args) cluster.setupPrimary({ exec: options.exec, args: options.args });

  const bySlot = new Map(); // slot -> cluster worker
  const unforked = new Set(); // slots whose fork failed: forked again at the next tick
  let stopping = false;

  /** An error of the master's round: logged the first time, then only counted (the library's rule). */
  const roundError = (text) => {
    const line = pool.roundError(text);
    if (line !== null) log(`workerlife: ${line}`, 'error');
  };
  const forkFailed = (slot, e) => {
    unforked.add(slot);
    roundError(`cannot fork a worker (${e.message}); trying again at the next tick`);
  };

  const fork = (slot) => {
    unforked.delete(slot);
    let w;
    try {
      w = cluster.fork({ WORKERLIFE_POOL: file, WORKERLIFE_SLOT: String(slot) });
    } catch (e) {
      return forkFailed(slot, e);
    }
    // A worker that leaves closes its IPC channel; Node's own answer to its
    // last message can then fail with EPIPE, an 'error' that would end the
    // primary if nobody listened. A spawn that failed (EAGAIN under a pids
    // limit) has no pid and reports its error here on the next turn; Node
    // drops the worker itself.
    const failed = !Number.isInteger(w.process.pid);
    if (failed) unforked.add(slot);
    w.on('error', (e) => {
      if (failed && e.syscall?.startsWith('spawn')) return forkFailed(slot, e);
      if (!['EPIPE', 'ERR_IPC_CHANNEL_CLOSED', 'ERR_IPC_DISCONNECTED'].includes(e.code)) roundError(`worker: ${e.message}`);
    });
    if (failed) return;
    w.workerlifeSlot = slot;
    bySlot.set(slot, w);
    pool.spawned(slot, w.process.pid);
    w.on('listening', () => {
      try { pool.ready(slot); } catch (e) { roundError(`ready: ${e.message}`); }
    });
  };
  const onExit = (w, code, signal) => {
    if (w.workerlifeSlot === undefined) return; // not one of ours
    if (bySlot.get(w.workerlifeSlot) === w) bySlot.delete(w.workerlifeSlot);
    try {
      pool.exited(w.process.pid, { code, signal });
    } catch (e) {
      if (!(e instanceof wl.PoolError)) roundError(`exit: ${e.message}`); // a PoolError: an unknown pid, already told
    }
  };
  cluster.on('exit', onExit);

  const act = (a) => {
    if (a.action === 'spawn') {
      if (!stopping) fork(a.slot);
    } else if (a.action === 'recycle') {
      const w = bySlot.get(a.slot);
      if (w && w.process.pid === a.pid && w.isConnected()) w.disconnect();
    } else if (a.action === 'kill') {
      try {
        wl.kill(a.pid, 'SIGKILL', a.identity);
      } catch (e) {
        if (!(e instanceof wl.ProcessError && e.codeName === 'WL_NO_SUCH_PROCESS')) roundError(`kill: ${e.message}`);
      }
    }
  };
  const tick = () => {
    if (stopping) return;
    try {
      for (const slot of [...unforked]) fork(slot);
      for (const a of pool.tick()) act(a);
      for (const e of pool.events()) {
        log(`workerlife: ${e.line}`, e.severity ?? 'info');
        if (options.onEvent) options.onEvent(e);
      }
    } catch (e) {
      roundError(`tick: ${e.message ?? e}`);
    }
  };
  for (let slot = 0; slot < workers; slot++) fork(slot);
  const timer = setInterval(tick, tickMs);
  const handle = { pool, path: file, name, stop: null, workers: bySlot, metrics };
  running.add(handle);

  /** Stops ticking, asks every worker to leave, and removes the pool file (and the name's) once they are gone. */
  handle.stop = () => new Promise((resolve) => {
    stopping = true;
    clearInterval(timer);
    const left = [...Object.values(cluster.workers)].filter(Boolean);
    const done = () => {
      cluster.off('exit', onExit);
      if (metrics) metrics.stop();
      try { pool.removeIfLast(); } catch (e) { log(`workerlife: ${e.message}`, 'error'); }
      pool.close();
      lock.close();
      running.delete(handle);
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
  return handle;
}

/**
 * In a cluster worker: its slot in the primary's pool, the watchdog (kills
 * a request stuck past request_timeout even while JavaScript is blocked;
 * once the HTTP handler times requests, only when the event loop has
 * stopped beating too: http.js cancels a slow request itself),
 * the heartbeat when the policy sets heartbeat_timeout (a timer on the
 * event loop beats every quarter of it: a beat proves the loop turns, so a
 * loop held longer than the timeout is killed, an idle one never; unref'd,
 * it never keeps the process alive), and a SIGTERM handler that leaves
 * gracefully. `leave()` is the one way
 * out: exiting() (not a crash, the permit back), then disconnect().
 */
function worker(options = {}) {
  const file = process.env.WORKERLIFE_POOL;
  if (!file) throw new wl.ArgumentError(wl.results.WL_INVALID_ARGUMENT, 'workerlife.cluster: WORKERLIFE_POOL is not set in this worker');
  const pool = wl.Pool.attach(file);
  let w;
  let heartbeatUs;
  let requestUs;
  try {
    w = pool.claim(process.pid);
    const policy = pool.policy();
    heartbeatUs = policy.raw('heartbeat_timeout');
    requestUs = policy.raw('request_timeout');
    policy.close();
  } finally {
    pool.close();
  }
  if (heartbeatUs > 0) {
    w.heartbeat();
    const beat = setInterval(() => {
      try {
        w.heartbeat();
      } catch {
        clearInterval(beat); // the slot is gone: this worker is on its way out
      }
    }, Math.max(1, Math.floor(Number(heartbeatUs) / 4000)));
    beat.unref();
  }
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
  current = {
    worker: w, watchdog, leave, get leaving() { return leaving; },
    // For the HTTP handler: request_timeout in seconds (0: off), and where
    // a cancelled request is told (log(line, severity), onEvent(event)).
    requestTimeout: Number(requestUs) / 1e6,
    log: options.log ?? ((line, severity) => (LOGGERS[severity] ?? console.error)(line)),
    onEvent: options.onEvent ?? null,
  };
  return current;
}

let current = null;

// `workerlife.cluster(options)` is `run`; the parts are its properties.
module.exports = Object.assign(run, {
  run, primary, worker, current: () => current, privateDir, defaultName, clusterPolicy, HOST, CAPS,
});
