'use strict';
// Each HTTP request a workerlife request with its own ticket: begun when it
// arrives, given back exactly once, when its response closes (finished, or
// its connection gone) or when it is cancelled. On the request that is the
// worker's last, the response says `Connection: close` and, once it is
// sent, the worker leaves (cluster: disconnect()). Usable with Node's
// `http` (`http.createServer(workerlife.http.handler(app))`) and
// Express-style apps (`app.use(workerlife.http.middleware())`).
//
// With request_timeout, a timer on the event loop beats the slot and asks
// the library for the requests past their time (`overdue()`); each is
// cancelled alone (a 504, its connection closed) and the worker lives. The
// slot is marked as such a loop (`onEventLoop()`), so the worker is killed
// for a request only once the loop has stopped beating too: a handler that
// blocks the loop is still ended by the watchdog or the primary.

const clusterHelper = require('./cluster');
const { TICKET_LAST } = require('./core');

// The ticket of a response's request, until it is given back.
const TICKET = Symbol('workerlife.ticket');

// What a cancelled request gets when no header was sent yet: the Python
// middleware's answer. Written to the socket itself, not through the
// response: the app still holds the response and may write to it later,
// which must then be dropped, not throw (a response that sent its headers
// throws on writeHead()).
const BODY = 'request_timeout\n';
const TIMED_OUT = Buffer.from('HTTP/1.1 504 Gateway Timeout\r\n'
  + 'Content-Type: text/plain; charset=utf-8\r\n'
  + `Content-Length: ${Buffer.byteLength(BODY)}\r\n`
  + 'Connection: close\r\n\r\n'
  + BODY);

// The cancelling timer of this worker, made at its first request timed:
// { c: the cluster worker's handle, inFlight: ticket (LAST clear) -> response, timer }.
let timing = null;

/** Gives the ticket of `res` back, once: later calls do nothing. */
function release(res) {
  const t = res[TICKET];
  if (t === undefined) return;
  res[TICKET] = undefined;
  const c = clusterHelper.current();
  if (!c) return;
  if (timing !== null) {
    const key = t % TICKET_LAST;
    // Requests past the 16 a slot times share one ticket: delete only our own entry.
    if (timing.inFlight.get(key) === res) timing.inFlight.delete(key);
  }
  try {
    if (c.worker.endTicket(t)) c.leave();
  } catch {
    // The slot was retired under a leaving worker: nothing left to count.
  }
}

// One listener, shared by every response: 'close' follows 'finish' on a
// response that completed and comes alone on one whose connection went.
function onClose() {
  release(this);
}

/** The path as the Python middleware logs it (ASGI's: no query, percent-decoded). */
function pathOf(url) {
  const q = url.indexOf('?');
  const raw = q < 0 ? url : url.slice(0, q);
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Python's repr() of a string, as the Python middleware's line has it; no control character gets through. */
function pyRepr(s) {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = q;
  for (const ch of s) {
    const cp = ch.codePointAt(0);
    if (ch === '\\' || ch === q) out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || (cp >= 0x7f && cp <= 0xa0)) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + q;
}

/** Ends one request past request_timeout alone: its ticket back, a line, a 504 or its connection closed. */
function cancel(c, res) {
  const req = res.req;
  release(res);
  const limit = String(Number(c.requestTimeout.toPrecision(6)));
  const method = req?.method ?? '?';
  const path = pathOf(req?.url ?? '?');
  const line = `worker ${process.pid} request_cancelled ${method} ${pyRepr(path)}: request_timeout ${limit}s`;
  try {
    c.log(`workerlife: ${line}`, 'warning');
    if (c.onEvent) {
      c.onEvent(Object.freeze({
        kind: 'request_cancelled', pid: process.pid, reason: 'request_timeout', limit: c.requestTimeout,
        method, path, line, severity: 'warning',
      }));
    }
  } finally {
    const sock = res.socket;
    if (!res.headersSent && sock && !sock.destroyed) {
      sock.write(TIMED_OUT);
      sock.destroySoon(); // closed once the 504 is written
    } else {
      // Headers sent (the client sees its response cut short), or the
      // response waits behind another on a pipelined connection.
      (sock ?? req?.socket)?.destroy();
    }
  }
}

function sweep(state) {
  let overdue;
  try {
    state.c.worker.heartbeat();
    overdue = state.c.worker.overdue();
  } catch {
    clearInterval(state.timer); // the slot is gone: this worker is on its way out
    return;
  }
  for (const t of overdue) {
    // A ticket begun outside this handler (worker.begin()) is not ours to end.
    const res = state.inFlight.get(t);
    if (res !== undefined) cancel(state.c, res);
  }
}

/**
 * Starts cancelling for the cluster worker `c`: its slot says the loop ends
 * its own requests, and a timer beats it and ends the overdue ones every
 * quarter of request_timeout, at most 250 ms apart (the slot wants a beat
 * within half of it; a cancel comes at most that late). Unref'd: it never
 * keeps the worker alive. Null when the slot is gone.
 */
function startTiming(c) {
  try {
    c.worker.onEventLoop();
  } catch {
    return null;
  }
  const every = Math.max(1, Math.min(250, Math.floor((c.requestTimeout * 1000) / 4)));
  const state = { c, inFlight: new Map(), timer: null };
  state.timer = setInterval(sweep, every, state);
  state.timer.unref();
  return state;
}

function track(req, res) {
  const c = clusterHelper.current();
  if (!c) return;
  let t;
  try {
    t = c.worker.beginTicket();
  } catch {
    return; // as above: not counted, still answered
  }
  if (t >= TICKET_LAST || c.leaving) res.setHeader('Connection', 'close');
  res[TICKET] = t;
  if (c.requestTimeout > 0) {
    if (timing === null || timing.c !== c) {
      if (timing !== null) clearInterval(timing.timer);
      timing = startTiming(c);
    }
    if (timing !== null) timing.inFlight.set(t % TICKET_LAST, res);
  }
  res.on('close', onClose);
}

/** Express-style: `app.use(middleware())`. */
function middleware() {
  return (req, res, next) => {
    track(req, res);
    next();
  };
}

/** Wraps a `(req, res)` handler for `http.createServer`. */
function handler(app) {
  return (req, res) => {
    track(req, res);
    return app(req, res);
  };
}

module.exports = { middleware, handler, track };
