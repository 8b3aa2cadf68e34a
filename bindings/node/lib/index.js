'use strict';
// The package's entry: the core (Policy, Pool, Worker and the rest over the
// C ABI), the cluster helper and the HTTP handler, all loaded at once. The
// modules require one way only (library <- ffi <- errors <- core <- cluster
// <- http), never this file, so no load order can hand one a half-made
// module.

const core = require('./core');

module.exports = { ...core, cluster: require('./cluster'), http: require('./http') };
