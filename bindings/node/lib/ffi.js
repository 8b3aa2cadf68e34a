'use strict';
// The C ABI through koffi (the maintained FFI for Node; ffi-napi is
// abandoned). Every declaration mirrors include/workerlife.h; the ABI
// version, the structs' sizes and each field's offset are checked against
// the library's own answers before anything else is called, so a library
// whose structs changed (even two fields of one size swapped) is refused
// instead of misread.

const fs = require('node:fs');
const path = require('node:path');
const koffi = require('koffi');
const library = require('./library');

// The ABI this binding was written for (the header's WL_ABI_VERSION).
const ABI_VERSION = 2;
// The library must be the package's own release: package.json's version is
// the workspace's (a test holds them equal), the one every library of that
// release reports.
const PACKAGE_VERSION = JSON.parse(fs.readFileSync(path.join(library.PACKAGE, 'package.json'), 'utf8')).version;

/** An Error that says which file could not be used, and why. */
function refused(why) {
  return new Error(`workerlife: cannot load the library (set WORKERLIFE_LIB): ${why}`);
}

/**
 * Opens the first library of library.candidates() that exists, and only
 * that one: a broken file is reported, not passed over. Returns { lib, file }.
 */
function load() {
  const { list, notes } = library.candidates();
  const missing = [];
  for (const { file, from, system } of list) {
    // A bare name is the loader's to look up; a path must be there.
    if (!system && file.includes('/') && !fs.existsSync(file)) {
      missing.push(`${file} (${from}): not found`);
      continue;
    }
    const where = `${file} (${from})`;
    const cut = library.truncated(file);
    if (cut) throw refused(`${where}: ${cut}`);
    try {
      return { lib: koffi.load(file), file };
    } catch (e) {
      throw refused([...notes, ...missing, `${where}: ${e.message}`].join('; '));
    }
  }
  throw refused([...notes, ...missing].join('; '));
}

const { lib, file: LIBRARY_FILE } = load();

// The ABI first, before any other symbol is looked up: a library of
// another ABI may lack some, and its number is the clearer answer.
{
  let abi;
  try {
    abi = lib.func('wl_abi_version', 'uint32_t', [])();
  } catch (e) {
    throw refused(`${LIBRARY_FILE}: not workerlife's library (${e.message})`);
  }
  if (abi !== ABI_VERSION) {
    throw new Error(`workerlife: ${LIBRARY_FILE} has ABI version ${abi}, this binding needs ${ABI_VERSION}: use the library of this package's release (${PACKAGE_VERSION})`);
  }
}

const opaque = (name) => koffi.pointer(koffi.opaque(name));
const wl_policy = opaque('wl_policy');
const wl_pool = opaque('wl_pool');
const wl_worker = opaque('wl_worker');
const wl_watchdog = opaque('wl_watchdog');
const wl_metrics = opaque('wl_metrics');

const wl_pool_options = koffi.struct('wl_pool_options', {
  slots: 'uint32_t', sharing: 'uint32_t', path: 'const char *',
  manual_clock: 'bool', has_seed: 'bool', seed: 'uint64_t',
});
const wl_decision = koffi.struct('wl_decision', {
  action: 'uint32_t', reason: 'uint32_t', value: 'uint64_t', limit: 'uint64_t',
});
const wl_pool_action = koffi.struct('wl_pool_action', {
  kind: 'uint32_t', slot: 'uint32_t', pid: 'uint32_t', reason: 'uint32_t',
  generation: 'uint32_t', replaces: 'uint32_t', identity: 'uint64_t', not_before_us: 'uint64_t',
});
const wl_event = koffi.struct('wl_event', {
  kind: 'uint32_t', slot: 'uint32_t', pid: 'uint32_t', generation: 'uint32_t', reason: 'uint32_t',
  status: 'int32_t', has_status: 'bool', crash: 'bool', oom_killed: 'bool',
  at_us: 'uint64_t', uptime_us: 'uint64_t', requests: 'uint64_t', rss: 'uint64_t', delay_us: 'uint64_t',
  growth_per_request: 'double', growth_per_second: 'double',
  growth_requests: 'uint64_t', growth_seconds: 'double', value: 'uint64_t', limit: 'uint64_t',
});
const wl_health = koffi.struct('wl_health', {
  rss: 'uint64_t', uss: 'uint64_t', pss: 'uint64_t', fds: 'uint64_t',
});
const wl_container_reading = koffi.struct('wl_container_reading', {
  limit: 'uint64_t', working_set: 'uint64_t', anon: 'uint64_t', file: 'uint64_t',
  oom_kills: 'uint64_t', pressure_some_avg10: 'double',
});
const wl_sample = koffi.struct('wl_sample', {
  pid: 'uint32_t', start_time: 'uint64_t', rss: 'uint64_t', fds: 'uint64_t', uss: 'uint64_t', pss: 'uint64_t',
});

const STRUCTS = {
  wl_pool_options, wl_decision, wl_pool_action, wl_event, wl_health, wl_container_reading, wl_sample,
};

const R = 'uint32_t'; // wl_result

// A string the library allocates and the caller owns (stats text, the
// start-up line, a round error's line): koffi converts it to a JS string
// and then hands the pointer to wl_string_free, every time, so none leaks.
const string_free = lib.func('wl_string_free', 'void', ['void *']);
const owned_string = koffi.disposable('wl_owned_string', 'const char *', string_free);
const out = (t) => koffi.out(koffi.pointer(t));
const fn = (name, ret, args) => lib.func(name, ret, args);

const C = {
  abi_version: fn('wl_abi_version', 'uint32_t', []),
  layout_version: fn('wl_layout_version', 'uint32_t', []),
  struct_size: fn('wl_struct_size', 'size_t', ['const char *']),
  struct_offset: fn('wl_struct_offset', 'size_t', ['const char *', 'const char *']),
  constant: fn('wl_constant', R, ['const char *', out('uint64_t')]),
  version: fn('wl_version', 'const char *', []),
  result_name: fn('wl_result_name', 'const char *', ['uint32_t']),
  last_error_text: fn('wl_last_error_text', 'const char *', []),
  decision_string: fn('wl_decision_string', 'const char *', [koffi.pointer(wl_decision)]),
  action_name: fn('wl_action_name', 'const char *', ['uint32_t']),
  reason_name: fn('wl_reason_name', 'const char *', ['uint32_t']),
  pool_action_kind_name: fn('wl_pool_action_kind_name', 'const char *', ['uint32_t']),
  event_kind_name: fn('wl_event_kind_name', 'const char *', ['uint32_t']),
  event_string: fn('wl_event_string', 'const char *', [koffi.pointer(wl_event)]),
  event_severity: fn('wl_event_severity', 'uint32_t', [koffi.pointer(wl_event)]),
  key_name: fn('wl_key_name', 'const char *', ['uint32_t']),
  key_unit: fn('wl_key_unit', 'uint32_t', ['uint32_t']),
  unit_name: fn('wl_unit_name', 'const char *', ['uint32_t']),
  key_is_number: fn('wl_key_is_number', 'bool', ['uint32_t', 'uint64_t']),
  key_format_value: fn('wl_key_format_value', R, ['uint32_t', 'uint64_t', 'char *', 'size_t', out('size_t')]),

  host_capability: fn('wl_host_capability', 'uint32_t', ['const char *']),
  policy_check_host: fn('wl_policy_check_host', R, [wl_policy, 'const char *', 'uint32_t']),
  pool_set_host: fn('wl_pool_set_host', R, [wl_pool, 'const char *', 'uint32_t']),
  host_slots: fn('wl_host_slots', R, ['uint32_t', 'uint32_t', wl_policy, out('uint32_t')]),
  pool_startup_line: fn('wl_pool_startup_line', R, [wl_pool, out(owned_string)]),
  pool_round_error: fn('wl_pool_round_error', R, [wl_pool, 'const char *', out(owned_string)]),
  pool_adopt_all: fn('wl_pool_adopt_all', R, [wl_pool, 'uint32_t *', 'size_t', out('size_t')]),
  pool_stats_text: fn('wl_pool_stats_text', R, [wl_pool, 'uint32_t', out(owned_string)]),

  policy_parse: fn('wl_policy_parse', R, ['const char *', out(wl_policy)]),
  policy_free: fn('wl_policy_free', R, [wl_policy]),
  policy_to_string: fn('wl_policy_to_string', R, [wl_policy, 'char *', 'size_t', out('size_t')]),
  policy_get_raw: fn('wl_policy_get_raw', R, [wl_policy, 'uint32_t', out('uint64_t')]),

  pool_build: fn('wl_pool_build', R, [wl_policy, koffi.pointer(wl_pool_options), out(wl_pool)]),
  pool_create: fn('wl_pool_create', R, ['const char *', wl_policy, 'uint32_t', out(wl_pool)]),
  pool_attach: fn('wl_pool_attach', R, ['const char *', out(wl_pool)]),
  pool_open: fn('wl_pool_open', R, ['const char *', wl_policy, 'uint32_t', out(wl_pool)]),
  pool_remove_if_last: fn('wl_pool_remove_if_last', R, [wl_pool, out('bool')]),
  pool_free: fn('wl_pool_free', R, [wl_pool]),
  pool_worker: fn('wl_pool_worker', R, [wl_pool, 'uint32_t', out(wl_worker)]),
  pool_claim: fn('wl_pool_claim', R, [wl_pool, 'uint32_t', out(wl_worker)]),
  pool_spawned: fn('wl_pool_spawned', R, [wl_pool, 'uint32_t', 'uint32_t']),
  pool_ready: fn('wl_pool_ready', R, [wl_pool, 'uint32_t']),
  pool_exiting: fn('wl_pool_exiting', R, [wl_pool, 'uint32_t', out('uint32_t')]),
  pool_adopt: fn('wl_pool_adopt', R, [wl_pool, 'uint32_t']),
  pool_exited: fn('wl_pool_exited', R, [wl_pool, 'uint32_t', 'int32_t', out('uint32_t')]),
  pool_exited_slot: fn('wl_pool_exited_slot', R, [wl_pool, 'uint32_t', 'int32_t']),
  pool_recycle: fn('wl_pool_recycle', R, [wl_pool, 'uint32_t']),
  pool_decision: fn('wl_pool_decision', R, [wl_pool, 'uint32_t', out(wl_decision)]),
  pool_tick: fn('wl_pool_tick', R, [wl_pool, 'void *', 'size_t', out('size_t')]),
  pool_events: fn('wl_pool_events', R, [wl_pool, 'void *', 'size_t', out('size_t')]),
  pool_report_container: fn('wl_pool_report_container', R, [wl_pool, koffi.pointer(wl_container_reading)]),
  pool_read_parent: fn('wl_pool_read_parent', R, [wl_pool, out(wl_health)]),
  pool_report_parent: fn('wl_pool_report_parent', R, [wl_pool, 'uint32_t', koffi.pointer(wl_health)]),
  pool_advance: fn('wl_pool_advance', R, [wl_pool, 'uint64_t']),
  pool_next_spawn_in: fn('wl_pool_next_spawn_in', R, [wl_pool, out('bool'), out('uint64_t')]),
  pool_slot_count: fn('wl_pool_slot_count', R, [wl_pool, out('uint32_t')]),
  pool_policy: fn('wl_pool_policy', R, [wl_pool, out(wl_policy)]),

  worker_free: fn('wl_worker_free', R, [wl_worker]),
  worker_begin: fn('wl_worker_begin', R, [wl_worker]),
  // The hot path: answers as return values (an out-parameter costs koffi a
  // marshalled allocation per call), and the handle as its address (koffi
  // passes an integer in half the time of a typed pointer; the library
  // checks every handle it is given, so a stale address is an error, not
  // a dereference).
  worker_begin_flag: fn('wl_worker_begin_flag', 'int32_t', ['uintptr_t']),
  worker_end_flag: fn('wl_worker_end_flag', 'int32_t', ['uintptr_t']),
  // Likewise per request with a ticket: the ticket is below 2^53, so koffi's
  // int64 comes back as an exact Number.
  worker_begin_ticket_value: fn('wl_worker_begin_ticket_value', 'int64_t', ['uintptr_t']),
  worker_end_ticket_flag: fn('wl_worker_end_ticket_flag', 'int32_t', ['uintptr_t', 'uint64_t']),
  worker_overdue: fn('wl_worker_overdue', R, [wl_worker, 'void *', 'size_t', out('size_t')]),
  worker_heartbeat: fn('wl_worker_heartbeat', R, [wl_worker]),
  worker_on_event_loop: fn('wl_worker_on_event_loop', R, [wl_worker]),
  worker_report_health: fn('wl_worker_report_health', R, [wl_worker, koffi.pointer(wl_health)]),
  worker_check: fn('wl_worker_check', R, [wl_worker, 'bool']),
  worker_decision: fn('wl_worker_decision', R, [wl_worker, out(wl_decision)]),
  worker_requests: fn('wl_worker_requests', R, [wl_worker, out('uint64_t')]),
  worker_slot: fn('wl_worker_slot', R, [wl_worker, out('uint32_t')]),
  worker_exiting: fn('wl_worker_exiting', R, [wl_worker]),

  worker_watchdog: fn('wl_worker_watchdog', R, [wl_worker, 'int32_t', 'uint32_t', out(wl_watchdog)]),
  watchdog_wake: fn('wl_watchdog_wake', R, [wl_watchdog]),
  watchdog_detach: fn('wl_watchdog_detach', R, [wl_watchdog]),
  watchdog_free: fn('wl_watchdog_free', R, [wl_watchdog]),

  signal: fn('wl_signal', R, ['uint32_t', 'uint64_t', 'int32_t']),

  metrics_serve: fn('wl_metrics_serve', R, [wl_pool, 'const char *', out(wl_metrics)]),
  metrics_port: fn('wl_metrics_port', R, [wl_metrics, out('uint16_t')]),
  metrics_free: fn('wl_metrics_free', R, [wl_metrics]),
};

/** Refuses (throws) a struct declared here that the library lays out otherwise: another size, or a field at another offset. */
function checkLayout(name, type) {
  const theirs = Number(C.struct_size(name));
  const ours = koffi.sizeof(type);
  if (theirs !== ours) {
    throw new Error(`workerlife: ${name} is ${theirs} bytes in ${LIBRARY_FILE}, ${ours} here: rebuild the binding`);
  }
  for (const field of Object.values(koffi.introspect(type).members)) {
    const at = C.struct_offset(name, field.name);
    if (Number(at) !== field.offset) {
      throw new Error(`workerlife: ${name}.${field.name} is at offset ${at} in ${LIBRARY_FILE}, ${field.offset} here: rebuild the binding`);
    }
  }
}

// Refuse a library this binding would misread (a struct laid out otherwise
// than declared here; the ABI number was checked at load), or one of
// another release than this package's.
function checkAbi() {
  for (const [name, type] of Object.entries(STRUCTS)) checkLayout(name, type);
  const version = C.version();
  if (version !== PACKAGE_VERSION) {
    throw new Error(`workerlife: ${LIBRARY_FILE} is version ${version}, this package is ${PACKAGE_VERSION}: use the library of the package's release`);
  }
}
checkAbi();

/** The header's #define `name`, from the library (wl_constant), as a BigInt. */
function constant(name) {
  const v = [0n];
  const rc = C.constant(name, v);
  if (rc !== 0) throw new Error(`workerlife: the library has no constant ${name} (result ${rc})`);
  return BigInt(v[0]);
}

module.exports = {
  koffi, C, ABI_VERSION, STRUCTS, checkLayout, constant, LIBRARY_FILE, PACKAGE_VERSION,
  wl_decision, wl_pool_options, wl_health, wl_container_reading, wl_pool_action, wl_event,
};
