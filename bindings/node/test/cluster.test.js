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
  const start = (more = {}) => {
    const app = new App({ APP_PORT: String(port), APP_DIR: dir, APP_NAME: 'test', ...env, ...more });
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

test('a request holding the event loop is killed at request_timeout and the pool serves on', async (t) => {
  await withApp(t, { WORKERLIFE_POLICY: 'request_timeout=1s' }, async ({ start, port }) => {
    const app = await start().ready();
    const started = Date.now();
    const hung = await get(port, '/hang');
    const took = (Date.now() - started) / 1000;
    assert.ok(!hung.ok, 'the hung request failed');
    assert.ok(took < 5, `ended after ${took}s`);
    await until(() => app.find((l) => l.event === 'killed' && l.reason === 'request_timeout').length, 10000, 'the kill event');
    const after = await load(port, 20, 50);
    assert.deepStrictEqual(after.filter((x) => !x.ok), []);
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
