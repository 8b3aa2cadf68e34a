'use strict';
// The Node binding's API: values normalised, bad input refused with the
// library's message and nothing changed, handles closed for good, the
// library's ABI checked at load.

const test = require('node:test');
const assert = require('node:assert');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const wl = require('../lib');

test('constants and names come from the library', () => {
  assert.strictEqual(wl.results.WL_OK, 0);
  assert.strictEqual(wl.results.WL_UNKNOWN_PID, 303);
  assert.ok(wl.reasons.includes('max_requests') && wl.reasons.includes('container_memory'));
  assert.match(wl.version, /^\d+\.\d+\.\d+$/);
  assert.strictEqual(wl.abiVersion, 2);
});

test('the modules require one way: each loads first on its own, none requires the entry', () => {
  const lib = path.join(__dirname, '..', 'lib');
  const files = fs.readdirSync(lib).filter((f) => f.endsWith('.js'));
  for (const f of files) {
    if (f !== 'index.js') {
      assert.doesNotMatch(fs.readFileSync(path.join(lib, f), 'utf8'), /require\(['"]\.\/(index)?['"]\)/, `${f} requires the entry`);
    }
    // Loaded first in a process of its own: a module that needs another
    // half-made (a circle) fails here, whatever the order of the others.
    const r = spawnSync(process.execPath, ['-e', `
      const m = require(${JSON.stringify(path.join(lib, f))});
      const wl = require(${JSON.stringify(lib)});
      if (typeof wl.cluster !== 'function' || typeof wl.http.handler !== 'function' || wl.TICKETS !== 16) process.exit(3);
      if (m === undefined) process.exit(4);`], { encoding: 'utf8' });
    assert.strictEqual(r.status, 0, `${f} first: ${r.stderr}`);
  }
  assert.ok(files.includes('core.js') && files.includes('cluster.js') && files.includes('http.js'));
});

test('a policy gives each key in its unit; a word as its text', () => {
  const p = wl.Policy.parse('max_requests=1000,max_rss=300MiB,request_timeout=1500ms,container_memory=auto,max_surge=2');
  assert.strictEqual(p.get('max_requests'), 1000);
  assert.strictEqual(p.get('max_rss'), 300 * 2 ** 20);
  assert.strictEqual(p.get('request_timeout'), 1.5);
  assert.strictEqual(p.get('container_memory'), 'auto');
  assert.strictEqual(p.get('max_surge'), 2);
  assert.strictEqual(p.get('max_lifetime'), 0);
  assert.throws(() => p.get('max_rsss'), (e) => e instanceof wl.ArgumentError && /max_rsss/.test(e.message));
  assert.throws(() => p.get(3), wl.ArgumentError);
  p.close();
});

test("the cluster's policy: max_surge=1 unless the spec sets it, to 0 too", () => {
  const surge = (spec) => {
    const p = wl.cluster.clusterPolicy(spec);
    try {
      return p.get('max_surge');
    } finally {
      p.close();
    }
  };
  assert.strictEqual(surge(''), 1);
  assert.strictEqual(surge('max_requests=5'), 1);
  assert.strictEqual(surge(' max_surge = 0 ,max_requests=5'), 0);
  assert.strictEqual(surge('max_surge=2'), 2);
  assert.throws(() => wl.cluster.clusterPolicy('max_requests=abc'), (e) => e.codeName === 'WL_INVALID_VALUE' && /^options\.policy: .*abc/.test(e.message));
});

test('every struct is laid out as the library lays it out; two fields of one size swapped are refused', () => {
  const ffi = require('../lib/ffi');
  for (const [name, type] of Object.entries(ffi.STRUCTS)) ffi.checkLayout(name, type);
  const swapped = ffi.koffi.struct('wl_decision_swapped', {
    reason: 'uint32_t', action: 'uint32_t', value: 'uint64_t', limit: 'uint64_t',
  });
  assert.strictEqual(ffi.koffi.sizeof(swapped), ffi.koffi.sizeof(ffi.wl_decision));
  assert.throws(() => ffi.checkLayout('wl_decision', swapped), new RegExp(`wl_decision\\.reason is at offset 4 in ${ffi.LIBRARY_FILE}, 0 here`));
  const renamed = ffi.koffi.struct('wl_decision_renamed', {
    action: 'uint32_t', why: 'uint32_t', value: 'uint64_t', limit: 'uint64_t',
  });
  assert.throws(() => ffi.checkLayout('wl_decision', renamed), /wl_decision\.why/);
  assert.strictEqual(wl.TICKET_LAST, 2 ** 52);
  assert.strictEqual(ffi.constant('WL_TICKETS'), 16n);
  assert.throws(() => ffi.constant('WL_NOPE'), /no constant WL_NOPE/);
});

test('a bad policy is a PolicyError naming the key and value', () => {
  assert.throws(() => wl.Policy.parse('max_requests=abc'), (e) => e instanceof wl.PolicyError
    && e instanceof wl.WorkerLifeError && e.codeName === 'WL_INVALID_VALUE' && /max_requests/.test(e.message) && /abc/.test(e.message));
  assert.throws(() => wl.Policy.parse('no_such_key=1'), (e) => e.codeName === 'WL_UNKNOWN_KEY' && /no_such_key/.test(e.message));
  assert.throws(() => wl.Policy.parse('max_requests=1\0'), wl.ArgumentError);
  assert.throws(() => wl.Policy.parse(42), wl.ArgumentError);
  assert.strictEqual(String(wl.Policy.parse('max_requests=10')), 'max_requests=10');
});

test('no reading is null, small numbers are Numbers, large ones BigInts', () => {
  const pool = new wl.Pool('max_rss=10GiB', { slots: 1, manualClock: true });
  pool.spawned(0, process.pid);
  const w = pool.worker(0);
  let stats = pool.stats();
  assert.strictEqual(stats.per_slot[0].rss, null);
  w.reportHealth({ rss: 5 * 2 ** 30 });
  assert.strictEqual(pool.decision(0).action, 'continue');
  w.reportHealth({ rss: 11n * 2n ** 30n });
  const d = pool.decision(0);
  assert.deepStrictEqual([d.action, d.reason, d.value, d.limit], ['recycle', 'memory_rss', 11 * 2 ** 30, 10 * 2 ** 30]);
  assert.strictEqual(d.text, 'memory_rss: 11GiB >= 10GiB');
  assert.strictEqual(pool.nextSpawnIn(), null);
  stats = pool.stats();
  assert.strictEqual(stats.per_slot[0].rss, 11 * 2 ** 30);
  w.close();
  pool.close();
});

// max_rss=2x resolves against the parent's reading: none, and the rule
// waits; one given (reportParent), and a worker at twice its RSS is
// recycled, the limit in the decision and the stats; readParent reads this
// process. A bad argument is refused, naming it, with nothing kept.
test('a limit relative to the parent resolves against its reading', () => {
  const pool = new wl.Pool('max_rss=2x', { slots: 1, manualClock: true });
  pool.spawned(0, process.pid);
  const w = pool.worker(0);
  const MIB = 2 ** 20;
  w.reportHealth({ rss: 300 * MIB });
  assert.strictEqual(pool.decision(0).action, 'continue', 'no reading of the parent: the rule waits');
  assert.deepStrictEqual(pool.stats().memory_limits.max_rss, { setting: '2x', bytes: null });
  const before = pool.statsJson();
  const refused = (f, name) => assert.throws(f, (e) => e instanceof wl.ArgumentError && e.codeName === 'WL_INVALID_ARGUMENT'
    && e.message.startsWith(`${name} must be`), `${f}`);
  refused(() => pool.reportParent(-1, { rss: 100 * MIB }), 'pid');
  refused(() => pool.reportParent(2 ** 32, { rss: 100 * MIB }), 'pid');
  refused(() => pool.reportParent(null, { rss: 100 * MIB }), 'pid');
  refused(() => pool.reportParent(4021.5, { rss: 100 * MIB }), 'pid');
  refused(() => pool.reportParent(4021, null), 'reading');
  refused(() => pool.reportParent(4021), 'reading');
  refused(() => pool.reportParent(4021, { rss: -1 }), 'rss');
  refused(() => pool.reportParent(4021, { rss: 2n ** 64n }), 'rss');
  refused(() => pool.reportParent(4021, { uss: 0.5 }), 'uss');
  refused(() => pool.reportParent(4021, { pss: '1' }), 'pss');
  assert.strictEqual(pool.statsJson(), before, 'nothing was kept');
  pool.reportParent(4021, { rss: 100 * MIB });
  let st = pool.stats();
  assert.strictEqual(st.memory_limits.max_rss.bytes, 200 * MIB);
  assert.deepStrictEqual([st.parent.pid, st.parent.rss_bytes, st.parent.uss_bytes], [4021, 100 * MIB, null]);
  w.reportHealth({ rss: 200 * MIB - 1 });
  assert.strictEqual(pool.decision(0).action, 'continue');
  w.reportHealth({ rss: 200 * MIB });
  const d = pool.decision(0);
  assert.deepStrictEqual([d.action, d.reason, d.value, d.limit], ['recycle', 'memory_rss', 200 * MIB, 200 * MIB]);
  assert.deepStrictEqual(pool.tick().map((a) => [a.slot, a.reason]), [[0, 'memory_rss']]);
  const read = pool.readParent();
  assert.ok(read.rss > 0, JSON.stringify(read));
  st = pool.stats();
  assert.deepStrictEqual([st.parent.pid, st.parent.rss_bytes], [process.pid, read.rss]);
  assert.strictEqual(st.memory_limits.max_rss.bytes, 2 * read.rss);
  w.close();
  pool.close();
});

test('bad numbers are refused and change nothing', () => {
  const pool = new wl.Pool('', { slots: 2, manualClock: true });
  const w = pool.worker(0);
  const before = pool.statsJson();
  for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 32, '1', null]) {
    assert.throws(() => pool.spawned(1, bad), wl.ArgumentError, `pid ${bad}`);
  }
  assert.throws(() => pool.advance(NaN), wl.ArgumentError);
  assert.throws(() => pool.advance(-1), wl.ArgumentError);
  assert.throws(() => w.reportHealth({ rss: -1 }), wl.ArgumentError);
  assert.throws(() => w.reportHealth({ rss: 2n ** 64n }), wl.ArgumentError);
  assert.throws(() => w.reportHealth({ rss: 0.5 }), wl.ArgumentError);
  assert.strictEqual(pool.statsJson(), before, 'nothing was recorded');
  assert.throws(() => pool.worker(2), (e) => e instanceof wl.PoolError && e.codeName === 'WL_SLOT_OUT_OF_RANGE');
  assert.throws(() => pool.exited(999999, 0), (e) => e instanceof wl.PoolError && e.codeName === 'WL_UNKNOWN_PID');
  assert.throws(() => pool.exited(1, 'x'), wl.ArgumentError);
  assert.throws(() => pool.exited(1, { signal: 'SIGNOPE' }), wl.ArgumentError);
  w.close();
  pool.close();
});

test('a closed handle is refused, and closing twice is harmless', () => {
  const pool = new wl.Pool('', { slots: 1 });
  const w = pool.worker(0);
  w.close();
  w.close();
  assert.throws(() => w.begin(), (e) => e instanceof wl.ArgumentError && /closed/.test(e.message));
  pool.close();
  assert.throws(() => pool.tick(), wl.ArgumentError);
});

test("Node's (code, signal) is the wait status the pool wants", () => {
  assert.strictEqual(wl.waitStatus(0, null), 0);
  assert.strictEqual(wl.waitStatus(3, null), 3 << 8);
  assert.strictEqual(wl.waitStatus(null, 'SIGKILL'), 9);
  const pool = new wl.Pool('', { slots: 1, manualClock: true });
  pool.spawned(0, 4242);
  assert.strictEqual(pool.exited(4242, { code: null, signal: 'SIGKILL' }), 0);
  assert.strictEqual(pool.stats().crashes, 1);
  pool.close();
});

test('kill signals only the process the identity names', () => {
  assert.throws(() => wl.kill(process.pid, 'SIGTERM', 12345n), (e) => e instanceof wl.ProcessError && e.codeName === 'WL_IDENTITY_MISMATCH');
  assert.throws(() => wl.kill(process.pid, 'SIGNOPE', 1n), wl.ArgumentError);
});

test('a named pool: create refuses a live one, open replaces a dead one, attach sees it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wl-node-api-'));
  try {
    const file = path.join(dir, 'p.pool');
    const a = wl.Pool.create(file, 'max_requests=7', 3);
    assert.throws(() => wl.Pool.create(file, '', 3), (e) => e instanceof wl.SystemError && /a live process holds/.test(e.message));
    const b = wl.Pool.attach(file);
    assert.strictEqual(b.slots, 3);
    b.close();
    a.close();
    assert.ok(!fs.existsSync(file), "the maker's handle removes its file");
    const c = wl.Pool.open(file, '', 2);
    assert.strictEqual(c.removeIfLast(), true);
    c.close();
    assert.ok(!fs.existsSync(file));
    assert.throws(() => wl.Pool.attach(''), wl.ArgumentError);
    assert.throws(() => wl.Pool.attach('a\0b'), wl.ArgumentError);
    fs.writeFileSync(file, 'not a pool');
    assert.throws(() => wl.Pool.open(file, '', 2), wl.PoolError);
    assert.strictEqual(fs.readFileSync(file, 'utf8'), 'not a pool', 'a foreign file is left as it is');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a library that cannot be loaded is a clear error', () => {
  const r = spawnSync(process.execPath, ['-e', "require('./lib')"], {
    cwd: path.join(__dirname, '..'), env: { ...process.env, WORKERLIFE_LIB: '/nonexistent/libworkerlife.so' }, encoding: 'utf8',
  });
  assert.notStrictEqual(r.status, 0);
  assert.match(r.stderr, /cannot load the library \(set WORKERLIFE_LIB\)/);
});

test('the cluster directory must be private', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wl-node-dir-'));
  try {
    fs.chmodSync(dir, 0o755);
    assert.throws(() => wl.cluster.privateDir(dir), /mode 0700/);
    const link = `${dir}-link`;
    fs.chmodSync(dir, 0o700);
    fs.symlinkSync(dir, link);
    try {
      assert.throws(() => wl.cluster.privateDir(link), /not a symlink/);
    } finally {
      fs.unlinkSync(link);
    }
    assert.strictEqual(wl.cluster.privateDir(dir), dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the HTTP middleware and handler pass through outside a cluster worker', () => {
  let next = 0;
  wl.http.middleware()({}, { on() { throw new Error('not tracked here'); } }, () => { next++; });
  assert.strictEqual(next, 1);
  const res = { on() { throw new Error('not tracked here'); } };
  assert.strictEqual(wl.http.handler((req, r) => (r === res ? 'answered' : 'wrong'))({}, res), 'answered');
});

test('every number is checked before the call: refused naming the argument, nothing done', () => {
  const pool = new wl.Pool('', { slots: 2, manualClock: true });
  pool.spawned(0, 4242);
  const before = pool.statsJson();
  const refused = (f, name) => assert.throws(f, (e) => e instanceof wl.ArgumentError && e.codeName === 'WL_INVALID_ARGUMENT'
    && e.message.startsWith(`${name} must be`), `${f}`);
  // koffi would make 10.5 SIGUSR1, 2^32 + 9 status 9, 1e300 µs some u64.
  refused(() => wl.kill(process.pid, 10.5, 1n), 'signal');
  refused(() => wl.kill(process.pid, 0, 1n), 'signal');
  refused(() => wl.kill(process.pid, 65, 1n), 'signal');
  refused(() => wl.kill(process.pid, 'SIGTERM', -1), 'identity');
  refused(() => wl.kill(process.pid, 'SIGTERM', 2n ** 64n), 'identity');
  refused(() => wl.kill(2 ** 32, 'SIGTERM', 1n), 'pid');
  refused(() => pool.exited(4242, 2 ** 32 + 9), 'status');
  refused(() => pool.exited(4242, 2 ** 31), 'status');
  refused(() => pool.exited(4242, 0.5), 'status');
  refused(() => pool.exited(4242, { code: 256 }), 'code');
  refused(() => pool.exited(4242, { code: 1.5 }), 'code');
  refused(() => pool.exited(4242, { signal: 9.5 }), 'signal');
  refused(() => pool.exitedSlot(0, 2 ** 32 + 9), 'status');
  refused(() => pool.advance(1e300), 'seconds');
  refused(() => pool.advance(-1), 'seconds');
  refused(() => pool.advance('1'), 'seconds');
  refused(() => pool.reportContainer({ limit: 1.5 }), 'limit');
  refused(() => pool.reportContainer({ pressure: NaN }), 'pressure');
  refused(() => pool.reportContainer({ pressure: -1 }), 'pressure');
  refused(() => new wl.Pool('', { slots: 1, seed: NaN }), 'seed');
  refused(() => new wl.Pool('', { slots: 1.5 }), 'slots');
  refused(() => wl.hostSlots(4.5, '', []), 'workers');
  refused(() => pool.adoptAll([1, 2.5]), 'pids[1]');
  const w = pool.worker(0);
  for (const bad of [NaN, 10.5, 0.1, Infinity, -1, 65, 'SIGNOPE', {}]) refused(() => w.watchdog({ recycleSignal: bad }), 'recycleSignal');
  refused(() => w.watchdog({ intervalMs: -5 }), 'intervalMs');
  refused(() => w.reportHealth({ rss: 2n ** 64n - 3n }), 'rss');
  assert.strictEqual(pool.statsJson(), before, 'nothing was recorded');
  assert.strictEqual(pool.exited(4242, { code: 0 }), 0, 'the slot was still held');
  w.close();
  pool.close();
});

test('a host declares its capabilities by name; a rule it cannot carry out is refused naming key and host', () => {
  const pool = new wl.Pool('heartbeat_timeout=2s', { slots: 2, manualClock: true });
  assert.throws(() => pool.setHost('Puma', ['master_kills']), (e) => e instanceof wl.PolicyError && e.codeName === 'WL_NOT_FOR_HOST'
    && e.message.startsWith('heartbeat_timeout=2s: Puma sends no heartbeat') && /request_timeout/.test(e.message));
  assert.match(pool.startupLine(), /^workerlife on for this host: /, 'the refusal recorded nothing');
  assert.throws(() => pool.setHost('Puma', ['heartbeats']), (e) => e instanceof wl.ArgumentError && /caps must be .*not "heartbeats"/.test(e.message));
  assert.throws(() => pool.setHost('Puma', 'heartbeat'), wl.ArgumentError);
  assert.throws(() => pool.setHost('bad\nname', ['heartbeat']), wl.ArgumentError);
  assert.throws(() => wl.Policy.parse('max_surge=1').checkHost('Puma', ['master_kills']), (e) => e.codeName === 'WL_NOT_FOR_HOST' && /^max_surge=1: Puma/.test(e.message));
  pool.setHost(wl.cluster.HOST, wl.cluster.CAPS);
  assert.strictEqual(pool.startupLine(), 'workerlife on for Node cluster: policy heartbeat_timeout=2s, 2 slots; the host has heartbeats, surge, cancels requests, concurrent requests, master kills, watchdog kills, numbered workers, times each request');
  // Concurrent with no ticket and no cancel, request_timeout is refused; a ticket each lifts that.
  const timed = wl.Policy.parse('request_timeout=1s');
  assert.throws(() => timed.checkHost('H', ['concurrent', 'master_kills']), (e) => e.codeName === 'WL_NOT_FOR_HOST' && /requests at once/.test(e.message));
  timed.checkHost('H', ['concurrent', 'master_kills', 'tickets']);
  timed.close();
  assert.strictEqual(wl.hostSlots(4, 'max_surge=1', ['numbered']), 5);
  assert.strictEqual(wl.hostSlots(4, wl.Policy.parse(''), []), 16);
  pool.close();
});

test('round errors: each distinct text logged once, then counted at 10, 100...', () => {
  const pool = new wl.Pool('', { slots: 1 });
  const lines = [];
  for (let i = 0; i < 100; i++) lines.push(pool.roundError('tick: boom'), pool.roundError('tick: other'));
  const said = lines.filter((l) => l !== null);
  assert.deepStrictEqual(said, ['tick: boom', 'tick: other', 'tick: boom (seen 10 times)', 'tick: other (seen 10 times)',
    'tick: boom (seen 100 times)', 'tick: other (seen 100 times)']);
  assert.strictEqual(pool.roundError('a\0b'), 'a\\0b');
  assert.throws(() => pool.roundError(42), wl.ArgumentError);
  pool.close();
});

test('stats text in one call: JSON, JSON of the occupied slots, Prometheus', () => {
  const pool = new wl.Pool('max_requests=10', { slots: 3, manualClock: true });
  pool.spawned(1, 4242);
  const all = JSON.parse(pool.statsJson());
  const occupied = JSON.parse(pool.statsJsonOccupied());
  assert.strictEqual(all.per_slot.length, 3);
  assert.deepStrictEqual(occupied.per_slot.map((s) => s.pid), [4242]);
  assert.match(pool.prometheus(), /^# HELP workerlife_/);
  assert.match(pool.prometheus(), /\n# TYPE workerlife_\w+ (counter|gauge)\n/);
  pool.close();
  assert.throws(() => pool.statsJson(), wl.ArgumentError);
});

test("events carry the library's line and severity", () => {
  const pool = new wl.Pool('max_requests=2', { slots: 2, manualClock: true });
  pool.spawned(0, 4242);
  pool.spawned(1, 4343);
  const w = pool.worker(0);
  for (let i = 0; i < 2; i++) { w.begin(); w.end(); }
  pool.tick();
  pool.advance(1.5);
  pool.exited(4343, { code: null, signal: 'SIGKILL' });
  const events = pool.events();
  assert.deepStrictEqual(events.map((e) => [e.kind, e.slot, e.severity]),
    [['spawned', 0, 'info'], ['spawned', 1, 'info'], ['recycle_requested', 0, 'info'], ['exited', 1, 'warning']]);
  assert.strictEqual(events[0].line, 'spawned slot=0 pid=4242 gen=1 uptime=0.000s requests=0');
  assert.strictEqual(events[2].line, 'recycle_requested slot=0 pid=4242 gen=1 reason=max_requests (2 >= 2) uptime=0.000s requests=2');
  assert.deepStrictEqual([events[2].value, events[2].limit], [2, 2]);
  assert.strictEqual(events[3].line, 'exited slot=1 pid=4343 gen=1 uptime=1.500s requests=0 status=9 crash');
  w.close();
  pool.close();
});

// enforce is text (which rules act); a rule rehearsed gives a continue with
// its reason and figures (would), the primary files it once per generation
// as would_recycle (info) or would_kill (warning), overdue() names no
// request, and the stats count it.
test('a dress rehearsal decides every rule and acts on none', () => {
  assert.strictEqual(wl.Policy.parse('').get('enforce'), 'all');
  assert.strictEqual(wl.Policy.parse('enforce=off').get('enforce'), 'off');
  assert.strictEqual(wl.Policy.parse('enforce=max_rss+max_requests').get('enforce'), 'memory_rss+max_requests');
  const pool = new wl.Pool('max_requests=3,request_timeout=1s,enforce=off', { slots: 1, manualClock: true });
  pool.spawned(0, 4242);
  const w = pool.worker(0);
  for (let i = 0; i < 3; i++) {
    assert.strictEqual(w.begin(), false, 'no last request: nothing is enforced');
    assert.strictEqual(w.end(), false, 'max_requests is rehearsed: the worker serves on');
  }
  let d = pool.decision(0);
  assert.deepStrictEqual([d.action, d.reason, d.value, d.limit, d.would, d.mustExit], ['continue', 'max_requests', 3, 3, true, false]);
  assert.strictEqual(d.text, 'continue (would recycle: max_requests: 3 >= 3)');
  assert.deepStrictEqual(pool.tick(), []);
  assert.deepStrictEqual(pool.events().map((e) => [e.kind, e.severity]), [['spawned', 'info'], ['would_recycle', 'info']]);
  const t = w.beginTicket();
  pool.advance(2);
  d = w.decision();
  assert.deepStrictEqual([d.action, d.reason, d.would], ['continue', 'request_timeout', true]);
  // As the HTTP handler runs it: a loop that ends its own requests.
  w.onEventLoop();
  w.heartbeat();
  assert.deepStrictEqual(w.overdue(), [], 'a rehearsed request_timeout cancels nothing');
  assert.deepStrictEqual(pool.tick(), []);
  // The master's decision does not show it (the loop beats): the mark
  // waits one round for figures, then is filed without them.
  assert.deepStrictEqual(pool.events(), [], 'waiting a round for its figures');
  assert.deepStrictEqual(pool.tick(), []);
  const [kill, ...more] = pool.events();
  assert.deepStrictEqual([kill.kind, kill.severity, kill.reason], ['would_kill', 'warning', 'request_timeout']);
  assert.match(kill.line, /^would_kill slot=0 pid=4242 gen=1 reason=request_timeout uptime=/);
  assert.deepStrictEqual(more, [], 'once per generation and reason');
  w.endTicket(t);
  const stats = pool.stats();
  assert.strictEqual(stats.enforce, 'off');
  assert.deepStrictEqual([stats.would.max_requests, stats.would.request_timeout], [1, 1]);
  assert.deepStrictEqual([...stats.per_slot[0].would].sort(), ['max_requests', 'request_timeout']);
  assert.match(pool.prometheus(), /^workerlife_would_recycle_total\{reason="max_requests"\} 1$/m);
  assert.match(pool.prometheus(), /^workerlife_would_kill_total\{reason="request_timeout"\} 1$/m);
  w.close();
  pool.close();
  const none = new wl.Pool('', { slots: 1 });
  assert.strictEqual(none.decision(0).would, false);
  none.close();
});

test("adoptAll takes the server's children, passes over the known, refuses a stranger but adopts the rest", async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const pool = new wl.Pool('', { slots: 4 });
    assert.strictEqual(pool.adoptAll([]), 0);
    assert.throws(() => pool.adoptAll([1, child.pid]), (e) => e instanceof wl.ProcessError && e.codeName === 'WL_NOT_A_CHILD'
      && /pid 1 is not a child/.test(e.message) && e.adopted === 1);
    assert.strictEqual(pool.adoptAll([child.pid]), 0, 'known already');
    assert.throws(() => pool.adoptAll('1'), wl.ArgumentError);
    pool.close();
  } finally {
    child.kill('SIGKILL');
  }
});

test("the cluster's default pool name: the main script and a hash of its path and the working directory", () => {
  const a = wl.cluster.defaultName('/srv/app/server.js', '/srv/app');
  assert.match(a, /^server-[0-9a-f]{12}$/);
  assert.strictEqual(wl.cluster.defaultName('/srv/app/server.js', '/srv/app'), a);
  assert.notStrictEqual(wl.cluster.defaultName('/srv/other/server.js', '/srv/other'), a);
  assert.notStrictEqual(wl.cluster.defaultName('/srv/app/server.js', '/srv'), a);
  assert.match(wl.cluster.defaultName('/srv/my app/ü.mjs', '/'), /^_-[0-9a-f]{12}$/);
});

test("serveMetrics: the library's thread serves the pool's stats; a bad or taken address throws naming it; stop() closes the port", async () => {
  const net = require('node:net');
  // A raw HTTP/1.0 GET, done when the socket is closed: the server lingers
  // until its client closes, and stop() holds this event loop, the client's.
  const get = (port, urlPath) => new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(`GET ${urlPath} HTTP/1.0\r\nHost: x\r\n\r\n`));
    let text = '';
    s.setTimeout(5000, () => s.destroy(new Error(`GET ${urlPath}: timed out`)));
    s.on('data', (d) => { text += d; });
    s.on('error', reject);
    s.on('close', () => {
      const [head, ...body] = text.split('\r\n\r\n');
      resolve({ ok: /^HTTP\/1\.1 200 /.test(head), head, body: body.join('\r\n\r\n') });
    });
  });
  const refused = (port) => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(false); });
    s.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
  });
  const pool = new wl.Pool('max_requests=10', { slots: 2 });
  const taker = net.createServer();
  let m = null;
  try {
    pool.spawned(0, process.pid);
    m = pool.serveMetrics('127.0.0.1:0');
    assert.ok(Number.isInteger(m.port) && m.port > 0, `port ${m.port}`);
    const r = await get(m.port, '/metrics');
    assert.ok(r.ok, JSON.stringify(r));
    assert.match(r.body, /^workerlife_workers\{state="running"\} 1$/m);
    const stats = await get(m.port, '/stats');
    assert.ok(stats.ok && /\r\nContent-Type: application\/json\r\n/.test(stats.head), stats.head);
    assert.strictEqual(JSON.parse(stats.body).per_slot[0].pid, process.pid);

    for (const bad of ['nope', '127.0.0.1:99999', '127.0.0.1']) {
      assert.throws(() => pool.serveMetrics(bad), (e) => e instanceof wl.ArgumentError && e.codeName === 'WL_INVALID_ARGUMENT'
        && e.message.includes(`"${bad}"`), bad);
    }
    assert.throws(() => pool.serveMetrics(8080), (e) => e instanceof wl.ArgumentError && /^address must be/.test(e.message));
    assert.throws(() => pool.serveMetrics('127.0.0.1:0\0'), wl.ArgumentError);
    // A port another holds: ours (the library's server) and a Node listener's.
    assert.throws(() => pool.serveMetrics(`127.0.0.1:${m.port}`), (e) => e instanceof wl.SystemError && e.codeName === 'WL_IO'
      && e.message.includes(`"127.0.0.1:${m.port}"`) && /cannot serve there/.test(e.message));
    await new Promise((resolve, reject) => { taker.once('error', reject); taker.listen(0, '127.0.0.1', resolve); });
    const held = taker.address().port;
    assert.throws(() => pool.serveMetrics(`127.0.0.1:${held}`), (e) => e instanceof wl.SystemError && e.message.includes(`127.0.0.1:${held}`));

    const { port } = m;
    m.stop();
    assert.ok(await refused(port), 'the port is closed once stop() returns');
    m.stop(); // again: nothing
    assert.strictEqual(m.port, port, 'the port stays known');
  } finally {
    if (m) m.stop();
    taker.close();
    pool.close();
  }
});

test('tickets: each request timed on its own, the LAST bit, overdue, bad tickets refused with the library\'s message', () => {
  assert.strictEqual(wl.TICKET_LAST, 2 ** 52);
  assert.strictEqual(wl.TICKETS, 16);
  const pool = new wl.Pool('max_requests=3,request_timeout=1s', { slots: 2, manualClock: true });
  pool.spawned(0, process.pid);
  const w = pool.worker(0);
  const a = w.beginTicket();
  assert.ok(Number.isSafeInteger(a) && a >= 0 && a < wl.TICKET_LAST, String(a));
  assert.deepStrictEqual(w.overdue(), []);
  pool.advance(0.5);
  const b = w.beginTicket();
  pool.advance(0.6);
  // Only the request begun 1.1 s ago is past its time, not the one of 0.6 s.
  assert.deepStrictEqual(w.overdue(), [a]);
  assert.strictEqual(w.endTicket(a), false);
  assert.deepStrictEqual(w.overdue(), []);
  // Ended twice: refused, nothing counted.
  assert.throws(() => w.endTicket(a), (e) => e instanceof wl.PoolError && e.code === 307 && e.codeName === 'WL_BAD_TICKET'
    && /is not a request in flight in this worker/.test(e.message));
  assert.strictEqual(w.requests, 1);
  assert.strictEqual(w.endTicket(BigInt(b)), false);
  // The third request reaches max_requests: its LAST bit says so.
  const c = w.beginTicket();
  assert.ok(c >= wl.TICKET_LAST, String(c));
  assert.strictEqual(w.endTicket(c), true);
  // Another worker's ticket is refused there.
  pool.spawned(1, process.pid);
  const other = pool.worker(1);
  const d = other.beginTicket();
  assert.throws(() => w.endTicket(d), (e) => e.codeName === 'WL_BAD_TICKET');
  assert.strictEqual(other.endTicket(d), false);
  other.close();
  w.close();
  pool.close();
});

test('bad tickets are refused before the call, naming the argument; a closed worker is refused', () => {
  const pool = new wl.Pool('', { slots: 1, manualClock: true });
  pool.spawned(0, process.pid);
  const w = pool.worker(0);
  const t = w.beginTicket();
  for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53, 2 ** 64, -1n, 2n ** 53n, 2n ** 64n, '1', null, undefined, {}]) {
    assert.throws(() => w.endTicket(bad), (e) => e instanceof wl.ArgumentError && e.codeName === 'WL_INVALID_ARGUMENT'
      && /^ticket must be a ticket: an integer in \[0, 2\^53\)/.test(e.message), `ticket ${String(bad)}`);
  }
  // None of them ended the request in flight.
  assert.strictEqual(w.requests, 0);
  assert.strictEqual(w.endTicket(t), false);
  assert.strictEqual(w.requests, 1);
  w.close();
  assert.throws(() => w.beginTicket(), wl.ArgumentError);
  assert.throws(() => w.endTicket(t), wl.ArgumentError);
  assert.throws(() => w.overdue(), wl.ArgumentError);
  pool.close();
});

test('more requests in flight than a slot times: each ends once, only timed ones are overdue', () => {
  const pool = new wl.Pool('request_timeout=1s', { slots: 1, manualClock: true });
  pool.spawned(0, process.pid);
  const w = pool.worker(0);
  const tickets = Array.from({ length: wl.TICKETS + 4 }, () => w.beginTicket());
  pool.advance(2);
  const overdue = w.overdue();
  assert.strictEqual(overdue.length, wl.TICKETS);
  assert.deepStrictEqual([...overdue].sort(), tickets.slice(0, wl.TICKETS).sort());
  for (const t of tickets) assert.strictEqual(w.endTicket(t), false);
  assert.strictEqual(w.requests, wl.TICKETS + 4);
  assert.deepStrictEqual(w.overdue(), []);
  w.close();
  pool.close();
});
