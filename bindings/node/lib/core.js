'use strict';
// workerlife for Node, the core: Policy, Pool, Worker over the C ABI, with values
// normalised for JavaScript (no reading -> null, 64-bit values as Numbers
// while they are exact, BigInt beyond) and constants read from the library.

const os = require('node:os');
const { koffi, C, wl_pool_action, wl_event, constant, LIBRARY_FILE } = require('./ffi');
const errors = require('./errors');

const { check, results, ArgumentError } = errors;

// The library's "no reading" and its neighbours (the top three uint64s).
const NO_READING_FLOOR = (1n << 64n) - 3n;
const U64_MAX = (1n << 64n) - 1n;
const NO_SLOT = 0xffffffff;
// The header's WL_TICKET_LAST and WL_TICKETS, from the library: the bit of
// a ticket that says the request should be the worker's last (below 2^53,
// so a Number holds it), and how many requests a slot times at once (the
// most overdue() returns).
const TICKET_LAST = Number(constant('WL_TICKET_LAST'));
const TICKETS = Number(constant('WL_TICKETS'));

/** A uint64 from the library: null for "no reading", else a Number when exact, else a BigInt. */
function u64(v) {
  const b = BigInt(v);
  if (b >= NO_READING_FLOOR) return null;
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

// Every number is checked here, before the call: koffi would otherwise
// truncate 10.5 to 10, wrap 2^32 + 9 to 9, or turn NaN into 0, and the
// library would act on a number nobody gave. A refusal is an ArgumentError
// naming the argument, and nothing is called.
const INVALID_ARGUMENT = results.WL_INVALID_ARGUMENT;

function refuse(name, v, what) {
  const shown = typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? JSON.stringify(v) : String(v);
  return new ArgumentError(INVALID_ARGUMENT, `${name} must be ${what}, not ${shown}`);
}

/** An integer (Number or BigInt) in [min, max] (BigInts), as a BigInt. */
function intIn(name, v, min, max, what) {
  let b;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
  else throw refuse(name, v, what);
  if (b < min || b > max) throw refuse(name, v, what);
  return b;
}

/** A uint64 (a seed, an identity): an integer in [0, 2^64). */
function toU64(name, v) {
  return intIn(name, v, 0n, U64_MAX, 'an integer in [0, 2^64)');
}

/** A reading for the library (bytes, a count): null or undefined for none, else an integer below 2^64 - 3. */
function toReading(name, v) {
  if (v === null || v === undefined) return U64_MAX; // no reading
  return intIn(name, v, 0n, NO_READING_FLOOR - 1n, 'null or an integer in [0, 2^64 - 3)');
}

function toU32(name, v) {
  return Number(intIn(name, v, 0n, 0xffffffffn, 'an integer in [0, 2^32)'));
}

function toI32(name, v) {
  return Number(intIn(name, v, -(2n ** 31n), 2n ** 31n - 1n, 'an integer in [-2^31, 2^31)'));
}

/**
 * A ticket from beginTicket() (its LAST bit may be set), as a Number: an
 * integer Number or BigInt in [0, 2^53). Anything else never reaches the
 * library (koffi would turn -1 into 2^64 - 1 and 1.5 into 1).
 */
function toTicket(v) {
  // Every request passes here: a Number is checked without a BigInt.
  if (typeof v === 'number' && v >= 0 && Number.isSafeInteger(v)) return v;
  return Number(intIn('ticket', v, 0n, 2n ** 53n - 1n, 'a ticket: an integer in [0, 2^53)'));
}

/** A signal: its name (`'SIGKILL'`) or number (an integer in [1, 64]). */
function toSignal(name, v) {
  if (typeof v === 'string') {
    const n = os.constants.signals[v];
    if (!n) throw refuse(name, v, 'a signal name or number');
    return n;
  }
  return Number(intIn(name, v, 1n, 64n, 'a signal name or an integer in [1, 64]'));
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
const KEYS = names(C.key_name);
// The header's WL_SEVERITY_* (defines, so not readable by name).
const SEVERITIES = [null, 'info', 'warning', 'error'];
// The header's WL_STATS_* formats, from the library.
const STATS_JSON = Number(constant('WL_STATS_JSON'));
const STATS_JSON_OCCUPIED = Number(constant('WL_STATS_JSON_OCCUPIED'));
const STATS_PROMETHEUS = Number(constant('WL_STATS_PROMETHEUS'));
const UNITS = names(C.unit_name);

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

/** A string the library allocates (ffi.js frees it): `call(out)` fills out[0]. */
function owned(call) {
  const out = [null];
  check(call(out));
  return out[0];
}

/**
 * The WL_HOST_* bits of capability names (`['heartbeat', 'surge']`), read
 * from the library by name; an unknown name is an ArgumentError naming it.
 */
function hostCaps(caps) {
  if (!Array.isArray(caps)) throw refuse('caps', caps, 'an array of capability names');
  let bits = 0;
  for (const name of caps) {
    const bit = typeof name === 'string' && !name.includes('\0') ? C.host_capability(name) : 0;
    if (!bit) throw refuse('caps', name, 'heartbeat, surge, cancel, concurrent, master_kills, watchdog_kills, numbered or tickets');
    bits |= bit;
  }
  return bits >>> 0;
}

function hostName(name) {
  if (typeof name !== 'string' || name.includes('\0')) throw refuse('name', name, 'a host name string');
  return name;
}

/** A string of the library through its size-query-then-fill convention (a local policy: nothing changes between the calls). */
function text(call) {
  const needed = [0];
  const first = call(null, 0, needed);
  if (first !== 0 && first !== results.WL_BUFFER_TOO_SMALL) check(first);
  const buf = Buffer.alloc(Number(needed[0]));
  check(call(buf, buf.length, needed));
  return buf.toString('utf8', 0, buf.length - 1);
}

/**
 * A decision: action, reason (null for none), value, limit, mustExit,
 * would, text. A rule the policy does not enforce (`enforce`) that tripped
 * gives 'continue' with its reason, value and limit: `would` is true, the
 * worker serves on, and the text says what would have been done
 * ('continue (would recycle: max_requests: 5 >= 5)').
 */
function decisionRecord(d) {
  const action = ACTIONS[d.action];
  const reason = REASONS[d.reason] ?? null;
  return Object.freeze({
    action,
    reason,
    value: u64(d.value),
    limit: u64(d.limit),
    mustExit: action !== 'continue',
    would: action === 'continue' && reason !== null,
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
    if (this._ptr === null) throw new ArgumentError(results.WL_INVALID_HANDLE, `this ${this.constructor.name} is closed`);
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
    if (typeof spec !== 'string') throw new ArgumentError(INVALID_ARGUMENT, `a policy spec is a string, not ${typeof spec}`);
    if (spec.includes('\0')) throw new ArgumentError(INVALID_ARGUMENT, 'a policy spec cannot hold a NUL');
    const p = [null];
    check(C.policy_parse(spec, p));
    return new Policy(p[0], C.policy_free);
  }
  toString() {
    return text((b, n, need) => C.policy_to_string(this.ptr, b, n, need));
  }
  /** A key's raw value: bytes, microseconds or a count (`wl_key_unit`); 0 is off. */
  raw(key) {
    const v = this._raw(key);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  /**
   * A key's value: seconds for durations, bytes or a count otherwise (a
   * Number while exact, else a BigInt), 0 when off; a value the spec writes
   * as a word ('auto', '10%') as that string.
   */
  get(key) {
    const v = this._raw(key);
    const k = KEYS.indexOf(key);
    if (!C.key_is_number(k, v)) return text((b, n, need) => C.key_format_value(k, v, b, n, need));
    if (UNITS[C.key_unit(k)] === 'microseconds') return Number(v) / 1e6;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  _raw(key) {
    const k = KEYS.indexOf(key);
    if (typeof key !== 'string' || k < 0) throw refuse('key', key, 'a policy key name');
    const v = [0];
    check(C.policy_get_raw(this.ptr, k, v));
    return BigInt(v[0]);
  }
  /** Refuses (PolicyError, WL_NOT_FOR_HOST) a rule the host `name` with `caps` cannot carry out. */
  checkHost(name, caps) {
    check(C.policy_check_host(this.ptr, hostName(name), hostCaps(caps)));
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
    throw new ArgumentError(INVALID_ARGUMENT, `a pool path is a non-empty string without NUL, not ${JSON.stringify(path)}`);
  }
  return path;
}

/** The wait status of a child from Node's (code, signal) pair, as waitpid(2) gives it. */
function waitStatus(code, signal) {
  if (signal !== null && signal !== undefined) return toSignal('signal', signal);
  if (code === null || code === undefined) return 0;
  return Number(intIn('code', code, 0n, 255n, 'an exit code in [0, 255]')) << 8;
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
      seed: options.seed === undefined ? 0n : toU64('seed', options.seed),
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
    const p = toU32('pid', pid);
    const st = typeof status === 'object' && status !== null ? waitStatus(status.code, status.signal) : toI32('status', status);
    const slot = [0];
    check(C.pool_exited(this.ptr, p, st, slot));
    return slot[0];
  }
  exitedSlot(slot, status = 0) {
    check(C.pool_exited_slot(this.ptr, toU32('slot', slot), toI32('status', status)));
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
      requests: u64(e.requests), rss: u64(e.rss), value: u64(e.value), limit: u64(e.limit),
      // The line every host logs (after `workerlife: `), and how loud.
      line: C.event_string(e),
      severity: SEVERITIES[C.event_severity(e)] ?? null,
    }));
  }
  /** The stats as JSON text, in one call (the library allocates it). */
  statsJson() { return owned((out) => C.pool_stats_text(this.ptr, STATS_JSON, out)); }
  /** As statsJson(), listing only the slots a worker holds. */
  statsJsonOccupied() { return owned((out) => C.pool_stats_text(this.ptr, STATS_JSON_OCCUPIED, out)); }
  stats() { return JSON.parse(this.statsJson()); }
  prometheus() { return owned((out) => C.pool_stats_text(this.ptr, STATS_PROMETHEUS, out)); }
  /** A copy of the pool's policy (an attached pool's, from its file); the caller closes it. */
  policy() {
    const out = [null];
    check(C.pool_policy(this.ptr, out));
    return new Policy(out[0], C.policy_free);
  }
  /**
   * The host named `name` declares what it can carry out (`caps`:
   * capability names). A rule of the pool's policy it cannot is a
   * PolicyError (WL_NOT_FOR_HOST) naming the key, the host and what to do
   * instead, and nothing is recorded.
   */
  setHost(name, caps) {
    check(C.pool_set_host(this.ptr, hostName(name), hostCaps(caps)));
  }
  /** The line to log once at start: workerlife on, for which host, the policy, what is refused there. */
  startupLine() { return owned((out) => C.pool_startup_line(this.ptr, out)); }
  /** Notes an error of the master's round: the line to log now, or null (logged already: only counted). */
  roundError(text) {
    if (typeof text !== 'string') throw refuse('text', text, 'a string');
    return owned((out) => C.pool_round_error(this.ptr, text.replaceAll('\0', '\\0'), out));
  }
  /**
   * Adopts the server's own list of worker pids (known ones skipped, gone
   * ones passed over). Returns how many were taken on now. A pid that is
   * not this process's child is a ProcessError (WL_NOT_A_CHILD, with
   * `adopted`: the others are adopted all the same).
   */
  adoptAll(pids) {
    if (!Array.isArray(pids)) throw refuse('pids', pids, 'an array of pids');
    const list = Uint32Array.from(pids, (p, i) => toU32(`pids[${i}]`, p));
    const adopted = [0];
    const r = C.pool_adopt_all(this.ptr, list.length ? list : null, list.length, adopted);
    try {
      check(r);
    } catch (e) {
      e.adopted = Number(adopted[0]);
      throw e;
    }
    return Number(adopted[0]);
  }
  /** The container's memory: { workingSet, limit (null: read none), anon, file, oomKills }. */
  reportContainer(r) {
    const { pressure } = r;
    if (pressure !== null && pressure !== undefined && !(typeof pressure === 'number' && Number.isFinite(pressure) && pressure >= 0)) {
      throw refuse('pressure', pressure, 'null or a finite percentage >= 0');
    }
    check(C.pool_report_container(this.ptr, {
      limit: toReading('limit', r.limit), working_set: toReading('workingSet', r.workingSet),
      anon: toReading('anon', r.anon), file: toReading('file', r.file), oom_kills: toReading('oomKills', r.oomKills),
      pressure_some_avg10: pressure ?? NaN,
    }));
  }
  /**
   * Reads this process's memory now as the workers' parent's, for memory
   * limits relative to it (`max_uss=3x`): in a master that loads the app
   * before it forks, once it has, before the first fork (without it the
   * first tick() reads it). Returns { rss, uss, pss } in bytes, null where
   * unknown; an unreadable /proc is a SystemError and the limits wait.
   */
  readParent() {
    const h = {};
    check(C.pool_read_parent(this.ptr, h));
    return Object.freeze({ rss: u64(h.rss), uss: u64(h.uss), pss: u64(h.pss) });
  }
  /**
   * Gives the pool a reading of the workers' parent `pid`: { rss, uss, pss }
   * in bytes, a missing one null (its relative limit waits). For a parent
   * that is another process, or a test.
   */
  reportParent(pid, reading) {
    const p = toU32('pid', pid);
    if (typeof reading !== 'object' || reading === null || Array.isArray(reading)) {
      throw refuse('reading', reading, 'an object { rss, uss, pss }');
    }
    check(C.pool_report_parent(this.ptr, p, {
      rss: toReading('rss', reading.rss), uss: toReading('uss', reading.uss), pss: toReading('pss', reading.pss), fds: U64_MAX,
    }));
  }
  /** A manual-clock pool's clock moves on `seconds` (rounded to the microsecond). */
  advance(seconds) {
    const us = typeof seconds === 'number' && Number.isFinite(seconds) ? Math.round(seconds * 1e6) : NaN;
    if (!(us >= 0 && us < 2 ** 64)) throw refuse('seconds', seconds, 'a finite number of seconds in [0, 2^64 µs)');
    check(C.pool_advance(this.ptr, BigInt(us)));
  }
  /** Seconds until the next respawn is allowed, or null when none waits. */
  nextSpawnIn() {
    const due = [false];
    const us = [0];
    check(C.pool_next_spawn_in(this.ptr, due, us));
    return due[0] ? Number(us[0]) / 1e6 : null;
  }
  /**
   * Serves the pool's stats at `address` ("HOST:PORT"; port 0 picks one):
   * Prometheus text at /metrics and /, JSON at /stats, from a native thread
   * of the library (it answers while JavaScript is busy). An address that
   * does not parse is an ArgumentError, one that cannot be bound a
   * SystemError, each naming it. Returns a MetricsServer ({ port, stop() }).
   */
  serveMetrics(address) {
    if (typeof address !== 'string' || address.includes('\0')) throw refuse('address', address, 'a "HOST:PORT" string');
    const out = [null];
    check(C.metrics_serve(this.ptr, address, out));
    return new MetricsServer(out[0]);
  }
}

/** A running stats endpoint; stop() (or collection) closes its port. */
class MetricsServer extends Handle {
  constructor(ptr) {
    super(ptr, C.metrics_free);
    const port = [0];
    try {
      check(C.metrics_port(ptr, port));
    } catch (e) {
      this.close();
      throw e;
    }
    // Read once: the port stays known after stop().
    this.port = port[0];
  }
  /** Stops serving and closes the port; again is a no-op. */
  stop() { this.close(); }
}

class Worker extends Handle {
  constructor(ptr) {
    super(ptr, C.worker_free);
    this._addr = koffi.address(ptr); // for the hot path (ffi.js)
    this._overdue = null; // overdue()'s buffer, made at its first call
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
  /**
   * A request begins with its own ticket, for endTicket(): the slot times
   * each request in flight on its own. A Number below 2^53; TICKET_LAST set
   * in it says this should be the worker's last request (stop accepting).
   */
  beginTicket() {
    const r = C.worker_begin_ticket_value(this._addr ?? this.ptr);
    if (r < 0) check(-Number(r));
    return Number(r);
  }
  /**
   * The request of `ticket` ended, whatever its outcome. True when the
   * worker must exit (after answering). A ticket not in flight here (ended
   * already, never issued, another worker's) is a PoolError
   * (WL_BAD_TICKET) and changes nothing.
   */
  endTicket(ticket) {
    const t = toTicket(ticket);
    const r = C.worker_end_ticket_flag(this._addr ?? this.ptr, t);
    if (r < 0) check(-r);
    return r === 1;
  }
  /**
   * The tickets (TICKET_LAST clear) of this worker's requests in flight
   * past request_timeout: [] when it is off. For a host that ends each of
   * them itself, then gives its ticket back with endTicket().
   */
  overdue() {
    this._overdue ??= Buffer.alloc(TICKETS * 8);
    const n = [0];
    check(C.worker_overdue(this.ptr, this._overdue, TICKETS, n));
    const got = [];
    for (let i = 0; i < Math.min(Number(n[0]), TICKETS); i++) got.push(Number(this._overdue.readBigUInt64LE(i * 8)));
    return got;
  }
  heartbeat() { check(C.worker_heartbeat(this.ptr)); }
  onEventLoop() { check(C.worker_on_event_loop(this.ptr)); }
  check(ok) { check(C.worker_check(this.ptr, Boolean(ok))); }
  /** Readings in bytes (fds a count); a missing one is null. */
  reportHealth(h = {}) {
    check(C.worker_report_health(this.ptr, {
      rss: toReading('rss', h.rss), uss: toReading('uss', h.uss), pss: toReading('pss', h.pss), fds: toReading('fds', h.fds),
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
    const none = recycleSignal === 0 || recycleSignal === null || recycleSignal === undefined;
    const sig = none ? 0 : toSignal('recycleSignal', recycleSignal);
    const interval = toU32('intervalMs', intervalMs);
    const out = [null];
    check(C.worker_watchdog(this.ptr, sig, interval, out));
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
  const p = toU32('pid', pid);
  const n = toSignal('signal', signal);
  check(C.signal(p, toU64('identity', identity), n));
}

/**
 * How many slots a pool for `workers` workers of a host with `caps`
 * (capability names) needs under `policy` (a Policy or a spec).
 */
function hostSlots(workers, policy, caps) {
  const w = toU32('workers', workers);
  const bits = hostCaps(caps);
  const out = [0];
  withPolicy(policy, (p) => check(C.host_slots(bits, w, p.ptr, out)));
  return out[0];
}

module.exports = {
  Policy, Pool, Worker, Watchdog, MetricsServer, kill, waitStatus, hostSlots,
  TICKET_LAST, TICKETS,
  version: C.version(),
  abiVersion: C.abi_version(),
  library: LIBRARY_FILE,
  results,
  reasons: REASONS.filter(Boolean),
  ...errors,
};
delete module.exports.check;
