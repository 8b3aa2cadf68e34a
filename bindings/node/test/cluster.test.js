'use strict';
// The cluster helper with real Node cluster processes (2 workers), started
// and stopped by each test.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { App, freePort, until, get, load } = require('./harness');

async function withApp(t, env, body) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wl-node-'));
  fs.chmodSync(dir, 0o700);
  const port = await freePort();
  const apps = [];
  const start = (more = {}, opts = {}) => {
    const app = new App({ APP_PORT: String(port), APP_DIR: dir, APP_NAME: 'test', ...env, ...more }, opts);
    apps.push(app);
    return app;
  };
  t.after(async () => {
    for (const a of apps) await a.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return body({ start, port, dir });
}

test('workers rotate every 5 requests at 50 req/s with no failed request', async (t) => {
  await withApp(t, { WORKERLIFE_POLICY: 'max_requests=5' }, async ({ start, port }) => {
    const app = await start().ready();
    const results = await load(port, 300, 50);
    const failed = results.filter((r) => !r.ok);
    assert.deepStrictEqual(failed, [], `${failed.length} failed: ${JSON.stringify(failed.slice(0, 3))}\n${app.stderr}`);
    const pids = new Set(results.map((r) => r.body));
    assert.ok(pids.size >= 20, `${pids.size} workers served 300 requests`);
    const recycles = app.find((l) => l.event === 'recycle_requested' && l.reason === 'max_requests');
    assert.ok(recycles.length >= 20, `${recycles.length} recycles`);
    assert.strictEqual(app.find((l) => l.crash).length, 0, 'no crash');
    // The library's line, once per event, at its severity.
    const lines = app.logs(/^workerlife: recycle_requested /);
    assert.ok(lines.length >= 20, `${lines.length} recycle lines`);
    assert.match(lines[0].log, /^workerlife: recycle_requested slot=\d+ pid=\d+ gen=\d+ reason=max_requests \(5 >= 5\) uptime=[\d.]+s requests=\d+ rss=[\d.]+MiB$/);
    assert.strictEqual(lines[0].severity, 'info');
    const startup = app.logs(/^workerlife: workerlife on for Node cluster: /);
    assert.strictEqual(startup.length, 1, 'one start-up line');
    assert.match(startup[0].log, /policy max_requests=5,max_surge=1, 3 slots; the host has heartbeats, surge, cancels requests, concurrent requests, master kills, watchdog kills, numbered workers, times each request$/);
  });
});

// A dress rehearsal (enforce=off): max_requests=5 trips in each worker that
// serves 5, the primary logs its would_recycle once per worker, and no
// worker is recycled: the same two serve every request.
test('enforce=off: would_recycle logged, no worker recycled', async (t) => {
  await withApp(t, { WORKERLIFE_POLICY: 'max_requests=5,enforce=off' }, async ({ start, port }) => {
    const app = await start().ready();
    const pids = app.find((l) => l.listening).map((l) => l.listening).sort();
    const results = await load(port, 30, 20);
    assert.deepStrictEqual(results.filter((r) => !r.ok), [], app.stderr);
    const served = new Map();
    for (const r of results) served.set(Number(r.body), (served.get(Number(r.body)) ?? 0) + 1);
    assert.deepStrictEqual([...served.keys()].filter((p) => !pids.includes(p)), [], 'served by a worker started later');
    const tripped = [...served].filter(([, n]) => n >= 5).map(([p]) => p);
    assert.ok(tripped.length >= 1, JSON.stringify([...served]));
    const would = (pid) => app.logs(new RegExp(`^workerlife: would_recycle slot=\\d+ pid=${pid} gen=\\d+ reason=max_requests \\(\\d+ >= 5\\) `));
    await until(() => tripped.every((pid) => would(pid).length), 10000, `a would_recycle for each of ${tripped}`);
    for (const pid of tripped) {
      assert.strictEqual(would(pid).length, 1, 'once per generation');
      assert.strictEqual(would(pid)[0].severity, 'info');
    }
    const events = app.find((l) => l.event === 'would_recycle').map((l) => [l.pid, l.reason]).sort();
    assert.deepStrictEqual(events.filter(([p]) => tripped.includes(p)), tripped.sort().map((p) => [p, 'max_requests']), 'onEvent too');
    assert.deepStrictEqual(app.find((l) => ['recycle_requested', 'killed', 'exited'].includes(l.event)), []);
    assert.deepStrictEqual(app.find((l) => l.listening).map((l) => l.listening).sort(), pids, 'no worker replaced');
    for (const pid of pids) process.kill(pid, 0);
  });
});

// A rehearsed request_timeout cancels nothing: a request past it is
// answered by the app, the primary logs a would_kill at warning.
test('request_timeout=1s,enforce=off: a late request is answered, not cancelled; would_kill logged', async (t) => {
  await withApp(t, { WORKERLIFE_POLICY: 'request_timeout=1s,enforce=off', APP_WORKERS: '1' }, async ({ start, port }) => {
    const app = await start().ready();
    const [pid] = app.find((l) => l.listening).map((l) => l.listening);
    const late = await get(port, '/late');
    assert.deepStrictEqual([late.status, late.body], [200, String(pid)]);
    const [line] = await until(() => {
      const got = app.logs(/^workerlife: would_kill /);
      return got.length && got;
    }, 5000, 'the would_kill line');
    assert.match(line.log, new RegExp(`^workerlife: would_kill slot=\\d+ pid=${pid} gen=\\d+ reason=request_timeout[ (]`));
    assert.strictEqual(line.severity, 'warning');
    assert.deepStrictEqual(app.logs(/request_cancelled/), []);
    assert.deepStrictEqual(app.find((l) => l.event === 'killed' || l.event === 'exited'), []);
    assert.ok((await get(port)).ok);
    process.kill(pid, 0);
  });
});

test('a worker leaking 1 MiB a request is recycled a few MiB past max_rss', async (t) => {
  await withApp(t, { WORKERLIFE_POLICY: 'max_rss=120MiB,sample_interval=50ms' }, async ({ start, port }) => {
    const app = await start().ready();
    const results = [];
    await until(async () => {
      results.push(await get(port, '/leak'));
      return app.find((l) => l.event === 'recycle_requested' && l.reason === 'memory_rss').length;
    }, 60000, 'a memory_rss recycle');
    const [r] = app.find((l) => l.event === 'recycle_requested' && l.reason === 'memory_rss');
    const mib = r.rss / (1 << 20);
    assert.ok(mib >= 120 && mib <= 128, `recycled at ${mib.toFixed(1)} MiB`);
    assert.deepStrictEqual(results.filter((x) => !x.ok), []);
  });
});

/** Sends `/` from each of `n` clients, one request after another, until `done()`; every result. */
async function keepSending(port, n, done) {
  const clients = Array.from({ length: n }, async () => {
    const results = [];
    while (!done()) results.push(await get(port, '/'));
    return results;
  });
  return (await Promise.all(clients)).flat();
}

for (const workers of [1, 2]) {
  test(`request_timeout=1s, ${workers} worker(s): a stuck request alone gets its 504 while 3 clients are served, no worker lost`, async (t) => {
    await withApp(t, { WORKERLIFE_POLICY: 'request_timeout=1s', APP_WORKERS: String(workers) }, async ({ start, port }) => {
      const app = await start().ready();
      const pids = app.find((l) => l.listening).map((l) => l.listening).sort();
      assert.strictEqual(pids.length, workers);
      // No longer refused: the host cancels one request alone.
      const [startup] = app.logs(/^workerlife: workerlife on for Node cluster: /);
      assert.ok(startup && !/refused here/.test(startup.log), JSON.stringify(startup));
      let stuck = null;
      const sent = Date.now();
      const held = get(port, '/stuck').then((r) => { stuck = { ...r, after: Date.now() - sent }; });
      const others = keepSending(port, 3, () => stuck !== null);
      await until(() => stuck, 10000, 'the stuck request to end');
      await held;
      const served = await others;
      // At its time, within 2x: a 504 that closes its connection (or the connection closed).
      assert.ok(stuck.after >= 950 && stuck.after <= 2000, `the stuck request ended after ${stuck.after} ms`);
      assert.ok(stuck.status === 504 ? stuck.body === 'request_timeout\n' : stuck.error, JSON.stringify(stuck));
      const failed = served.filter((r) => !r.ok);
      assert.deepStrictEqual(failed, [], `${failed.length} of ${served.length} failed`);
      assert.ok(served.length >= 15, `${served.length} requests served meanwhile`);
      assert.ok(served.every((r) => pids.includes(Number(r.body))), 'served by the same workers');
      // The line of the Python middleware, from the worker that held it, and its event.
      const [{ stuck: who }] = app.find((l) => l.stuck);
      const lines = await until(() => {
        const got = app.logs(/request_cancelled/);
        return got.length && got;
      }, 5000, 'the request_cancelled line');
      assert.strictEqual(lines.length, 1, JSON.stringify(lines));
      assert.strictEqual(lines[0].log, `workerlife: worker ${who} request_cancelled GET '/stuck': request_timeout 1s`);
      assert.strictEqual(lines[0].severity, 'warning');
      assert.deepStrictEqual(app.find((l) => l.event === 'request_cancelled').map((l) => [l.pid, l.reason]), [[who, 'request_timeout']]);
      // The worker lives, and serves on.
      assert.deepStrictEqual(app.find((l) => l.event === 'killed' || l.event === 'exited'), []);
      const after = await Promise.all(Array.from({ length: 4 * workers }, () => get(port, '/')));
      assert.ok(after.every((r) => r.ok && pids.includes(Number(r.body))), JSON.stringify(after));
      assert.deepStrictEqual(app.find((l) => l.listening).map((l) => l.listening).sort(), pids, 'no worker replaced');
      process.kill(who, 0);
    });
  });
}

test('request_timeout=1s: an app writing to a cancelled response later is ignored, a response already started is cut short', async (t) => {
  await withApp(t, { WORKERLIFE_POLICY: 'request_timeout=1s', APP_WORKERS: '1' }, async ({ start, port }) => {
    const app = await start().ready();
    const [pid] = app.find((l) => l.listening).map((l) => l.listening);
    const late = await get(port, '/late');
    assert.deepStrictEqual([late.status, late.body], [504, 'request_timeout\n']);
    const partial = await get(port, '/partial');
    assert.ok(!partial.ok && partial.error, JSON.stringify(partial));
    // Both answered after their cancel, into a closed connection: nothing thrown.
    await until(() => app.find((l) => l.wrote === pid).length === 2, 5000, 'the app\'s late writes');
    assert.ok((await get(port)).ok);
    assert.strictEqual(app.logs(/request_cancelled GET '\/(late|partial)': request_timeout 1s$/).length, 2);
    assert.deepStrictEqual(app.find((l) => l.event === 'killed' || l.event === 'exited'), []);
    assert.doesNotMatch(app.stderr, /Error/);
    process.kill(pid, 0);
  });
});

test('request_timeout=1s: a handler that holds the event loop is still killed, and the other worker serves on', async (t) => {
  // The timer that cancels a request runs on the loop: a held loop stops
  // its beats too, and the watchdog or the primary kills the worker.
  await withApp(t, { WORKERLIFE_POLICY: 'request_timeout=1s' }, async ({ start, port }) => {
    const app = await start().ready();
    const held = get(port, '/hang');
    const who = await until(() => app.find((l) => l.hang)[0]?.hang, 5000, 'a worker to take /hang');
    const [killed] = await until(() => {
      const got = app.find((l) => l.event === 'killed' && l.pid === who);
      return got.length && got;
    }, 10000, 'the held worker killed'); // due at 1 s; the margin is for a loaded machine
    assert.strictEqual(killed.reason, 'request_timeout');
    assert.ok(!(await held).ok);
    await until(() => app.find((l) => l.listening).length === 3, 10000, 'its replacement');
    assert.ok((await get(port)).ok);
    assert.deepStrictEqual(app.logs(/request_cancelled/), [], 'a held loop cancels nothing');
  });
});

test('a primary SIGKILLed and started again reuses its pool path', async (t) => {
  await withApp(t, {}, async ({ start, port }) => {
    const first = await start().ready();
    const [{ pool }] = first.find((l) => l.pool);
    process.kill(first.proc.pid, 'SIGKILL');
    await first.exited;
    try { process.kill(-first.proc.pid, 'SIGKILL'); } catch { /* gone with their primary */ }
    assert.ok(fs.existsSync(pool), 'the killed primary left its pool file');
    const second = await start().ready();
    const [{ pool: again }] = second.find((l) => l.pool);
    assert.strictEqual(again, pool);
    assert.ok((await get(port)).ok);
  });
});

test('heartbeat_timeout=2s: idle workers live through 3x the timeout, a held event loop is killed', async (t) => {
  await withApp(t, { WORKERLIFE_POLICY: 'heartbeat_timeout=2s' }, async ({ start, port }) => {
    const app = await start().ready();
    const pids = app.find((l) => l.listening).map((l) => l.listening);
    const idleUntil = Date.now() + 6000;
    // Polls for a kill or a new worker all through the 6 s; either fails at once.
    await until(() => {
      const changed = app.find((l) => l.event === 'killed' || l.listening).length !== pids.length;
      if (changed) throw new Error(`a worker was replaced while idle: ${JSON.stringify(app.lines.slice(-6))}`);
      return Date.now() >= idleUntil;
    }, 10000, 'the idle 6 s');
    assert.deepStrictEqual(app.find((l) => l.event === 'killed'), []);
    const served = await get(port);
    assert.ok(served.ok && pids.includes(Number(served.body)), `served by ${served.body}, workers ${pids}`);
    // The beat comes from the event loop: a loop held past the timeout stops it.
    const held = get(port, '/hang');
    await until(() => app.find((l) => l.event === 'killed' && l.reason === 'heartbeat_timeout').length, 8000, 'a heartbeat kill');
    assert.ok(!(await held).ok);
  });
});

test('a second primary of the same name is refused at start, the first serves on', async (t) => {
  await withApp(t, {}, async ({ start, port }) => {
    const first = await start().ready();
    const second = start();
    const { code } = await second.exited;
    assert.notStrictEqual(code, 0);
    assert.match(second.stderr, /another primary named "test" is running .*one pool, one master/);
    assert.strictEqual(second.find((l) => l.listening).length, 0, 'the second forked no worker');
    assert.ok((await get(port)).ok);
    assert.deepStrictEqual(first.find((l) => l.event === 'exited' || l.event === 'killed'), []);
  });
});

test('a primary SIGKILLed while a worker is busy is started again at once; the old worker is left its own pool', async (t) => {
  await withApp(t, {}, async ({ start, port }) => {
    const first = await start().ready();
    const [{ pool }] = first.find((l) => l.pool);
    get(port, '/hang'); // holds one worker's event loop for 10 s (ended with the old group by the cleanup)
    const busy = await until(() => first.find((l) => l.hang)[0]?.hang, 5000, 'the worker to take /hang');
    process.kill(first.proc.pid, 'SIGKILL');
    await first.exited;
    const second = await start().ready();
    process.kill(busy, 0); // the old worker is alive still, holding the old pool
    const [{ pool: again }] = second.find((l) => l.pool);
    assert.strictEqual(again, pool);
    assert.ok((await get(port)).ok);
    const [held] = second.logs(/was still held by workers of a primary that is gone \(pids [\d, ]*\b/);
    assert.ok(held, JSON.stringify(second.lines.slice(0, 4)));
    assert.match(held.log, new RegExp(`\\b${busy}\\b`));
    assert.strictEqual(held.severity, 'warning');
  });
});

test('a failed fork (EAGAIN) leaves the primary up: logged once, then counted, forked again', async (t) => {
  await withApp(t, { APP_FAIL_FORKS: '14' }, async ({ start, port }) => {
    const app = await start().ready();
    const failed = app.logs(/cannot fork a worker/);
    assert.strictEqual(failed.length, 2, JSON.stringify(failed));
    assert.match(failed[0].log, /^workerlife: .*cannot fork a worker \(spawn .* EAGAIN\); trying again at the next tick/);
    assert.match(failed[1].log, /seen 10 times/);
    assert.strictEqual(failed[0].severity, 'error');
    assert.ok((await get(port)).ok);
  });
});

test('a bad policy stops the start, naming the setting and the key', async (t) => {
  await withApp(t, { WORKERLIFE_POLICY: 'max_request=5' }, async ({ start }) => {
    const app = start();
    const { code } = await app.exited;
    assert.notStrictEqual(code, 0);
    assert.match(app.stderr, /WORKERLIFE_POLICY: .*max_request/);
  });
});

test('two apps with default options on one host do not share a pool', async (t) => {
  const cwds = [0, 1].map(() => fs.mkdtempSync(path.join(os.tmpdir(), 'wl-node-cwd-')));
  t.after(() => { for (const d of cwds) fs.rmSync(d, { recursive: true, force: true }); });
  await withApp(t, { APP_NAME: '' }, async ({ start }) => {
    const a = start({ APP_PORT: String(await freePort()) }, { cwd: cwds[0] });
    const b = start({ APP_PORT: String(await freePort()) }, { cwd: cwds[1] });
    await a.ready();
    await b.ready();
    const [pa, pb] = [a, b].map((x) => x.find((l) => l.pool)[0].pool);
    assert.notStrictEqual(pa, pb);
    assert.match(path.basename(pa), /^cluster_app-[0-9a-f]{12}\.pool$/);
  });
});

test('WORKERLIFE_METRICS: the primary serves the pool\'s series until it stops', async (t) => {
  const mport = await freePort();
  await withApp(t, { WORKERLIFE_POLICY: 'max_requests=5', WORKERLIFE_METRICS: `127.0.0.1:${mport}` }, async ({ start, port }) => {
    const app = await start().ready();
    assert.strictEqual(app.logs(new RegExp(`^workerlife: serving the pool's stats at http://127\\.0\\.0\\.1:${mport}/metrics$`)).length, 1);
    const results = await load(port, 20, 50);
    assert.deepStrictEqual(results.filter((r) => !r.ok), []);
    const text = await until(async () => {
      const r = await get(mport, '/metrics', 5000);
      return r.ok && /^workerlife_recycles_total\{reason="max_requests"\} [1-9]/m.test(r.body) && r.body;
    }, 10000, 'max_requests recycles counted at /metrics');
    assert.match(text, /^workerlife_workers\{state="running"\} \d+$/m);
    assert.match(text, /^workerlife_requests_total (\d+)$/m);
    assert.ok(Number(/^workerlife_requests_total (\d+)$/m.exec(text)[1]) >= 20, text);
    const stats = await get(mport, '/stats', 5000);
    assert.ok(stats.ok && JSON.parse(stats.body).per_slot.length === 3, stats.body);
    await app.stop();
    assert.strictEqual((await app.exited).code, 0);
    const after = await get(mport, '/metrics', 2000);
    assert.ok(!after.ok && /ECONNREFUSED/.test(after.error), JSON.stringify(after));
  });
});

test('a metrics address that cannot be served stops the start, naming the setting and the address', async (t) => {
  const net = require('node:net');
  const taker = net.createServer();
  t.after(() => taker.close());
  await new Promise((resolve, reject) => { taker.once('error', reject); taker.listen(0, '127.0.0.1', resolve); });
  const held = `127.0.0.1:${taker.address().port}`;
  await withApp(t, { WORKERLIFE_METRICS: held }, async ({ start, dir }) => {
    const app = start();
    const { code } = await app.exited;
    assert.notStrictEqual(code, 0);
    assert.match(app.stderr, new RegExp(`WORKERLIFE_METRICS: metrics address "${held}": cannot serve there`));
    assert.strictEqual(app.find((l) => l.listening).length, 0, 'no worker was forked');
    assert.deepStrictEqual(app.logs(/workerlife on for/), [], 'no start-up line');
    assert.deepStrictEqual(fs.readdirSync(dir), [], 'the pool and the name are released');
    // options.metrics wins over the environment, and is named in its turn.
    const opt = start({ WORKERLIFE_METRICS: '127.0.0.1:0', APP_METRICS: 'nowhere' });
    assert.notStrictEqual((await opt.exited).code, 0);
    assert.match(opt.stderr, /options\.metrics: metrics address "nowhere": expected HOST:PORT/);
  });
});
