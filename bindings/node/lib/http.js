'use strict';
// Each HTTP request a workerlife request: begin when it arrives, end when
// its response is finished (or the connection closes under it). On the
// request that is the worker's last, the response says `Connection: close`
// and, once it is sent, the worker leaves (cluster: disconnect()). Usable
// with Node's `http` (`http.createServer(workerlife.http.handler(app))`)
// and Express-style apps (`app.use(workerlife.http.middleware())`).

const clusterHelper = require('./cluster');

// One listener, shared by every response: 'close' follows 'finish' on a
// response that completed and comes alone on one whose connection went.
function onClose() {
  const c = clusterHelper.current();
  try {
    if (c && c.worker.end()) c.leave();
  } catch {
    // The slot was retired under a leaving worker: nothing left to count.
  }
}

function track(req, res) {
  const c = clusterHelper.current();
  if (!c) return;
  let last;
  try {
    last = c.worker.begin();
  } catch {
    return; // as above: not counted, still answered
  }
  if (last || c.leaving) res.setHeader('Connection', 'close');
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
