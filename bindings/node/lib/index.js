'use strict';
// workerlife for Node: Policy, Pool, Worker over the C ABI, with values
// normalised for JavaScript (no reading -> null, 64-bit values as Numbers
// while they are exact, BigInt beyond) and constants read from the library.

const os = require('node:os');
const { koffi, C, wl_pool_action, wl_event } = require('./ffi');
const errors = require('./errors');

const { check, ArgumentError } = errors;

// The library's "no reading" and its neighbours (the top three uint64s).
const NO_READING_FLOOR = (1n << 64n) - 3n;
const U64_MAX = (1n << 64n) - 1n;
const NO_SLOT = 0xffffffff;

/** A uint64 from the library: null for "no reading", else a Number when exact, else a BigInt. */
function u64(v) {
  const b = BigInt(v);
  if (b >= NO_READING_FLOOR) return null;
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

/** A count or size for the library: a non-negative integer (Number or BigInt) below 2^64 - 3. */
function toU64(name, v) {
  if (v === null || v === undefined) return U64_MAX; // no reading
  let b;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
  else throw new ArgumentError(104, `${name} must be an integer, not ${String(v)}`);
  if (b < 0n || b >= NO_READING_FLOOR) throw new ArgumentError(104, `${name} is out of range: ${b}`);
  return b;
}

function toU32(name, v) {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new ArgumentError(104, `${name} must be an integer in [0, 2^32), not ${String(v)}`);
  }
  return v;
}

function names(fn, limit = 256) {
  const list = [];
  for (let i = 0; i < limit; i++) {
    const n = fn(i);
    if (n) list[i] = n;
  }
  return list;
}

// Read once from the library: names by number.
const REASONS = names(C.reason_name);
const ACTIONS = names(C.action_name);
const ACTION_KINDS = names(C.pool_action_kind_name);
const EVENT_KINDS = names(C.event_kind_name);
/** Every result code by its header name: { WL_OK: 0, WL_UNKNOWN_PID: 303, ... }. */
const results = {};
for (let i = 0; i < 1000; i++) {
  const n = C.result_name(i);
  if (n) results[n] = i;
}

/** Every record a batch call (tick, events) writes, 64 at a time, decoded. */
function batch(type, call) {
  const size = koffi.sizeof(type);
  const buf = Buffer.alloc(64 * size);
  const all = [];
  for (;;) {
    const n = [0];
    check(call(buf, 64, n));
    for (let i = 0; i < n[0]; i++) all.push(koffi.decode(buf, i * size, type));
    if (n[0] < 64) return all;
  }
}

/** A string of the library through its size-query-then-fill convention. */
function text(call) {
  const needed = [0];
  const first = call(null, 0, needed);
  if (first !== 0 && first !== results.WL_BUFFER_TOO_SMALL) check(first);
  const buf = Buffer.alloc(Number(needed[0]));
  check(call(buf, buf.length, needed));
  return buf.toString('utf8', 0, buf.length - 1);
}

function decisionRecord(d) {
  return Object.freeze({
    action: ACTIONS[d.action],
    reason: REASONS[d.reason] ?? null,
    value: u64(d.value),
    limit: u64(d.limit),
    mustExit: d.action !== 0,
    text: C.decision_string(d),
  });
}

// Pool's constructor, given this, takes a handle the library already made.
const WRAP = Symbol('wrap');

const live = new FinalizationRegistry(({ free, ptr }) => free(ptr));

/** Owns one library handle: freed by close(), or when collected. */
class Handle {
  constructor(ptr, free) {
    this._ptr = ptr;
    this._free = free;
    live.register(this, { free, ptr }, this);
  }
  get ptr() {
    if (this._ptr === null) throw new ArgumentError(101, `this ${this.constructor.name} is closed`);
    return this._ptr;
  }
  close() {
    if (this._ptr === null) return;
    live.unregister(this);
    const p = this._ptr;
    this._ptr = null;
    check(this._free(p));
  }
}

class Policy extends Handle {
  /** A policy from a spec (`"max_requests=1000,max_rss=300MiB"`); PolicyError names a bad key or value. */
  static parse(spec = '') {
    if (typeof spec !== 'string') throw new ArgumentError(104, `a policy spec is a string, not ${typeof spec}`);
    if (spec.includes('\0')) throw new ArgumentError(104, 'a policy spec cannot hold a NUL');
    const p = [null];
    check(C.policy_parse(spec, p));
    return new Policy(p[0], C.policy_free);
  }
  toString() {
    return text((b, n, need) => C.policy_to_string(this.ptr, b, n, need));
  }
}

function policyOf(policy) {
  if (policy instanceof Policy) return { p: policy, own: false };
  return { p: Policy.parse(policy ?? ''), own: true };
}

function withPolicy(policy, f) {
  const { p, own } = policyOf(policy);
  try {
    return f(p);
  } finally {
    if (own) p.close();
  }
}

function checkPath(path) {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    throw new ArgumentError(104, `a pool path is a non-empty string without NUL, not ${JSON.stringify(path)}`);
  }
  return path;
}

/** The wait status of a child from Node's (code, signal) pair, as waitpid(2) gives it. */
function waitStatus(code, signal) {
  if (signal) {
    const n = typeof signal === 'number' ? signal : os.constants.signals[signal];
    if (!n) throw new ArgumentError(104, `unknown signal ${String(signal)}`);
    return n & 0x7f;
  }
  return ((code ?? 0) & 0xff) << 8;
}

class Pool extends Handle {
  /**
   * A pool. options: slots (default 64), shared (before fork: true),
   * manualClock, seed. A named pool: Pool.create / attach / open.
   */
  constructor(policy = '', options = {}) {
    if (policy === WRAP) {
      super(options, C.pool_free); // a handle from create / attach / open
      return;
    }
    const opts = {
      slots: toU32('slots', options.slots ?? 64),
      sharing: options.shared ? 1 : 0,
      path: null,
      manual_clock: Boolean(options.manualClock),
      has_seed: options.seed !== undefined,
      seed: options.seed === undefined ? 0 : toU64('seed', options.seed),
    };
    const out = [null];
    withPolicy(policy, (p) => check(C.pool_build(p.ptr, opts, out)));
    super(out[0], C.pool_free);
  }
  static _wrap(ptr) {
    return new Pool(WRAP, ptr);
  }
  /** A named pool file at `path` (mode 0600); EEXIST-like PoolError if a live process holds one there. */
  static create(path, policy = '', slots = 64) {
    const out = [null];
    withPolicy(policy, (p) => check(C.pool_create(checkPath(path), p.ptr, toU32('slots', slots), out)));
    return Pool._wrap(out[0]);
  }
  static attach(path) {
    const out = [null];
    check(C.pool_attach(checkPath(path), out));
    return Pool._wrap(out[0]);
  }
  /** create, or replace a file no live process holds (a primary that was killed). */
  static open(path, policy = '', slots = 64) {
    const out = [null];
    withPolicy(policy, (p) => check(C.pool_open(checkPath(path), p.ptr, toU32('slots', slots), out)));
    return Pool._wrap(out[0]);
  }
  removeIfLast() {
    const removed = [false];
    check(C.pool_remove_if_last(this.ptr, removed));
    return removed[0];
  }
  get slots() {
    const n = [0];
    check(C.pool_slot_count(this.ptr, n));
    return n[0];
  }
  /** A handle on `slot` (for a worker that knows its slot, or a test). */
  worker(slot) {
    const out = [null];
    check(C.pool_worker(this.ptr, toU32('slot', slot), out));
    return new Worker(out[0]);
  }
  /** In a worker: the slot the master recorded for `pid` (default this process). */
  claim(pid = process.pid) {
    const out = [null];
    check(C.pool_claim(this.ptr, toU32('pid', pid), out));
    return new Worker(out[0]);
  }
  spawned(slot, pid) { check(C.pool_spawned(this.ptr, toU32('slot', slot), toU32('pid', pid))); }
  ready(slot) { check(C.pool_ready(this.ptr, toU32('slot', slot))); }
  adopt(pid) { check(C.pool_adopt(this.ptr, toU32('pid', pid))); }
  recycle(slot) { check(C.pool_recycle(this.ptr, toU32('slot', slot))); }
  /** The primary asked worker `pid` to leave on its own account (shutdown): not a crash. Returns its slot. */
  exiting(pid) {
    const slot = [0];
    check(C.pool_exiting(this.ptr, toU32('pid', pid), slot));
    return slot[0];
  }
  /** A child exited: `status` a wait status, or { code, signal } as Node reports it. Returns its slot. */
  exited(pid, status) {
    const st = typeof status === 'object' && status !== null ? waitStatus(status.code, status.signal) : status;
    if (!Number.isInteger(st)) throw new ArgumentError(104, `a wait status is an integer, not ${String(status)}`);
    const slot = [0];
    check(C.pool_exited(this.ptr, toU32('pid', pid), st, slot));
    return slot[0];
  }
  exitedSlot(slot, status = 0) {
    if (!Number.isInteger(status)) throw new ArgumentError(104, `a wait status is an integer, not ${String(status)}`);
    check(C.pool_exited_slot(this.ptr, toU32('slot', slot), status));
  }
  decision(slot) {
    const d = {};
    check(C.pool_decision(this.ptr, toU32('slot', slot), d));
    return decisionRecord(d);
  }
  /** What the master must do now: [{ action: 'spawn'|'recycle'|'kill', slot, pid, reason, ... }]. */
  tick() {
    return batch(wl_pool_action, (b, n, got) => C.pool_tick(this.ptr, b, n, got)).map((a) => Object.freeze({
      action: ACTION_KINDS[a.kind],
      slot: a.slot,
      pid: a.pid,
      reason: REASONS[a.reason] ?? null,
      generation: a.generation,
      replaces: a.replaces === NO_SLOT ? null : a.replaces,
      identity: BigInt(a.identity),
      notBeforeUs: u64(a.not_before_us),
    }));
  }
  /** What happened since the last call: spawns, recycles, exits, crashes... */
  events() {
    return batch(wl_event, (b, n, got) => C.pool_events(this.ptr, b, n, got)).map((e) => Object.freeze({
      kind: EVENT_KINDS[e.kind], slot: e.slot, pid: e.pid, generation: e.generation,
      reason: REASONS[e.reason] ?? null, status: e.has_status ? e.status : null,
      crash: e.crash, oomKilled: e.oom_killed, uptime: Number(e.uptime_us) / 1e6,
      requests: u64(e.requests), rss: u64(e.rss),
    }));
  }
  statsJson() { return text((b, n, need) => C.pool_stats_json(this.ptr, b, n, need)); }
  stats() { return JSON.parse(this.statsJson()); }
  prometheus() { return text((b, n, need) => C.pool_prometheus(this.ptr, b, n, need)); }
  /** The container's memory: { workingSet, limit (null: read none), anon, file, oomKills }. */
  reportContainer(r) {
    check(C.pool_report_container(this.ptr, {
      limit: toU64('limit', r.limit), working_set: toU64('workingSet', r.workingSet),
      anon: toU64('anon', r.anon), file: toU64('file', r.file), oom_kills: toU64('oomKills', r.oomKills),
      pressure_some_avg10: Number.isFinite(r.pressure) ? r.pressure : NaN,
    }));
  }
  /** A manual-clock pool's clock moves on `seconds` (rounded to the microsecond). */
  advance(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) throw new ArgumentError(104, `seconds must be finite and >= 0, not ${seconds}`);
    check(C.pool_advance(this.ptr, BigInt(Math.round(seconds * 1e6))));
  }
  /** Seconds until the next respawn is allowed, or null when none waits. */
  nextSpawnIn() {
    const due = [false];
    const us = [0];
    check(C.pool_next_spawn_in(this.ptr, due, us));
    return due[0] ? Number(us[0]) / 1e6 : null;
  }
}

class Worker extends Handle {
  constructor(ptr) {
    super(ptr, C.worker_free);
    this._addr = koffi.address(ptr); // for the hot path (ffi.js)
  }
  close() {
    this._addr = null;
    super.close();
  }
  /** A request begins. True when it is the last this worker should take (stop accepting). */
  begin() {
    const r = C.worker_begin_flag(this._addr ?? this.ptr);
    if (r < 0) check(-r);
    return r === 1;
  }
  /** A request ended. True when the worker must exit (after answering). */
  end() {
    const r = C.worker_end_flag(this._addr ?? this.ptr);
    if (r < 0) check(-r);
    return r === 1;
  }
  heartbeat() { check(C.worker_heartbeat(this.ptr)); }
  onEventLoop() { check(C.worker_on_event_loop(this.ptr)); }
  check(ok) { check(C.worker_check(this.ptr, Boolean(ok))); }
  /** Readings in bytes (fds a count); a missing one is null. */
  reportHealth(h = {}) {
    check(C.worker_report_health(this.ptr, {
      rss: toU64('rss', h.rss), uss: toU64('uss', h.uss), pss: toU64('pss', h.pss), fds: toU64('fds', h.fds),
    }));
  }
  decision() {
    const d = {};
    check(C.worker_decision(this.ptr, d));
    return decisionRecord(d);
  }
  get mustExit() { return this.decision().mustExit; }
  get requests() {
    const n = [0];
    check(C.worker_requests(this.ptr, n));
    return u64(n[0]);
  }
  get slot() {
    const n = [0];
    check(C.worker_slot(this.ptr, n));
    return n[0];
  }
  /** On the way out: not a crash, and a recycle permit goes back at once. */
  exiting() { check(C.worker_exiting(this.ptr)); }
  /**
   * Starts this worker's watchdog: a native thread that ends this process
   * with SIGKILL on a kill decision (request_timeout, heartbeat_timeout,
   * drain_timeout) even while JavaScript is stuck, and sends
   * `recycleSignal` (default none) once on a granted recycle.
   */
  watchdog({ recycleSignal = 0, intervalMs = 0 } = {}) {
    const sig = recycleSignal ? os.constants.signals[recycleSignal] ?? recycleSignal : 0;
    if (!Number.isInteger(sig)) throw new ArgumentError(104, `unknown signal ${String(recycleSignal)}`);
    const out = [null];
    check(C.worker_watchdog(this.ptr, sig, toU32('intervalMs', intervalMs), out));
    return new Watchdog(out[0]);
  }
}

class Watchdog extends Handle {
  constructor(ptr) {
    // Collected without stop(): the thread stays for the life of the process.
    super(ptr, C.watchdog_detach);
  }
  wake() { check(C.watchdog_wake(this.ptr)); }
  /** Stops the thread and waits for it. */
  stop() {
    if (this._ptr === null) return;
    this._free = C.watchdog_free;
    this.close();
  }
}

/** Sends `signal` to `pid` only if it is still the process `identity` names (from a tick's action). */
function kill(pid, signal, identity) {
  const n = typeof signal === 'number' ? signal : os.constants.signals[signal];
  if (!n) throw new ArgumentError(104, `unknown signal ${String(signal)}`);
  check(C.signal(toU32('pid', pid), toU64('identity', identity), n));
}

module.exports = {
  Policy, Pool, Worker, Watchdog, kill, waitStatus,
  version: C.version(),
  abiVersion: C.abi_version(),
  results,
  reasons: REASONS.filter(Boolean),
  ...errors,
};
delete module.exports.check;
// Loaded on first use: they need the classes above.
Object.defineProperty(module.exports, 'cluster', { enumerable: true, get: () => require('./cluster') });
Object.defineProperty(module.exports, 'http', { enumerable: true, get: () => require('./http') });
