'use strict';
// The Node binding's API: values normalised, bad input refused with the
// library's message and nothing changed, handles closed for good, the
// library's ABI checked at load.

const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const wl = require('../lib');

test('constants and names come from the library', () => {
  assert.strictEqual(wl.results.WL_OK, 0);
  assert.strictEqual(wl.results.WL_UNKNOWN_PID, 303);
  assert.ok(wl.reasons.includes('max_requests') && wl.reasons.includes('container_memory'));
  assert.match(wl.version, /^\d+\.\d+\.\d+$/);
  assert.strictEqual(wl.abiVersion, 1);
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
