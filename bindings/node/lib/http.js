'use strict';
// Each HTTP request a workerlife request: begin when it arrives, end when
// its response is finished (or the connection closes under it). On the
// request that is the worker's last, the response says `Connection: close`
// and, once it is sent, the worker leaves (cluster: disconnect()). Usable
// with Node's `http` (`http.createServer(workerlife.http.handler(app))`)
// and Express-style apps (`app.use(workerlife.http.middleware())`).

const clusterHelper = require('./cluster');

function track(req, res) {
  const c = clusterHelper.current();
  if (!c) return;
  const w = c.worker;
  let ended = false;
  if (w.begin() || c.leaving) res.setHeader('Connection', 'close');
  const end = () => {
    if (ended) return;
    ended = true;
    if (w.end()) c.leave();
  };
  res.once('finish', end);
  res.once('close', end);
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
