'use strict';
// One exception class per result family (the code's hundreds), each with
// the library's own message (it names the bad key, value, slot or pid).

const { C } = require('./ffi');

/** Every result code by its header name, read from the library: { WL_OK: 0, WL_UNKNOWN_PID: 303, ... }. */
const results = {};
for (let i = 0; i < 1000; i++) {
  const n = C.result_name(i);
  if (n) results[n] = i;
}
Object.freeze(results);

class WorkerLifeError extends Error {
  constructor(code, message) {
    super(message);
    this.name = this.constructor.name;
    this.code = code; // the wl_result number
    this.codeName = C.result_name(code) || `wl_result ${code}`;
  }
}
/** 1xx: a bad argument or handle (NULL, freed, out of range, bad UTF-8). */
class ArgumentError extends WorkerLifeError {}
/** 2xx: an unknown policy key or a bad value. */
class PolicyError extends WorkerLifeError {}
/** 3xx: a pool, slot or pool-file problem. */
class PoolError extends WorkerLifeError {}
/** 4xx: a process that is gone, reused or not ours. */
class ProcessError extends WorkerLifeError {}
/** 5xx: the system refused, or the platform lacks what the call needs. */
class SystemError extends WorkerLifeError {}
/** 9xx: a bug in workerlife, caught at its boundary. */
class InternalError extends WorkerLifeError {}

const FAMILIES = { 1: ArgumentError, 2: PolicyError, 3: PoolError, 4: ProcessError, 5: SystemError };

/** Throws for any result but WL_OK, with the calling thread's last message. */
function check(code) {
  if (code === 0) return;
  const Family = FAMILIES[Math.floor(code / 100)] || InternalError;
  throw new Family(code, C.last_error_text() || C.result_name(code) || `wl_result ${code}`);
}

module.exports = {
  results, check, WorkerLifeError, ArgumentError, PolicyError, PoolError, ProcessError, SystemError, InternalError,
};
