/*
 * workerlife: decides when a server's worker processes must be recycled,
 * why, and how. Generated from bindings/c by cbindgen; do not edit.
 *
 * Conventions: every fallible call returns a wl_result (WL_OK is 0) and
 * writes results through out-pointers; wl_last_error_message() gives the
 * message of the calling thread's last failure. Handles are opaque; *_free
 * accepts NULL; a freed or foreign handle is WL_INVALID_HANDLE. Values
 * named after an enum (wl_reason, wl_key...) cross as uint32_t.
 *
 * Pointers: a handle argument must not be NULL (except for *_free); each
 * function's Safety list says of every other pointer whether it may be
 * NULL. A NULL where one is required is WL_NULL_ARGUMENT, a pointer not
 * aligned for its type WL_INVALID_ARGUMENT; neither is dereferenced, and a
 * call that fails changes nothing.
 */

#ifndef WORKERLIFE_H
#define WORKERLIFE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* The version this header belongs to; wl_version_number() gives the
 * library's at run time. */
#define WL_VERSION_MAJOR 0
#define WL_VERSION_MINOR 1
#define WL_VERSION_PATCH 0
#define WL_VERSION_NUMBER (WL_VERSION_MAJOR * 10000 + WL_VERSION_MINOR * 100 + WL_VERSION_PATCH)
#define WL_VERSION_STRING "0.1.0"


// The host beats (`wl_worker_heartbeat`) from the loop that serves
// requests, so a missing beat proves that loop stuck: `heartbeat_timeout`
// can hold there and nowhere else.
#define WL_HOST_HEARTBEAT 1

// The host starts a worker when a spawn action asks (one that replaces
// another): `max_surge` can hold.
#define WL_HOST_SURGE (1 << 1)

// The host can cancel one request alone (an event loop's 504).
#define WL_HOST_CANCEL (1 << 2)

// One worker runs several requests at once (threads, an event loop).
#define WL_HOST_CONCURRENT (1 << 3)

// The master carries out kills (it ticks the pool, signals its children).
#define WL_HOST_MASTER_KILLS (1 << 4)

// Each worker's watchdog carries out its own slot's kills.
#define WL_HOST_WATCHDOG_KILLS (1 << 5)

// The master starts each worker into the slot a spawn action names (rather
// than workers claiming a free slot by pid).
#define WL_HOST_NUMBERED (1 << 6)

// Each request in flight holds a ticket (`wl_worker_begin_ticket`), so a
// worker that runs several at once has each timed on its own:
// `request_timeout` can hold with threads.
#define WL_HOST_TICKETS (1 << 7)

// `wl_pool_stats_text` formats.
#define WL_STATS_JSON 0

// JSON with only the slots a worker holds (see `wl_pool_stats_json_occupied`).
#define WL_STATS_JSON_OCCUPIED 1

// The Prometheus text format.
#define WL_STATS_PROMETHEUS 2

// `wl_event_severity` answers.
#define WL_SEVERITY_INFO 1

#define WL_SEVERITY_WARNING 2

#define WL_SEVERITY_ERROR 3

// A reading that is absent (`wl_health`, `wl_event.rss`), or not asked for
// (`wl_sample`).
#define WL_NO_READING UINT64_MAX

// In a `wl_sample`: the kernel refused (another user's process).
#define WL_READING_DENIED (UINT64_MAX - 1)

// In a `wl_sample`: the platform cannot read it (no `/proc`).
#define WL_READING_UNSUPPORTED (UINT64_MAX - 2)

// No slot (`wl_pool_action.replaces` of an action that replaces none).
#define WL_NO_SLOT UINT32_MAX

// Set in a ticket (`wl_worker_begin_ticket`) when the request should be
// the worker's last; `wl_worker_end_ticket` ignores it.
#define WL_TICKET_LAST 4503599627370496

// Requests a worker's slot times at once (`wl_worker_begin_ticket`).
#define WL_TICKETS 16

// `container_memory=auto`, as `wl_policy_get_raw` gives it.
#define WL_CONTAINER_AUTO UINT64_MAX

// A `container_headroom` that is a percentage, as `wl_policy_get_raw`
// gives it: this bit, with hundredths of a percent below it.
#define WL_HEADROOM_PERCENT 9223372036854775808ull

// A memory limit (`max_rss`, `max_uss`, `max_pss`) relative to the
// parent's reading, as `wl_policy_get_raw` gives it: this bit, with the
// multiple in hundredths below it (`3x`: 300).
#define WL_RELATIVE_LIMIT 9223372036854775808ull

// `enforce=all` (the default), as `wl_policy_get_raw` gives it; any other
// value has bit `1 << reason` set for each `wl_reason` whose rule acts.
#define WL_ENFORCE_ALL UINT64_MAX

// The ABI version this header describes; `wl_abi_version()` gives the
// library's. Raised whenever a public struct's fields, an enum's values or
// a function's signature change in a way an existing binding would misread.
#define WL_ABI_VERSION 2

// The result of every fallible call. Numbers are grouped by area and never
// reused: 1xx arguments and handles, 2xx policies, 3xx pools, 4xx
// processes, 5xx the system, 9xx library faults.
enum wl_result
#ifdef __cplusplus
  : uint32_t
#endif // __cplusplus
 {
  WL_OK = 0,
  // A required pointer argument was NULL.
  WL_NULL_ARGUMENT = 100,
  // A handle that was freed, was never made by this library, or is of
  // another type.
  WL_INVALID_HANDLE = 101,
  // The caller's buffer is too short; the needed size was returned.
  WL_BUFFER_TOO_SMALL = 102,
  // A string argument is not valid UTF-8.
  WL_INVALID_UTF8 = 103,
  // An argument is out of its range (an unknown key or enum value).
  WL_INVALID_ARGUMENT = 104,
  // A spec string or setter named a key that does not exist.
  WL_UNKNOWN_KEY = 200,
  // A policy value did not parse or is out of range.
  WL_INVALID_VALUE = 201,
  // A policy rule the host cannot carry out (`wl_pool_set_host`); the
  // message names the key, the host and what to do instead.
  WL_NOT_FOR_HOST = 202,
  // A pool needs between 1 and 2^20 slots.
  WL_INVALID_SLOT_COUNT = 300,
  // A slot index past the end of the pool.
  WL_SLOT_OUT_OF_RANGE = 301,
  // Every slot holds a live worker.
  WL_NO_FREE_SLOT = 302,
  // No slot holds this pid.
  WL_UNKNOWN_PID = 303,
  // The slot already holds a live worker.
  WL_SLOT_BUSY = 304,
  // A pool file that is not a workerlife pool, or is damaged.
  WL_BAD_POOL_FILE = 305,
  // A pool file or ledger not owned by the effective user, or writable
  // by group or others: another user could have written it.
  WL_UNSAFE_FILE = 306,
  // A request ticket the worker does not have in flight: ended already,
  // never issued, or another worker's; nothing changed.
  WL_BAD_TICKET = 307,
  // More requests in flight in one worker than a slot counts
  // (`WL_TICKETS` timed and 65,535 more); nothing changed.
  WL_TOO_MANY_IN_FLIGHT = 308,
  // No process has this pid (or it is a zombie).
  WL_NO_SUCH_PROCESS = 400,
  // The pid belongs to another process now; nothing was sent.
  WL_IDENTITY_MISMATCH = 401,
  // The orphan ledger is damaged; it was set aside.
  WL_BAD_LEDGER = 402,
  // Time ran out before the process or port was released.
  WL_STILL_HELD = 403,
  // The process is not a child of the caller, which signals only its own.
  WL_NOT_A_CHILD = 404,
  // No identity (start time) was given: a bare pid never authorises a
  // signal; nothing was sent.
  WL_UNKNOWN_IDENTITY = 405,
  // An operating-system call failed.
  WL_IO = 500,
  // The platform lacks what the call needs.
  WL_NOT_SUPPORTED = 501,
  // A bug in workerlife: a panic was caught at the boundary.
  WL_PANIC = 900,
};
#ifndef __cplusplus
typedef uint32_t wl_result;
#endif // __cplusplus

// What a worker should do.
enum wl_action
#ifdef __cplusplus
  : uint32_t
#endif // __cplusplus
 {
  WL_ACTION_CONTINUE = 0,
  // Finish what is in flight, then exit.
  WL_ACTION_RECYCLE = 1,
  // Stop now.
  WL_ACTION_KILL = 2,
};
#ifndef __cplusplus
typedef uint32_t wl_action;
#endif // __cplusplus

// Why; the numbers are also the priority order.
enum wl_reason
#ifdef __cplusplus
  : uint32_t
#endif // __cplusplus
 {
  WL_REASON_NONE = 0,
  WL_REASON_REQUEST_TIMEOUT = 1,
  WL_REASON_HEARTBEAT_TIMEOUT = 2,
  WL_REASON_DRAIN_TIMEOUT = 3,
  WL_REASON_MANUAL = 4,
  WL_REASON_MEMORY_RSS = 5,
  WL_REASON_MEMORY_USS = 6,
  WL_REASON_MEMORY_PSS = 7,
  WL_REASON_OPEN_FDS = 8,
  WL_REASON_HEALTH_CHECK = 9,
  WL_REASON_MAX_REQUESTS = 10,
  WL_REASON_MAX_LIFETIME = 11,
  WL_REASON_IDLE = 12,
  // A replacement not ready within `ready_timeout` (kill).
  WL_REASON_READY_TIMEOUT = 13,
  // Predicted to reach its memory limit within `memory_forecast` (recycle).
  WL_REASON_MEMORY_FORECAST = 14,
  // Picked to free memory before the container's limit
  // (`container_memory`): recycled ahead of the line, killed if the
  // working set keeps rising.
  WL_REASON_CONTAINER_MEMORY = 15,
};
#ifndef __cplusplus
typedef uint32_t wl_reason;
#endif // __cplusplus

// What `wl_pool_tick` tells the master to do.
enum wl_pool_action_kind
#ifdef __cplusplus
  : uint32_t
#endif // __cplusplus
 {
  // Send the worker its graceful signal.
  WL_DO_RECYCLE = 1,
  // Send the worker its forceful signal.
  WL_DO_KILL = 2,
  // Start a worker for the slot (then call `wl_pool_spawned`).
  WL_DO_SPAWN = 3,
};
#ifndef __cplusplus
typedef uint32_t wl_pool_action_kind;
#endif // __cplusplus

// What an event records.
enum wl_event_kind
#ifdef __cplusplus
  : uint32_t
#endif // __cplusplus
 {
  WL_EVENT_SPAWNED = 1,
  WL_EVENT_RECYCLE_REQUESTED = 2,
  WL_EVENT_KILLED = 3,
  WL_EVENT_EXITED = 4,
  WL_EVENT_CRASH_LOOP = 5,
  WL_EVENT_HEALTH_CHECK_FAILED = 6,
  // A recycle or kill was due for a slot whose pid is not one of the
  // master's children (`wl_pool_spawned`, `wl_pool_adopt`): nothing to
  // signal was returned.
  WL_EVENT_REFUSED = 7,
  // A replacement was started for a worker due to retire (`max_surge`).
  WL_EVENT_REPLACING = 8,
  // A replacement became ready (`delay_us`: how long it took).
  WL_EVENT_READY = 9,
  // No replacement was started (`max_surge`): a fresh worker would not
  // fit under the container's limit minus its headroom; the worker
  // retires first.
  WL_EVENT_RETIRE_FIRST = 10,
  // A worker due for a soft recycle waits for a permit of the rolling
  // budget and serves on meanwhile; once per generation.
  WL_EVENT_RECYCLE_WAITING = 11,
  // The container's working set is at its threshold but its largest
  // worker is no bigger than a fresh one: none is recycled for it (the
  // limit cannot hold this pool). Once per run over the threshold.
  WL_EVENT_CONTAINER_TOO_SMALL = 12,
  // A rule that does not act (`enforce`) tripped: the worker would have
  // been recycled, and serves on. Once per generation and reason.
  WL_EVENT_WOULD_RECYCLE = 13,
  // A kill rule that does not act (`enforce`) tripped: the worker would
  // have been killed, and serves on. Once per generation and reason.
  WL_EVENT_WOULD_KILL = 14,
  // The workers' mean share of the parent's memory fell below
  // `min_sharing` (`value`, `limit`: hundredths of a percent). Again only
  // after it recovered.
  WL_EVENT_SHARING_LOW = 15,
};
#ifndef __cplusplus
typedef uint32_t wl_event_kind;
#endif // __cplusplus

// A policy key, in spec-string order (see docs/policy.md for each default).
enum wl_key
#ifdef __cplusplus
  : uint32_t
#endif // __cplusplus
 {
  WL_KEY_REQUEST_TIMEOUT = 0,
  WL_KEY_HEARTBEAT_TIMEOUT = 1,
  WL_KEY_MAX_RSS = 2,
  WL_KEY_MAX_USS = 3,
  WL_KEY_MAX_PSS = 4,
  WL_KEY_MAX_FDS = 5,
  WL_KEY_MAX_HEALTH_FAILURES = 6,
  WL_KEY_MAX_REQUESTS = 7,
  WL_KEY_MAX_REQUESTS_JITTER = 8,
  WL_KEY_MAX_LIFETIME = 9,
  WL_KEY_LIFETIME_JITTER = 10,
  WL_KEY_MAX_IDLE = 11,
  WL_KEY_MIN_LIFETIME = 12,
  WL_KEY_DRAIN_TIMEOUT = 13,
  WL_KEY_MAX_CONCURRENT_RECYCLES = 14,
  WL_KEY_MIN_RECYCLE_INTERVAL = 15,
  WL_KEY_MIN_UPTIME = 16,
  WL_KEY_MAX_RESTARTS = 17,
  WL_KEY_RESTART_WINDOW = 18,
  WL_KEY_BACKOFF_INITIAL = 19,
  WL_KEY_BACKOFF_MAX = 20,
  WL_KEY_SAMPLE_INTERVAL = 21,
  WL_KEY_MAX_SURGE = 22,
  WL_KEY_READY_TIMEOUT = 23,
  WL_KEY_MAX_POOL_RSS = 24,
  WL_KEY_MEMORY_SUSTAIN = 25,
  WL_KEY_MEMORY_FORECAST = 26,
  WL_KEY_CONTAINER_MEMORY = 27,
  WL_KEY_CONTAINER_HEADROOM = 28,
  WL_KEY_ENFORCE = 29,
  WL_KEY_MIN_SHARING = 30,
};
#ifndef __cplusplus
typedef uint32_t wl_key;
#endif // __cplusplus

// How a key's raw value is counted.
enum wl_unit
#ifdef __cplusplus
  : uint32_t
#endif // __cplusplus
 {
  WL_UNIT_BYTES = 0,
  WL_UNIT_MICROSECONDS = 1,
  WL_UNIT_COUNT = 2,
};
#ifndef __cplusplus
typedef uint32_t wl_unit;
#endif // __cplusplus

// Where a pool's memory lives.
enum wl_sharing
#ifdef __cplusplus
  : uint32_t
#endif // __cplusplus
 {
  // This process only.
  WL_SHARING_PRIVATE = 0,
  // Shared anonymous memory: create before `fork()`.
  WL_SHARING_SHARED = 1,
  // A named file (`path`), attached by workers started with exec.
  WL_SHARING_NAMED = 2,
};
#ifndef __cplusplus
typedef uint32_t wl_sharing;
#endif // __cplusplus

// What reaping did to one orphan.
enum wl_reap_outcome
#ifdef __cplusplus
  : uint32_t
#endif // __cplusplus
 {
  WL_REAP_TERMINATED = 1,
  WL_REAP_KILLED = 2,
  WL_REAP_ALREADY_GONE = 3,
  // The pid names another process now; nothing was sent.
  WL_REAP_PID_REUSED = 4,
  // The kernel refused the signal (`error_number`).
  WL_REAP_REFUSED = 5,
  // The record has no start time: a bare pid is never signalled.
  WL_REAP_UNKNOWN_IDENTITY = 6,
};
#ifndef __cplusplus
typedef uint32_t wl_reap_outcome;
#endif // __cplusplus

// What `wl_wait_released` found still held.
enum wl_held_kind
#ifdef __cplusplus
  : uint32_t
#endif // __cplusplus
 {
  WL_HELD_NOTHING = 0,
  WL_HELD_PROCESS = 1,
  WL_HELD_PORT = 2,
};
#ifndef __cplusplus
typedef uint32_t wl_held_kind;
#endif // __cplusplus

// An orphan ledger opened for this run (opaque). Made by
// `wl_ledger_open`, released by `wl_ledger_free`.
typedef struct wl_ledger wl_ledger;

// A running stats endpoint (opaque). Made by `wl_metrics_serve`,
// stopped and released by `wl_metrics_free`.
typedef struct wl_metrics wl_metrics;

// A policy (opaque). Made by `wl_policy_new` or `wl_policy_parse`,
// released by `wl_policy_free`.
typedef struct wl_policy wl_policy;

// A pool of worker slots (opaque). Made by `wl_pool_new` and friends,
// released by `wl_pool_free`. Worker handles stay usable after their pool
// is freed.
typedef struct wl_pool wl_pool;

// A worker's running watchdog thread (opaque). Made by
// `wl_worker_watchdog`, stopped and released by `wl_watchdog_free`.
typedef struct wl_watchdog wl_watchdog;

// One worker's handle on its slot (opaque). Made by `wl_pool_worker` or
// `wl_pool_claim`, released by `wl_worker_free`.
typedef struct wl_worker wl_worker;

// One event. `kind` is a `wl_event_kind`, `reason` a `wl_reason`. `rss` and
// `delay_us` are `WL_NO_READING` when absent; `status` is meaningful when
// `has_status`. For recycles, kills and exits, `growth_per_request` and
// `growth_per_second` are how fast the worker's memory grew (bytes, a
// Theil–Sen fit over its generation); NaN when not known, and then
// `growth_requests` 0 and `growth_seconds` NaN too (requests and seconds
// between the first and last reading fitted). `value` and `limit` are what
// tripped, for recycles and kills (as in `wl_decision`); `WL_NO_READING`
// otherwise. `wl_event_string` gives the line every host logs.
typedef struct wl_event {
  uint32_t kind;
  uint32_t slot;
  uint32_t pid;
  uint32_t generation;
  uint32_t reason;
  int32_t status;
  bool has_status;
  bool crash;
  // For exits: a crash by the kernel's OOM killer.
  bool oom_killed;
  uint64_t at_us;
  uint64_t uptime_us;
  uint64_t requests;
  uint64_t rss;
  uint64_t delay_us;
  double growth_per_request;
  double growth_per_second;
  uint64_t growth_requests;
  double growth_seconds;
  uint64_t value;
  uint64_t limit;
} wl_event;

// How to build a pool: `sharing` is a `wl_sharing`; `path` is used (and
// required) for `WL_SHARING_NAMED`; `seed` is used when `has_seed`.
typedef struct wl_pool_options {
  uint32_t slots;
  uint32_t sharing;
  const char *path;
  bool manual_clock;
  bool has_seed;
  uint64_t seed;
} wl_pool_options;

// A decision: `action` is a `wl_action`, `reason` a `wl_reason`; `value`
// and `limit` are what tripped (bytes, microseconds or a count). Act on
// `action` alone: `WL_ACTION_CONTINUE` with a reason is a rule rehearsed
// (`enforce`), what would have been done, and the worker serves on.
typedef struct wl_decision {
  uint32_t action;
  uint32_t reason;
  uint64_t value;
  uint64_t limit;
} wl_decision;

// One thing for the master to do. `kind` is a `wl_pool_action_kind`,
// `reason` a `wl_reason`. `identity` is the worker's start time: pass it to
// `wl_signal`. `not_before_us` is when a held-back respawn was due. For a
// spawn, `replaces` is the slot whose worker the new one replaces
// (`max_surge`: that worker retires once this one is ready), else
// `WL_NO_SLOT`.
typedef struct wl_pool_action {
  uint32_t kind;
  uint32_t slot;
  uint32_t pid;
  uint32_t reason;
  uint32_t generation;
  uint32_t replaces;
  uint64_t identity;
  uint64_t not_before_us;
} wl_pool_action;

// A reading of the container's memory cgroup, for
// `wl_pool_report_container`: bytes, or `WL_NO_READING` where unknown;
// `pressure_some_avg10` in percent, NaN where unknown.
typedef struct wl_container_reading {
  uint64_t limit;
  uint64_t working_set;
  uint64_t anon;
  uint64_t file;
  uint64_t oom_kills;
  double pressure_some_avg10;
} wl_container_reading;

// A worker's own readings; `WL_NO_READING` leaves the previous one.
typedef struct wl_health {
  uint64_t rss;
  uint64_t uss;
  uint64_t pss;
  uint64_t fds;
} wl_health;

// One sample of a process: values, or `WL_NO_READING` (not asked for),
// `WL_READING_DENIED`, `WL_READING_UNSUPPORTED`.
typedef struct wl_sample {
  uint32_t pid;
  uint64_t start_time;
  uint64_t rss;
  uint64_t fds;
  uint64_t uss;
  uint64_t pss;
} wl_sample;

// One line of a reap report. `outcome` is a `wl_reap_outcome`; `found` is
// the start time found for `WL_REAP_PID_REUSED`; `error_number` the errno
// for `WL_REAP_REFUSED`.
typedef struct wl_reaped {
  uint32_t pid;
  uint32_t outcome;
  uint64_t run_id;
  uint64_t start_time;
  uint64_t found;
  int32_t error_number;
} wl_reaped;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// The name of a result code as the header spells it (`"WL_UNKNOWN_PID"`):
// a static NUL-terminated string owned by the library, or NULL for a
// number that is no result. A binding reads its constants here instead of
// copying the header: every code is below 1000. Any thread.
const char *wl_result_name(uint32_t result);

// Writes the fixed text of `result` into `buf` (`len` bytes, NUL
// included); `*needed` (may be NULL) gets the size needed.
//
// Returns `WL_BUFFER_TOO_SMALL` when `buf` is too short (it then holds an
// empty string), `WL_INVALID_ARGUMENT` for a number that is no result. Any
// thread.
//
// # Safety
//
// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
wl_result wl_result_text(uint32_t result, char *buf, size_t len, size_t *needed);

// The message of the last call that failed on the calling thread, in one
// call: a NUL-terminated string owned by the library, valid until this
// thread's next `wl_last_error_text` or `wl_decision_string`; `""` when no
// call has failed. Never NULL. Thread-local, so any thread. (For FFIs:
// `wl_last_error_message` is the same into the caller's buffer.)
const char *wl_last_error_text(void);

// Writes the message of the last call that failed on the calling thread
// (it names what was wrong, e.g. the bad key and value) into `buf`;
// `*needed` (may be NULL) gets the size needed. Successful calls leave it
// as it was. Thread-local, so any thread.
//
// # Safety
//
// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
wl_result wl_last_error_message(char *buf, size_t len, size_t *needed);

// Writes the number of live handles of every type (policies, pools,
// workers, ledgers) made in this process to `*count`: what tests use to
// show that objects free their handles. `count` must not be NULL.
// Thread-safe.
//
// # Safety
//
// - `count` must not be NULL: valid for writing one `u64`.
wl_result wl_live_handles(uint64_t *count);

// The `WL_HOST_*` bit named `name` (`"heartbeat"`, `"surge"`, `"cancel"`,
// `"concurrent"`, `"master_kills"`, `"watchdog_kills"`, `"numbered"`), for
// bindings that read the bits from the library rather than copying them;
// 0 for NULL or any other name. Any thread.
//
// # Safety
//
// - `name` may be NULL (the answer is 0), else a NUL-terminated string.
uint32_t wl_host_capability(const char *name);

// Checks `policy` against what the host named `name` can carry out
// (`caps`, `WL_HOST_*` bits), before any pool is made: a rule it cannot
// is `WL_NOT_FOR_HOST`, with a message naming the key, its value, the
// host and what to do instead. `name`: 1 to 64 bytes of UTF-8 with no
// control characters, else `WL_INVALID_ARGUMENT`; unknown bits are
// `WL_INVALID_ARGUMENT` too. Any thread.
//
// # Safety
//
// - `name` must not be NULL: a NUL-terminated string.
wl_result wl_policy_check_host(const struct wl_policy *policy, const char *name, uint32_t caps);

// The host named `name` declares what it can carry out (`caps`,
// `WL_HOST_*` bits) for this pool. The pool's policy is checked as
// `wl_policy_check_host` does; a refusal records nothing. Declaring again
// replaces the host. Thread-safe.
//
// # Safety
//
// - `name` must not be NULL: a NUL-terminated string.
wl_result wl_pool_set_host(const struct wl_pool *pool, const char *name, uint32_t caps);

// `*slots` gets how many slots a pool for `workers` workers of a host with
// `caps` needs under `policy`: workers plus `max_surge` where the master
// numbers its workers (`WL_HOST_NUMBERED`); else twice the workers plus
// `max_surge` plus 8 (a leaving worker holds its slot until its exit is
// seen, while its successor claims one). At most 2^20. Any thread.
//
// # Safety
//
// - `slots` must not be NULL: valid for writing one `uint32_t`.
wl_result wl_host_slots(uint32_t caps,
                        uint32_t workers,
                        const struct wl_policy *policy,
                        uint32_t *slots);

// `*line` gets the line a host logs once at start (workerlife is on, for
// which host, the policy, the slots, what the host can do and what is
// refused there), owned by the caller: free it with `wl_string_free`.
// Thread-safe.
//
// # Safety
//
// - `line` must not be NULL: valid for writing one pointer.
wl_result wl_pool_startup_line(const struct wl_pool *pool, char **line);

// Notes an error of the host's supervision round (`text`): `*line` gets
// the line to log now, owned by the caller (free it with
// `wl_string_free`), or NULL when this error was logged already and is
// only counted (each distinct text is logged once, then with its count at
// 10, 100, 1000... occurrences; at most 256 distinct texts are
// remembered, each cut to 1024 bytes). Thread-safe.
//
// # Safety
//
// - `text` must not be NULL: a NUL-terminated string.
// - `line` must not be NULL: valid for writing one pointer.
wl_result wl_pool_round_error(const struct wl_pool *pool, const char *text, char **line);

// Adopts the workers of the server's own list (`pids`, `n` of them): each
// pid not adopted before is read (parent, start time) and taken as
// `wl_pool_adopt` does; a pid already gone is passed over (its exit is the
// host's to report); pids not in the list are forgotten, so a reused pid
// is adopted anew. `*adopted` (may be NULL) gets how many were taken on
// now. Each pid stands on its own: when one is not a child of this
// process, the others are still adopted, it is never signalled, and the
// call answers `WL_NOT_A_CHILD` with a message naming it. Thread-safe.
//
// # Safety
//
// - `pids` may be NULL only when `n` is 0, else valid for reading `n` `uint32_t`s.
// - `adopted` may be NULL (nothing is written there), else valid for writing one `size_t`.
wl_result wl_pool_adopt_all(const struct wl_pool *pool,
                            const uint32_t *pids,
                            size_t n,
                            size_t *adopted);

// `*text` gets the pool's stats in `format` (`WL_STATS_JSON`,
// `WL_STATS_JSON_OCCUPIED` or `WL_STATS_PROMETHEUS`; another number is
// `WL_INVALID_ARGUMENT`), allocated by the library and owned by the
// caller: free it with `wl_string_free`. One call, so a counter that gains
// a digit meanwhile cannot make it fail (as a size query then a fill can).
// Thread-safe.
//
// # Safety
//
// - `text` must not be NULL: valid for writing one pointer.
wl_result wl_pool_stats_text(const struct wl_pool *pool, uint32_t format, char **text);

// Frees a string the library handed to the caller (`wl_pool_stats_text`,
// `wl_pool_startup_line`, `wl_pool_round_error`). NULL is accepted and
// does nothing. A pointer the library did not hand out, or one freed
// already, is undefined behaviour (the strings are plain allocations, not
// handles). Any thread.
//
// # Safety
//
// - `text` may be NULL, else a string from one of the calls above, not freed before.
void wl_string_free(char *text);

// An event's line, the one every host logs (`recycle_requested slot=0
// pid=4242 gen=3 reason=max_requests (100 >= 100) uptime=12.300s
// requests=100 rss=45.2MiB`): a NUL-terminated string owned by the
// library, valid until this thread's next `wl_event_string`,
// `wl_decision_string` or `wl_last_error_text`; NULL for a NULL event or
// one whose numbers are no event kind or reason. Any thread.
//
// # Safety
//
// - `event` may be NULL (the answer is NULL), else valid for reading one `wl_event`.
const char *wl_event_string(const struct wl_event *event);

// How loud an event is in the host's log: `WL_SEVERITY_INFO`, `_WARNING`
// (a kill, a crash, a failed health check, a refusal) or `_ERROR` (a crash
// loop, the kernel's OOM killer); 0 for a NULL event or one whose numbers
// are no event kind or reason. Any thread.
//
// # Safety
//
// - `event` may be NULL (the answer is 0), else valid for reading one `wl_event`.
uint32_t wl_event_severity(const struct wl_event *event);

// Serves `pool`'s stats at `address` (`"HOST:PORT"`: a name, an IPv4
// address or `[IPv6]`; port 0 picks a free one, see `wl_metrics_port`):
// Prometheus text at `/metrics` and `/`, the stats JSON at `/stats`, GET
// and HEAD only, one client at a time, each within 2 s. The address is
// bound before this returns: one that does not parse is
// `WL_INVALID_ARGUMENT`, one that cannot be bound (in use, not this
// machine's) `WL_IO`, each with a message naming it, and nothing is
// started. The server keeps the pool's memory mapped, so it may outlive
// `pool`'s handle. A child forked later holds none of its sockets (they
// are closed in the child at the fork). The caller owns the new handle
// (`wl_metrics_free`). Thread-safe.
//
// # Safety
//
// - `address` must not be NULL: a NUL-terminated UTF-8 string.
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_metrics_serve(const struct wl_pool *pool,
                           const char *address,
                           struct wl_metrics **out);

// The port the server listens on (the one picked when 0 was asked for).
// Thread-safe.
//
// # Safety
//
// - `port` must not be NULL: valid for writing one `uint16_t`.
wl_result wl_metrics_port(const struct wl_metrics *metrics, uint16_t *port);

// Stops serving, closes the port, waits for the thread (at most a tenth
// of a second, plus the client being answered) and releases the handle.
// NULL is a no-op; a freed or foreign handle is `WL_INVALID_HANDLE`. In a
// forked child it only releases the handle. Do not free a handle another
// thread is using.
wl_result wl_metrics_free(struct wl_metrics *metrics);

// The name of a `wl_reason` (`"max_requests"`): a static string, or NULL
// for `WL_REASON_NONE` and numbers that are no reason. Any thread.
const char *wl_reason_name(uint32_t reason);

// The name of a `wl_action` (`"continue"`, `"recycle"`, `"kill"`): a static
// string, or NULL for a number that is no action. Any thread.
const char *wl_action_name(uint32_t action);

// The name of a `wl_pool_action_kind` (`"recycle"`, `"kill"`, `"spawn"`):
// a static string, or NULL for a number that is none. Any thread.
const char *wl_pool_action_kind_name(uint32_t kind);

// The name of a `wl_event_kind` (`"spawned"`, `"exited"`...): a static
// string, or NULL for a number that is none. Any thread.
const char *wl_event_kind_name(uint32_t kind);

// The name of a `wl_sharing` (`"private"`, `"shared"`, `"named"`): a static
// string, or NULL for a number that is none. Any thread.
const char *wl_sharing_name(uint32_t sharing);

// The name of a `wl_unit` (`"bytes"`, `"microseconds"`, `"count"`): a
// static string, or NULL for a number that is no unit. A binding finds
// the unit of each key's raw value (`wl_key_unit`) by this name. Any
// thread.
const char *wl_unit_name(uint32_t unit);

// Makes a default policy (every limit off) and writes its handle to `*out`.
//
// The caller owns the handle and releases it with `wl_policy_free`. `out`
// must not be NULL. Any thread.
//
// # Safety
//
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_policy_new(struct wl_policy **out);

// Parses a spec string such as `"max_requests=1000,max_rss=512MiB"` into a
// new policy; `*out` gets its handle. An unknown key is `WL_UNKNOWN_KEY`, a
// bad value `WL_INVALID_VALUE`; the last error message names the key and
// value.
//
// `spec` is a NUL-terminated UTF-8 string, borrowed for the call. The caller
// owns the new handle (`wl_policy_free`). NULL arguments are
// `WL_NULL_ARGUMENT`. Any thread.
//
// # Safety
//
// - `spec` must not be NULL: a NUL-terminated string, readable up to its NUL.
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_policy_parse(const char *spec, struct wl_policy **out);

// Releases a policy. NULL is a no-op (`WL_OK`); a freed or foreign handle
// is `WL_INVALID_HANDLE`. Pools made from the policy keep their own copy.
// Do not free a handle another thread is using.
wl_result wl_policy_free(struct wl_policy *policy);

// Sets one key from text written as in a spec string (`"512MiB"`,
// `"1h30m"`, `"off"`). The policy is checked as a whole afterwards (e.g.
// `backoff_initial` <= `backoff_max`); on any error it is left unchanged.
//
// `key` and `value` are NUL-terminated UTF-8, borrowed. NULL arguments are
// `WL_NULL_ARGUMENT`. Thread-safe (the policy has its own lock).
//
// # Safety
//
// - `key` must not be NULL: a NUL-terminated string, readable up to its NUL.
// - `value` must not be NULL: a NUL-terminated string, readable up to its NUL.
wl_result wl_policy_set(struct wl_policy *policy, const char *key, const char *value);

// Sets one key from a number: seconds for durations (fractions to the
// microsecond), bytes for sizes, a count otherwise; no text in between.
// Negative, NaN, infinite, fractional bytes or counts, too large, and a
// non-zero duration that rounds to 0 are `WL_INVALID_VALUE` naming the key
// and value. Checked as `wl_policy_set` is; on any error the policy is
// left unchanged. Thread-safe.
//
// # Safety
//
// - `key` must not be NULL: a NUL-terminated string, readable up to its NUL.
wl_result wl_policy_set_number(struct wl_policy *policy, const char *key, double value);

// Sets one key (a `wl_key`) from its raw value: bytes for sizes,
// microseconds for durations, a plain count otherwise (see
// `wl_key_unit`); 0 turns a limit off. Checked as `wl_policy_set` is.
//
// An unknown key number is `WL_INVALID_ARGUMENT`. Thread-safe.
wl_result wl_policy_set_raw(struct wl_policy *policy, uint32_t key, uint64_t raw);

// Reads one key's raw value into `*raw`.
//
// `raw` must not be NULL. An unknown key number is `WL_INVALID_ARGUMENT`.
// Thread-safe.
//
// # Safety
//
// - `raw` must not be NULL: valid for writing one `u64`.
wl_result wl_policy_get_raw(const struct wl_policy *policy, uint32_t key, uint64_t *raw);

// Writes the policy as a spec string (only keys that differ from their
// defaults; it parses back to the same policy) into `buf` of `len` bytes;
// `*needed` (may be NULL) gets the size needed, NUL included. A short buffer
// is `WL_BUFFER_TOO_SMALL`; pass `buf` NULL and `len` 0 to ask the size.
// Thread-safe.
//
// # Safety
//
// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
wl_result wl_policy_to_string(const struct wl_policy *policy,
                              char *buf,
                              size_t len,
                              size_t *needed);

// The spec name of a `wl_key` (`"max_rss"`): a static string owned by the
// library, or NULL for a number that is no key. Any thread.
const char *wl_key_name(uint32_t key);

// The unit of a `wl_key`'s raw value (a `wl_unit`), or `UINT32_MAX` for a
// number that is no key. Any thread.
uint32_t wl_key_unit(uint32_t key);

// Whether `raw` is a plain number in `key`'s unit (bytes, microseconds, a
// count), as against a word its spec text writes: `container_memory`'s
// `auto` (`WL_CONTAINER_AUTO`) and a `container_headroom` percentage
// (`WL_HEADROOM_PERCENT`). False for a number that is no key. Any thread.
bool wl_key_is_number(uint32_t key, uint64_t raw);

// Writes `raw` as `key`'s spec text (`512MiB`, `1h30m`, `auto`, `10%`)
// into `buf`, as `wl_policy_to_string` writes. `WL_INVALID_ARGUMENT` for
// a number that is no key. Any thread.
//
// # Safety
//
// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
wl_result wl_key_format_value(uint32_t key, uint64_t raw, char *buf, size_t len, size_t *needed);

// Makes a pool private to this process with `slots` slots under a copy of
// `policy`; `*out` gets its handle (owned by the caller, released with
// `wl_pool_free`). A slot count outside 1..2^20 is `WL_INVALID_SLOT_COUNT`.
// NULL arguments are `WL_NULL_ARGUMENT`. Any thread.
//
// # Safety
//
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_pool_new(const struct wl_policy *policy, uint32_t slots, struct wl_pool **out);

// As `wl_pool_new`, in shared memory: create it before `fork()` and the
// children see the same slots (and use them through their own copy of the
// handle).
//
// # Safety
//
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_pool_new_shared(const struct wl_policy *policy, uint32_t slots, struct wl_pool **out);

// As `wl_pool_new`, in a new file at `path` (mode 0600), for workers
// started with exec, which call `wl_pool_attach`. A pool file there that
// no live process holds (its maker was killed) is made anew; one a live
// process holds is `WL_IO` (`EEXIST`), and a symlink, a file that is no
// pool or one another user could write is refused and left as it is. The
// creating process removes the file when its handle
// is freed. `path` is a NUL-terminated path, borrowed.
//
// # Safety
//
// - `path` must not be NULL: a NUL-terminated string, readable up to its NUL.
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_pool_create(const char *path,
                         const struct wl_policy *policy,
                         uint32_t slots,
                         struct wl_pool **out);

// Attaches the pool file at `path` made by `wl_pool_create`. A file that is
// not a workerlife pool, or is damaged, is `WL_BAD_POOL_FILE` (never a
// crash). The caller owns the new handle. Any thread.
//
// # Safety
//
// - `path` must not be NULL: a NUL-terminated string, readable up to its NUL.
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_pool_attach(const char *path, struct wl_pool **out);

// Opens the pool file at `path` that the processes of one server share
// when no master of ours starts them (each worker opens it itself): it is
// attached while another process holds it, else (missing, or left behind
// by processes now gone) made anew, mode 0600, with `slots` slots and
// `policy`. While held its policy must equal `policy`, else
// `WL_BAD_POOL_FILE`; a file that is not a workerlife pool is
// `WL_BAD_POOL_FILE` and left as it is; one another user owns or may write
// is `WL_UNSAFE_FILE`. The file stays until `wl_pool_remove_if_last`.
// Linux only (`WL_IO` elsewhere). `path` and `policy` are borrowed; the
// caller owns the new handle. Any thread.
//
// # Safety
//
// - `path` must not be NULL: a NUL-terminated string, readable up to its NUL.
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_pool_open(const char *path,
                       const struct wl_policy *policy,
                       uint32_t slots,
                       struct wl_pool **out);

// For a pool from `wl_pool_open`, when this process is done with it (its
// server shuts down): gives up this process's hold on the file, then
// removes the file if no other process holds it, so the last worker leaves
// none behind; `*removed` gets whether it did. Later calls, and other
// pools: `*removed` is false. Thread-safe.
//
// # Safety
//
// - `removed` must not be NULL: valid for writing one `bool`.
wl_result wl_pool_remove_if_last(const struct wl_pool *pool, bool *removed);

// Makes a pool from options: slot count, sharing, path (named pools), a
// manual clock (for tests: time moves only by `wl_pool_advance`) and a
// fixed jitter seed. `options` is borrowed for the call. An unknown
// `sharing` is `WL_INVALID_ARGUMENT`.
//
// # Safety
//
// - `options` must not be NULL: valid for reading one `wl_pool_options`.
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_pool_build(const struct wl_policy *policy,
                        const struct wl_pool_options *options,
                        struct wl_pool **out);

// Releases a pool handle. NULL is a no-op; a freed or foreign handle is
// `WL_INVALID_HANDLE`. Worker handles from the pool stay valid (they keep
// the memory mapped). Do not free a handle another thread is using.
wl_result wl_pool_free(struct wl_pool *pool);

// Writes the number of slots to `*slots`. Thread-safe.
//
// # Safety
//
// - `slots` may be NULL only when `cap` is 0, else valid for writing one `u32`.
wl_result wl_pool_slot_count(const struct wl_pool *pool, uint32_t *slots);

// Makes a new policy handle holding a copy of the pool's policy (as stored
// in the pool; an attached pool's comes from its file). The caller owns it.
//
// # Safety
//
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_pool_policy(const struct wl_pool *pool, struct wl_policy **out);

// A worker handle for slot `slot`, for hosts that number their workers.
// A vacant slot gets a generation first, for the calling process (as
// `wl_pool_spawned(pool, slot, getpid())` would; the master's later report
// of that pid takes it on), so its limits hold. The caller owns it
// (`wl_worker_free`). Thread-safe.
//
// # Safety
//
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_pool_worker(const struct wl_pool *pool, uint32_t slot, struct wl_worker **out);

// The slot of `pid` (usually the caller's own `getpid()`): the one already
// holding it, else a vacant one, else one whose process is gone. Full is
// `WL_NO_FREE_SLOT`. The caller owns the worker handle. Thread-safe.
//
// # Safety
//
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_pool_claim(const struct wl_pool *pool, uint32_t pid, struct wl_worker **out);

// The master started `pid` in `slot`. A slot still holding a live process
// is `WL_SLOT_BUSY`. Thread-safe.
wl_result wl_pool_spawned(const struct wl_pool *pool, uint32_t slot, uint32_t pid);

// The worker in `slot` is ready to serve (booted, app loaded): what a
// replacement waits for before the worker it replaces drains
// (`max_surge`); a worker's first request counts as ready too. A vacant
// slot is left as it is. `WL_SLOT_OUT_OF_RANGE` past the end. Thread-safe.
wl_result wl_pool_ready(const struct wl_pool *pool, uint32_t slot);

// The server asked worker `pid` to leave on its own account (graceful
// restart, scale-down, shutdown): its exit will not count as a crash, and a
// recycle permit it held goes back now. `*slot` (may be NULL) gets its
// slot. No slot holding `pid` is `WL_UNKNOWN_PID`. Thread-safe.
//
// # Safety
//
// - `slot` may be NULL (nothing is written there), else valid for writing one `u32`.
wl_result wl_pool_exiting(const struct wl_pool *pool, uint32_t pid, uint32_t *slot);

// Takes `pid` as one of this master's own workers, for servers that start
// workers themselves (the worker then claims a slot by pid): recycles and
// kills for a slot are returned only when its pid is a child the master
// reported with `wl_pool_spawned` or here. `pid` must be a live child of
// the calling process (else `WL_NOT_A_CHILD`, or `WL_NO_SUCH_PROCESS`); its
// start time is read now. Adopting a known pid again changes nothing.
// Thread-safe.
wl_result wl_pool_adopt(const struct wl_pool *pool, uint32_t pid);

// The process `pid` exited with wait status `status` (as from `waitpid`);
// `*slot` (may be NULL) gets its slot. A worker the pool already found
// gone by itself (sampling in `wl_pool_tick`, `wl_pool_reap_dead`) is
// answered with its slot once, with nothing more recorded. A pid no slot
// holds is `WL_UNKNOWN_PID`. Thread-safe.
//
// # Safety
//
// - `slot` may be NULL (nothing is written there), else valid for writing one `u32`.
wl_result wl_pool_exited(const struct wl_pool *pool, uint32_t pid, int32_t status, uint32_t *slot);

// Retires every slot whose process is gone (or whose pid now names another
// process); their slots go into `slots` (room for `cap`), `*n` gets how
// many were written. Slots that did not fit stay queued for the next call
// (of this or `wl_pool_sample`), as with `wl_pool_tick`. Thread-safe.
//
// # Safety
//
// - `slots` may be NULL only when `cap` is 0, else valid for writing `cap` items of its type.
// - `n` must not be NULL: valid for writing one `usize`.
wl_result wl_pool_reap_dead(const struct wl_pool *pool, uint32_t *slots, size_t cap, size_t *n);

// Samples every worker's memory and FDs from `/proc` now (also done by
// `wl_pool_tick` every `sample_interval`): `*sampled` (may be NULL) gets
// how many were read; the slots found gone (and retired) go into `gone`
// (room for `cap`), `*n` gets how many were written, and those that did
// not fit stay queued as with `wl_pool_reap_dead`: the same result as
// Python's and Perl's `sample()`. Thread-safe.
//
// # Safety
//
// - `sampled` may be NULL (nothing is written there), else valid for writing one `u32`.
// - `gone` may be NULL only when `cap` is 0, else valid for writing `cap` items of its type.
// - `n` must not be NULL: valid for writing one `usize`.
wl_result wl_pool_sample(const struct wl_pool *pool,
                         uint32_t *sampled,
                         uint32_t *gone,
                         size_t cap,
                         size_t *n);

// Asks for a manual recycle of the worker in `slot`. Thread-safe.
wl_result wl_pool_recycle(const struct wl_pool *pool, uint32_t slot);

// The current decision for `slot`, into `*decision`. Thread-safe.
//
// # Safety
//
// - `decision` must not be NULL: valid for writing one `wl_decision`.
wl_result wl_pool_decision(const struct wl_pool *pool, uint32_t slot, struct wl_decision *decision);

// What the master should do now: recycles and kills (each once per worker
// generation and reason) and due respawns, written into `actions` (room
// for `cap`); `*n` gets how many. Actions that did not fit are kept and
// returned first by the next call, so call again while `*n == cap`.
// Thread-safe.
//
// # Safety
//
// - `actions` may be NULL only when `cap` is 0, else valid for writing `cap` items of its type.
// - `n` must not be NULL: valid for writing one `usize`.
wl_result wl_pool_tick(const struct wl_pool *pool,
                       struct wl_pool_action *actions,
                       size_t cap,
                       size_t *n);

// Takes queued events, oldest first, into `events` (room for `cap`); `*n`
// gets how many. Events that did not fit stay queued for the next call.
// Thread-safe.
//
// # Safety
//
// - `events` may be NULL only when `cap` is 0, else valid for writing `cap` items of its type.
// - `n` must not be NULL: valid for writing one `usize`.
wl_result wl_pool_events(const struct wl_pool *pool,
                         struct wl_event *events,
                         size_t cap,
                         size_t *n);

// Writes the pool's stats as JSON into `buf` (`len` bytes); `*needed` (may
// be NULL) gets the size needed, NUL included. A short buffer is
// `WL_BUFFER_TOO_SMALL`; the text of a live pool can grow between two calls
// (a counter gains a digit), so retry with room to spare. Thread-safe.
//
// # Safety
//
// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
wl_result wl_pool_stats_json(const struct wl_pool *pool, char *buf, size_t len, size_t *needed);

// As `wl_pool_stats_json`, with only the slots a worker holds in
// `per_slot` (vacant ones counted in `workers.vacant`): for views of large
// pools, whose text then grows with their workers, not their slots.
//
// # Safety
//
// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
wl_result wl_pool_stats_json_occupied(const struct wl_pool *pool,
                                      char *buf,
                                      size_t len,
                                      size_t *needed);

// Writes the pool's stats in the Prometheus text format into `buf`, as
// `wl_pool_stats_json` does.
//
// # Safety
//
// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
wl_result wl_pool_prometheus(const struct wl_pool *pool, char *buf, size_t len, size_t *needed);

// Gives the pool a reading of its container, for a host that reads the
// cgroup itself (or a test): the next `wl_pool_tick` takes it as the
// master's own reading (`container_memory`). `working_set` must be known;
// `limit` `WL_NO_READING` means none. Refused (`WL_INVALID_ARGUMENT`) with
// nothing kept: an unknown working set, a pressure that is negative or
// infinite. Thread-safe.
//
// # Safety
//
// - `reading` must not be NULL: valid for reading one `wl_container_reading`.
wl_result wl_pool_report_container(const struct wl_pool *pool,
                                   const struct wl_container_reading *reading);

// Reads this process's memory now as the workers' parent's, for memory
// limits relative to it (`max_uss=3x`): call it once the app has booted
// and before the first worker is forked. Without it the master's first
// `wl_pool_tick` reads it. `out` (may be NULL) gets the reading
// (`WL_NO_READING` where unknown). An unreadable `/proc` is an error and
// leaves the relative limits waiting. Thread-safe.
//
// # Safety
//
// - `out` may be NULL (nothing is written there), else valid for writing one `wl_health`.
wl_result wl_pool_read_parent(const struct wl_pool *pool, struct wl_health *out);

// Gives the pool a reading of the workers' parent `pid` (a host whose
// workers' parent is another process, or a test): relative memory limits
// resolve against it from now on. A field `WL_NO_READING` is not known
// (its relative limit waits). Thread-safe.
//
// # Safety
//
// - `health` must not be NULL: valid for reading one `wl_health`.
wl_result wl_pool_report_parent(const struct wl_pool *pool,
                                uint32_t pid,
                                const struct wl_health *health);

// Moves a manual-clock pool's time forward by `us` microseconds (tests). A
// pool on the real clock is `WL_NOT_SUPPORTED`. Thread-safe.
wl_result wl_pool_advance(const struct wl_pool *pool, uint64_t us);

// The pool's time now, in microseconds since it was made, into `*us`.
//
// # Safety
//
// - `us` must not be NULL: valid for writing one `u64`.
wl_result wl_pool_now_us(const struct wl_pool *pool, uint64_t *us);

// When the next respawn held back by crash backoff is due: `*due` gets
// whether there is one, `*us` how long until then. Thread-safe.
//
// # Safety
//
// - `due` must not be NULL: valid for writing one `bool`.
// - `us` must not be NULL: valid for writing one `u64`.
wl_result wl_pool_next_spawn_in(const struct wl_pool *pool, bool *due, uint64_t *us);

// The worker in `slot` exited with wait status `status` (for hosts that
// know the slot rather than the pid). Thread-safe.
wl_result wl_pool_exited_slot(const struct wl_pool *pool, uint32_t slot, int32_t status);

// Samples process `pid` once from `/proc`: RSS, open FDs and start time,
// and USS and PSS when `uss` (costlier: a page-table walk). A pid that is
// gone (or a zombie) is `WL_NO_SUCH_PROCESS`. `sample` must not be NULL.
// Thread-safe.
//
// # Safety
//
// - `sample` must not be NULL: valid for writing one `wl_sample`.
wl_result wl_process_sample(uint32_t pid, bool uss, struct wl_sample *sample);

// The start time of process `pid` (clock ticks since boot; with the pid,
// its identity), into `*start_time`. Gone, or a zombie, is
// `WL_NO_SUCH_PROCESS`; without `/proc`, `WL_NOT_SUPPORTED`.
//
// # Safety
//
// - `start_time` must not be NULL: valid for writing one `u64`.
wl_result wl_process_identity(uint32_t pid, uint64_t *start_time);

// Sends signal `sig` to `pid` only if it is still the process that started
// at `start_time` (0, unknown, is refused with `WL_UNKNOWN_IDENTITY`),
// pinned by a pidfd where the kernel has them, so a reused pid is never hit. A mismatch is
// `WL_IDENTITY_MISMATCH` and nothing is sent; a gone process is
// `WL_NO_SUCH_PROCESS`; a refusal by the kernel is `WL_IO`. Thread-safe.
wl_result wl_signal(uint32_t pid, uint64_t start_time, int32_t sig);

// Opens (creating, mode 0600) the orphan ledger at `path` for a new run of
// this process; `*out` gets its handle (owned by the caller,
// `wl_ledger_free`). A symlink at `path` is refused. Any thread.
//
// # Safety
//
// - `path` must not be NULL: a NUL-terminated string, readable up to its NUL.
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_ledger_open(const char *path, struct wl_ledger **out);

// Releases a ledger handle (the file stays). NULL is a no-op; a freed or
// foreign handle is `WL_INVALID_HANDLE`.
wl_result wl_ledger_free(struct wl_ledger *ledger);

// Records a worker this run started (reads its start time). A gone pid is
// `WL_NO_SUCH_PROCESS`. Serialised with other writers by `flock`.
wl_result wl_ledger_record(const struct wl_ledger *ledger, uint32_t pid);

// Drops the record of a worker of this run that ended normally.
wl_result wl_ledger_forget(const struct wl_ledger *ledger, uint32_t pid);

// Ends what earlier runs left alive: SIGTERM to each recorded worker of a
// run whose master is gone, `grace_us` microseconds to exit, then SIGKILL;
// processes whose identity does not match are never signalled. Writes up
// to `cap` report lines into `reaped`; `*n` gets the total number of lines
// (more than `cap` means some were not written; the reaping happened
// regardless). A damaged ledger is set aside and is `WL_BAD_LEDGER`.
// Blocks for up to the grace period plus a few seconds.
//
// # Safety
//
// - `reaped` may be NULL only when `cap` is 0, else valid for writing `cap` items of its type.
// - `n` must not be NULL: valid for writing one `usize`.
wl_result wl_ledger_reap(const struct wl_ledger *ledger,
                         uint64_t grace_us,
                         struct wl_reaped *reaped,
                         size_t cap,
                         size_t *n);

// Waits until process `pid` (0: none) is gone and TCP `port` (0: none) can
// be bound again, for at most `timeout_us` microseconds. `WL_OK` when both
// are released; else `WL_STILL_HELD`, with `*held` (may be NULL) set to a
// `wl_held_kind` naming which. Blocks the calling thread.
//
// # Safety
//
// - `held` may be NULL (nothing is written there), else valid for writing one `u32`.
wl_result wl_wait_released(uint32_t pid, uint16_t port, uint64_t timeout_us, uint32_t *held);

// The version as `"MAJOR.MINOR.PATCH"`: a static NUL-terminated string,
// owned by the library; never NULL. Any thread.
const char *wl_version(void);

// The version as one number, `MAJOR * 10000 + MINOR * 100 + PATCH` (the
// same as `WL_VERSION_NUMBER`). Any thread.
uint32_t wl_version_number(void);

// The library's ABI version (`WL_ABI_VERSION` of the header it was built
// with). A binding that declares the structs itself (an FFI: Ruby's `ffi`,
// Node's koffi, Python's ctypes) compares it, and each struct's size from
// `wl_struct_size`, with its own before the first call, and refuses a
// library that differs. Any thread.
uint32_t wl_abi_version(void);

// The version of the pool's shared memory layout: a pool file made by a
// library with another layout is refused by `wl_pool_attach`. Any thread.
uint32_t wl_layout_version(void);

// `sizeof` of a public struct, by its name in the header (`"wl_event"`,
// `"wl_pool_action"`...), or 0 for NULL or a name that is no public struct.
// Any thread.
//
// # Safety
//
// - `name` may be NULL (the answer is 0), else a NUL-terminated string.
size_t wl_struct_size(const char *name);

// The offset of `field` in the public struct `name` (`"wl_event"`,
// `"pid"`), as `offsetof` gives it, or `SIZE_MAX` when either pointer is
// NULL or names nothing. A binding that declares the structs itself checks
// each field's offset here, as well as each struct's size: two fields of one
// size swapped keep the size but move the offsets. Any thread.
//
// # Safety
//
// - `name` may be NULL (the answer is `SIZE_MAX`), else a NUL-terminated string.
// - `field` may be NULL (the answer is `SIZE_MAX`), else a NUL-terminated string.
size_t wl_struct_offset(const char *name, const char *field);

// Writes the value of the header's `#define` `name` (`"WL_TICKET_LAST"`,
// `"WL_TICKETS"`, `"WL_NO_SLOT"`...; every numeric one but the
// `WL_VERSION_*` macros, which `wl_version_number` gives) to `*value`, for
// bindings that read constants from the library instead of copying them.
//
// A name that is no such define is `WL_INVALID_ARGUMENT`; NULL `name` or
// `value` is `WL_NULL_ARGUMENT`. Any thread.
//
// # Safety
//
// - `name` must not be NULL: a NUL-terminated string, readable up to its NUL.
// - `value` must not be NULL: valid for writing one `u64`.
wl_result wl_constant(const char *name, uint64_t *value);

// Releases a worker handle. NULL is a no-op; a freed or foreign handle is
// `WL_INVALID_HANDLE`. The slot is not retired (the master learns of the
// exit). Do not free a handle another thread is using.
wl_result wl_worker_free(struct wl_worker *worker);

// A request begins. Lock-free and allocation-free; any thread of the
// worker; after `fork()` too. (`wl_worker_begin_last` also says whether it
// is the last request to take; a host that ignores that learns the same
// from `wl_worker_end`.)
wl_result wl_worker_begin(const struct wl_worker *worker);

// A request begins, and `*last` gets whether it should be the worker's
// last: it reaches `max_requests` (requests ended plus those in flight)
// and the recycle was granted, so the worker should accept no new work,
// finish what it has, and leave. `last` must not be NULL. Lock-free and
// allocation-free; any thread; after `fork()` too.
//
// # Safety
//
// - `last` must not be NULL: valid for writing one `bool`.
wl_result wl_worker_begin_last(const struct wl_worker *worker, bool *last);

// A request ended. `*exit` gets whether the worker should exit after this
// request (finish the response, then leave). `exit` must not be NULL.
// Lock-free and allocation-free; any thread.
//
// # Safety
//
// - `exit` must not be NULL: valid for writing one `bool`.
wl_result wl_worker_end(const struct wl_worker *worker, bool *exit);

// `wl_worker_begin_last` with its answer as the return value, for FFIs
// where an out-parameter costs a marshalled allocation per call (Node's
// koffi, Ruby's ffi): 1 when this request should be the worker's last, 0
// when not, or a failure's `wl_result` negated (`-WL_INVALID_HANDLE`; the
// message as for any failure). Lock-free and allocation-free; any thread.
int32_t wl_worker_begin_flag(const struct wl_worker *worker);

// `wl_worker_end` with its answer as the return value (see
// `wl_worker_begin_flag`): 1 when the worker should exit after this
// request, 0 when not, or a failure's `wl_result` negated. Lock-free and
// allocation-free; any thread.
int32_t wl_worker_end_flag(const struct wl_worker *worker);

// A request begins, and `*ticket` gets its ticket, for
// `wl_worker_end_ticket` from any thread: the slot times each request in
// flight on its own, so one stuck among many that keep ending is still
// caught by `request_timeout` (hosts that run several requests at once in
// a worker: threads, an event loop). The ticket is a number below 2^53;
// `WL_TICKET_LAST` set in it says this should be the worker's last request
// (as `wl_worker_begin_last`). A slot times `WL_TICKETS` requests at once;
// more are counted but not timed, and past 65,535 of those the call
// fails with `WL_TOO_MANY_IN_FLIGHT` and changes nothing. `ticket` must not
// be NULL. Lock-free and allocation-free; any thread; after `fork()` too.
//
// # Safety
//
// - `ticket` must not be NULL: valid for writing one `uint64_t`.
wl_result wl_worker_begin_ticket(const struct wl_worker *worker, uint64_t *ticket);

// The request of `ticket` ended, whatever its outcome; `*exit` gets
// whether the worker should exit after it. A ticket this worker does not
// have in flight (ended already, never issued, another worker's) fails
// with `WL_BAD_TICKET` and changes nothing. `exit` must not be NULL.
// Lock-free and allocation-free; any thread.
//
// # Safety
//
// - `exit` must not be NULL: valid for writing one `bool`.
wl_result wl_worker_end_ticket(const struct wl_worker *worker, uint64_t ticket, bool *exit);

// `wl_worker_begin_ticket` with the ticket as the return value (see
// `wl_worker_begin_flag`): the ticket (0 or more, below 2^53 so a
// JavaScript number holds it), or a failure's `wl_result` negated.
// Lock-free and allocation-free; any thread.
int64_t wl_worker_begin_ticket_value(const struct wl_worker *worker);

// `wl_worker_end_ticket` with its answer as the return value (see
// `wl_worker_begin_flag`): 1 when the worker should exit after this
// request, 0 when not, or a failure's `wl_result` negated. Lock-free and
// allocation-free; any thread.
int32_t wl_worker_end_ticket_flag(const struct wl_worker *worker, uint64_t ticket);

// The tickets of this worker's requests past `request_timeout` (none when
// it is off), for a host that can end one request alone (an event loop):
// it ends each, then gives its ticket back with `wl_worker_end_ticket`.
// Up to `capacity` are written to `tickets` (which may be NULL when
// `capacity` is 0); `*count` gets how many there are (at most
// `WL_TICKETS`, more than written when `capacity` is short). `count` must
// not be NULL. Lock-free and allocation-free; any thread.
//
// # Safety
//
// - `tickets` may be NULL when `capacity` is 0; otherwise valid for
//   writing `capacity` `uint64_t`s.
// - `count` must not be NULL: valid for writing one `size_t`.
wl_result wl_worker_overdue(const struct wl_worker *worker,
                            uint64_t *tickets,
                            size_t capacity,
                            size_t *count);

// A liveness beat (for `heartbeat_timeout`). Lock-free; any thread.
wl_result wl_worker_heartbeat(const struct wl_worker *worker);

// The worker serves from an event loop that ends its own requests at
// `request_timeout` and calls `wl_worker_heartbeat` from that loop well
// within half of it (beats now): a request past its timeout is then a
// kill only once the loop has also been still for half of
// `request_timeout`. For this generation of the slot. Lock-free; any
// thread.
wl_result wl_worker_on_event_loop(const struct wl_worker *worker);

// Reports the worker's own readings; a field set to `WL_NO_READING` leaves
// the previous reading. `health` is borrowed for the call. Lock-free.
//
// # Safety
//
// - `health` must not be NULL: valid for reading one `wl_health`.
wl_result wl_worker_report_health(const struct wl_worker *worker, const struct wl_health *health);

// For hosts with no master to sample them: `*due` gets whether
// `sample_interval` has passed since this handle last found it due (every
// second, sampling nothing, when it is 0); when it has, and the policy
// limits memory or FDs, the calling process samples itself and reports the
// readings. `*due` is written even
// when the sampling fails (the error is returned), so a host can still do
// its other periodic work. Thread-safe.
//
// # Safety
//
// - `due` must not be NULL: valid for writing one `bool`.
wl_result wl_worker_sample_if_due(const struct wl_worker *worker, bool *due);

// Samples the calling process from `/proc` (USS and PSS too when `uss`),
// reports the readings for this worker, and writes the sample to `*sample`
// (may be NULL). Thread-safe.
//
// # Safety
//
// - `sample` may be NULL (nothing is written there), else valid for writing one `wl_sample`.
wl_result wl_worker_sample_self(const struct wl_worker *worker, bool uss, struct wl_sample *sample);

// The result of one health check: `ok` false adds a failure, true resets.
wl_result wl_worker_check(const struct wl_worker *worker, bool ok);

// What the worker should do now, into `*decision`. Thread-safe.
//
// # Safety
//
// - `decision` must not be NULL: valid for writing one `wl_decision`.
wl_result wl_worker_decision(const struct wl_worker *worker, struct wl_decision *decision);

// Requests served in this generation, into `*requests`.
//
// # Safety
//
// - `requests` must not be NULL: valid for writing one `u64`.
wl_result wl_worker_requests(const struct wl_worker *worker, uint64_t *requests);

// The worker's slot index, into `*slot`.
//
// # Safety
//
// - `slot` must not be NULL: valid for writing one `u32`.
wl_result wl_worker_slot(const struct wl_worker *worker, uint32_t *slot);

// Marks the slot on the way out (call just before exiting): the recycle
// permit goes back at once, so the next worker may start draining.
wl_result wl_worker_exiting(const struct wl_worker *worker);

// Writes the text of a decision (`"max_requests: 1000 >= 1000"`,
// `"continue"`) into `buf` (`len` bytes); `*needed` (may be NULL) gets the
// size needed. A decision with numbers that are no action or reason is
// `WL_INVALID_ARGUMENT`. Any thread.
//
// # Safety
//
// - `decision` must not be NULL: valid for reading one `wl_decision`.
// - `buf` may be NULL only when `len` is 0 (a size query), else valid for writing `len` bytes.
// - `needed` may be NULL (nothing is written there), else valid for writing one `usize`.
wl_result wl_decision_text(const struct wl_decision *decision,
                           char *buf,
                           size_t len,
                           size_t *needed);

// A decision's text in one call (`"max_requests: 1000 >= 1000"`,
// `"continue"`): a NUL-terminated string owned by the library, valid until
// this thread's next `wl_decision_string` or `wl_last_error_text`; NULL for
// a NULL decision or one whose numbers are no action or reason. Any thread.
//
// # Safety
//
// - `decision` may be NULL (the answer is NULL), else valid for reading one `wl_decision`.
const char *wl_decision_string(const struct wl_decision *decision);

// What a decision's `value` and `limit` measure for a `wl_reason` (a
// `wl_unit`: microseconds, bytes or a count), or `UINT32_MAX` for
// `WL_REASON_NONE` and numbers that are no reason. Any thread.
uint32_t wl_reason_unit(uint32_t reason);

// The event line of what this worker's decision comes to, the line every
// master logs (`recycle_requested slot=1 pid=4242 gen=3
// reason=max_requests (100 >= 100) uptime=12.300s requests=100`, or
// `killed ...`), for hosts with no master to file events (a middleware
// whose worker leaves after this request): a NUL-terminated string owned
// by the library, valid until this thread's next `wl_worker_event_string`,
// `wl_event_string`, `wl_decision_string` or `wl_last_error_text`; NULL
// while the worker may continue, and for a NULL, freed or foreign handle.
// Any thread.
//
// # Safety
//
// - `worker` may be NULL (the answer is NULL).
const char *wl_worker_event_string(const struct wl_worker *worker);

// Starts the worker's watchdog: a native thread (no lock of the host's
// needed) that looks at the worker's slot every `interval_ms` (0: a tenth
// of the shortest of `request_timeout` and `heartbeat_timeout`, within
// 10..100 ms). On a kill decision (`request_timeout`, `heartbeat_timeout`,
// `drain_timeout`) it writes a line to stderr and ends this process with
// SIGKILL; on a granted recycle it sends `recycle_signal` to this process
// once (0: none, recycles are the host's). While no master calls
// `wl_pool_tick`, it also samples this process every `sample_interval` and
// retires the slots of workers that are gone, returning their recycle
// permits. It only ever signals its own process. `recycle_signal` must be
// 0 or a catchable signal (`WL_INVALID_ARGUMENT` otherwise, as is an
// `interval_ms` over 60000). The caller owns the new handle; a child
// forked later does not have the thread (start one there). Thread-safe.
//
// # Safety
//
// - `out` must not be NULL: valid for writing one handle.
wl_result wl_worker_watchdog(const struct wl_worker *worker,
                             int32_t recycle_signal,
                             uint32_t interval_ms,
                             struct wl_watchdog **out);

// Makes the watchdog look at its slot now rather than at its next
// interval (after `wl_worker_end` said the worker should leave, say).
// Thread-safe.
wl_result wl_watchdog_wake(const struct wl_watchdog *watchdog);

// Releases the handle and leaves the thread running for the life of the
// process (for a binding whose object is collected; nothing can stop the
// thread afterwards). NULL is a no-op; a freed or foreign handle is
// `WL_INVALID_HANDLE`. Do not detach a handle another thread is using.
wl_result wl_watchdog_detach(struct wl_watchdog *watchdog);

// Stops the watchdog thread, waits for it (a look takes microseconds) and
// releases the handle. NULL is a no-op; a freed or foreign handle is
// `WL_INVALID_HANDLE`. In a forked child it only releases the handle. Do
// not free a handle another thread is using.
wl_result wl_watchdog_free(struct wl_watchdog *watchdog);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* WORKERLIFE_H */
