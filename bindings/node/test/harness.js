'use strict';
// A cluster app started by a test and stopped by it (its whole process
// group), even when the test fails; a load generator; waits on conditions
// with deadlines.

const { spawn } = require('node:child_process');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function until(cond, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

class App {
  constructor(env, { cwd } = {}) {
    this.lines = [];
    this.proc = spawn(process.execPath, [path.join(__dirname, 'apps', 'cluster_app.js')], {
      env: { ...process.env, ...env }, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.stderr = '';
    let buf = '';
    this.proc.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try { this.lines.push(JSON.parse(line)); } catch { this.lines.push({ text: line }); }
      }
    });
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    this.exited = new Promise((r) => this.proc.on('exit', (code, signal) => r({ code, signal })));
  }
  find(pred) { return this.lines.filter(pred); }
  /** The primary's log lines (text) that match `re`. */
  logs(re) { return this.find((l) => typeof l.log === 'string' && re.test(l.log)); }
  async ready() { await until(() => this.find((l) => l.ready).length, 20000, `the app to listen\n${this.stderr}`); return this; }
  /** SIGTERM, then whatever of its group is left: SIGKILL. */
  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 10000))]);
    }
    try { process.kill(-this.proc.pid, 'SIGKILL'); } catch { /* the group is gone */ }
  }
}

function get(port, urlPath = '/', timeoutMs = 15000) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ ok: res.statusCode === 200, body, status: res.statusCode }));
      res.on('error', (e) => resolve({ ok: false, error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ ok: false, error: e.message }));
  });
}

/** `n` requests at `rate` per second; all their results. */
async function load(port, n, rate, urlPath = '/') {
  const pending = [];
  for (let i = 0; i < n; i++) {
    pending.push(get(port, urlPath));
    await new Promise((r) => setTimeout(r, 1000 / rate));
  }
  return Promise.all(pending);
}

module.exports = { App, freePort, until, get, load };
