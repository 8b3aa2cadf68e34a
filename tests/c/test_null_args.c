/* Every export against its header's word on NULL: each pointer argument
 * the header says "must not be NULL" is refused with WL_NULL_ARGUMENT, each
 * one that "may be NULL" is accepted, and a refused call changes nothing
 * (no slot taken, no file made, no request counted, no handle made).
 * bindings/c/tests/header.rs checks that every export with a pointer
 * argument is named here and that the header states the rule for each. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workerlife.h"

static int failures;

#define EXPECT(call, want)                                                    \
  do {                                                                        \
    wl_result got_ = (call);                                                  \
    if (got_ != (want)) {                                                     \
      fprintf(stderr, "%s:%d: %s gave %d, wanted %s (%d)\n", __FILE__,        \
              __LINE__, #call, (int)got_, #want, (int)(want));                \
      failures++;                                                             \
    }                                                                         \
  } while (0)

#define REFUSED(call) EXPECT(call, WL_NULL_ARGUMENT)
#define OK(call) EXPECT(call, WL_OK)

static uint64_t live_handles(void) {
  uint64_t n = 0;
  OK(wl_live_handles(&n));
  return n;
}

/* Whether any slot of `pool` holds this process. */
static int holds_me(const struct wl_pool *pool) {
  return wl_pool_exiting(pool, (uint32_t)getpid(), NULL) == WL_OK;
}

/* A new directory (from the template `dir`) and `name` in it, in `path`. */
static void temp_path(char *dir, const char *name, char *path, size_t len) {
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    exit(2);
  }
  snprintf(path, len, "%s/%s", dir, name);
}

static void results_and_errors(void) {
  char buf[64];
  size_t needed = 0;
  REFUSED(wl_result_text(WL_OK, NULL, 8, &needed));
  EXPECT(wl_result_text(WL_OK, NULL, 0, &needed), WL_BUFFER_TOO_SMALL);
  if (needed < 2) {
    fprintf(stderr, "a size query gave %zu\n", needed);
    failures++;
  }
  OK(wl_result_text(WL_OK, buf, sizeof buf, NULL));
  REFUSED(wl_last_error_message(NULL, 8, NULL));
  EXPECT(wl_last_error_message(NULL, 0, NULL), WL_BUFFER_TOO_SMALL);
  OK(wl_last_error_message(buf, sizeof buf, NULL));
  REFUSED(wl_live_handles(NULL));
  /* A pointer misaligned for its type is refused, never written. */
  uint64_t words[2] = {0, 0};
  EXPECT(wl_live_handles((uint64_t *)((char *)words + 1)), WL_INVALID_ARGUMENT);
  if (words[0] != 0 || words[1] != 0) {
    fprintf(stderr, "a misaligned out-pointer was written\n");
    failures++;
  }
}

static void policies(void) {
  struct wl_policy *p = NULL;
  uint64_t before = live_handles();
  REFUSED(wl_policy_new(NULL));
  REFUSED(wl_policy_parse(NULL, &p));
  REFUSED(wl_policy_parse("max_requests=5", NULL));
  if (live_handles() != before) {
    fprintf(stderr, "a refused policy call made a handle\n");
    failures++;
  }
  OK(wl_policy_parse("max_requests=5", &p));
  REFUSED(wl_policy_set(NULL, "max_requests", "6"));
  REFUSED(wl_policy_set(p, NULL, "6"));
  REFUSED(wl_policy_set(p, "max_requests", NULL));
  REFUSED(wl_policy_set_number(NULL, "max_requests", 6));
  REFUSED(wl_policy_set_number(p, NULL, 6));
  REFUSED(wl_policy_set_raw(NULL, WL_KEY_MAX_REQUESTS, 6));
  uint64_t raw = 0;
  REFUSED(wl_policy_get_raw(NULL, WL_KEY_MAX_REQUESTS, &raw));
  REFUSED(wl_policy_get_raw(p, WL_KEY_MAX_REQUESTS, NULL));
  OK(wl_policy_get_raw(p, WL_KEY_MAX_REQUESTS, &raw));
  if (raw != 5) {
    fprintf(stderr, "refused sets changed max_requests to %llu\n",
            (unsigned long long)raw);
    failures++;
  }
  char buf[512];
  size_t needed = 0;
  REFUSED(wl_policy_to_string(NULL, buf, sizeof buf, &needed));
  REFUSED(wl_policy_to_string(p, NULL, 8, &needed));
  EXPECT(wl_policy_to_string(p, NULL, 0, &needed), WL_BUFFER_TOO_SMALL);
  OK(wl_policy_to_string(p, buf, sizeof buf, NULL));
  REFUSED(wl_key_format_value(WL_KEY_CONTAINER_MEMORY, WL_CONTAINER_AUTO, NULL, 8, &needed));
  EXPECT(wl_key_format_value(WL_KEY_CONTAINER_MEMORY, WL_CONTAINER_AUTO, NULL, 0, &needed),
         WL_BUFFER_TOO_SMALL);
  OK(wl_key_format_value(WL_KEY_CONTAINER_MEMORY, WL_CONTAINER_AUTO, buf, sizeof buf, NULL));
  if (strcmp(buf, "auto") != 0) {
    fprintf(stderr, "wl_key_format_value wrote \"%s\", not auto\n", buf);
    failures++;
  }
  EXPECT(wl_key_format_value(999, 0, buf, sizeof buf, NULL), WL_INVALID_ARGUMENT);
  /* The one-call forms answer NULL or 0 for NULL, and read nothing. */
  if (wl_struct_size(NULL) != 0 || wl_decision_string(NULL) != NULL) {
    fprintf(stderr, "wl_struct_size or wl_decision_string took NULL\n");
    failures++;
  }
  if (wl_struct_offset(NULL, "pid") != SIZE_MAX || wl_struct_offset("wl_event", NULL) != SIZE_MAX ||
      wl_struct_offset(NULL, NULL) != SIZE_MAX) {
    fprintf(stderr, "wl_struct_offset took NULL\n");
    failures++;
  }
  {
    uint64_t value = 7;
    REFUSED(wl_constant(NULL, &value));
    REFUSED(wl_constant("WL_TICKETS", NULL));
    EXPECT(wl_constant("WL_NOPE", &value), WL_INVALID_ARGUMENT);
    if (value != 7) {
      fprintf(stderr, "a refused wl_constant wrote %llu\n", (unsigned long long)value);
      failures++;
    }
  }
  OK(wl_policy_free(NULL));
  OK(wl_policy_free(p));
}

static void pools(void) {
  struct wl_policy *p = NULL;
  struct wl_pool *pool = NULL;
  OK(wl_policy_parse("max_requests=5", &p));
  uint64_t before = live_handles();
  REFUSED(wl_pool_new(NULL, 2, &pool));
  REFUSED(wl_pool_new(p, 2, NULL));
  REFUSED(wl_pool_new_shared(NULL, 2, &pool));
  REFUSED(wl_pool_new_shared(p, 2, NULL));

  /* A refused create, attach or open makes no file. */
  char dir[] = "/tmp/wl-null-XXXXXX";
  char path[64];
  temp_path(dir, "pool", path, sizeof path);
  REFUSED(wl_pool_create(NULL, p, 2, &pool));
  REFUSED(wl_pool_create(path, NULL, 2, &pool));
  REFUSED(wl_pool_create(path, p, 2, NULL));
  REFUSED(wl_pool_attach(NULL, &pool));
  REFUSED(wl_pool_attach(path, NULL));
  REFUSED(wl_pool_open(NULL, p, 2, &pool));
  REFUSED(wl_pool_open(path, NULL, 2, &pool));
  REFUSED(wl_pool_open(path, p, 2, NULL));
  if (access(path, F_OK) == 0) {
    fprintf(stderr, "a refused call left %s\n", path);
    failures++;
    unlink(path);
  }
  rmdir(dir);

  struct wl_pool_options o = {.slots = 2, .sharing = WL_SHARING_PRIVATE,
                              .manual_clock = true};
  REFUSED(wl_pool_build(NULL, &o, &pool));
  REFUSED(wl_pool_build(p, NULL, &pool));
  REFUSED(wl_pool_build(p, &o, NULL));
  struct wl_pool_options named = o;
  named.sharing = WL_SHARING_NAMED;
  REFUSED(wl_pool_build(p, &named, &pool));
  if (live_handles() != before) {
    fprintf(stderr, "a refused pool call made a handle\n");
    failures++;
  }
  OK(wl_pool_build(p, &o, &pool));
  OK(wl_policy_free(p));

  bool removed = true;
  REFUSED(wl_pool_remove_if_last(NULL, &removed));
  REFUSED(wl_pool_remove_if_last(pool, NULL));
  uint32_t slots = 0;
  REFUSED(wl_pool_slot_count(NULL, &slots));
  REFUSED(wl_pool_slot_count(pool, NULL));
  struct wl_policy *copy = NULL;
  REFUSED(wl_pool_policy(NULL, &copy));
  REFUSED(wl_pool_policy(pool, NULL));

  /* A refused worker or claim takes no slot. */
  struct wl_worker *w = NULL;
  REFUSED(wl_pool_worker(NULL, 0, &w));
  REFUSED(wl_pool_worker(pool, 0, NULL));
  REFUSED(wl_pool_claim(NULL, (uint32_t)getpid(), &w));
  REFUSED(wl_pool_claim(pool, (uint32_t)getpid(), NULL));
  if (holds_me(pool)) {
    fprintf(stderr, "a refused wl_pool_worker or wl_pool_claim took a slot\n");
    failures++;
  }

  REFUSED(wl_pool_spawned(NULL, 0, (uint32_t)getpid()));
  REFUSED(wl_pool_ready(NULL, 0));
  REFUSED(wl_pool_adopt(NULL, (uint32_t)getpid()));
  REFUSED(wl_pool_recycle(NULL, 0));
  REFUSED(wl_pool_advance(NULL, 1));
  REFUSED(wl_pool_exited_slot(NULL, 0, 0));

  /* `slot` may be NULL in exiting and exited. */
  uint32_t slot = 99;
  REFUSED(wl_pool_exiting(NULL, 1, &slot));
  REFUSED(wl_pool_exited(NULL, 1, 0, &slot));
  OK(wl_pool_spawned(pool, 0, 1));
  OK(wl_pool_exiting(pool, 1, NULL));
  OK(wl_pool_exited(pool, 1, 0, NULL));

  uint32_t gone[4];
  size_t n = 0;
  uint32_t sampled = 0;
  REFUSED(wl_pool_reap_dead(NULL, gone, 4, &n));
  REFUSED(wl_pool_reap_dead(pool, NULL, 4, &n));
  REFUSED(wl_pool_reap_dead(pool, gone, 4, NULL));
  OK(wl_pool_reap_dead(pool, NULL, 0, &n));
  REFUSED(wl_pool_sample(NULL, &sampled, gone, 4, &n));
  REFUSED(wl_pool_sample(pool, &sampled, NULL, 4, &n));
  REFUSED(wl_pool_sample(pool, &sampled, gone, 4, NULL));
  OK(wl_pool_sample(pool, NULL, gone, 4, &n));
  OK(wl_pool_sample(pool, NULL, NULL, 0, &n));

  struct wl_decision d;
  REFUSED(wl_pool_decision(NULL, 0, &d));
  REFUSED(wl_pool_decision(pool, 0, NULL));
  struct wl_pool_action actions[4];
  REFUSED(wl_pool_tick(NULL, actions, 4, &n));
  REFUSED(wl_pool_tick(pool, NULL, 4, &n));
  REFUSED(wl_pool_tick(pool, actions, 4, NULL));
  OK(wl_pool_tick(pool, NULL, 0, &n));
  struct wl_event events[4];
  REFUSED(wl_pool_events(NULL, events, 4, &n));
  REFUSED(wl_pool_events(pool, NULL, 4, &n));
  REFUSED(wl_pool_events(pool, events, 4, NULL));
  OK(wl_pool_events(pool, NULL, 0, &n));

  char buf[8192];
  size_t needed = 0;
  REFUSED(wl_pool_stats_json(NULL, buf, sizeof buf, &needed));
  REFUSED(wl_pool_stats_json(pool, NULL, 8, &needed));
  EXPECT(wl_pool_stats_json(pool, NULL, 0, &needed), WL_BUFFER_TOO_SMALL);
  OK(wl_pool_stats_json(pool, buf, sizeof buf, NULL));
  REFUSED(wl_pool_stats_json_occupied(NULL, buf, sizeof buf, &needed));
  REFUSED(wl_pool_stats_json_occupied(pool, NULL, 8, &needed));
  EXPECT(wl_pool_stats_json_occupied(pool, NULL, 0, &needed), WL_BUFFER_TOO_SMALL);
  OK(wl_pool_stats_json_occupied(pool, buf, sizeof buf, NULL));
  REFUSED(wl_pool_prometheus(NULL, buf, sizeof buf, &needed));
  REFUSED(wl_pool_prometheus(pool, NULL, 8, &needed));
  EXPECT(wl_pool_prometheus(pool, NULL, 0, &needed), WL_BUFFER_TOO_SMALL);
  OK(wl_pool_prometheus(pool, buf, sizeof buf, NULL));

  /* A refused report keeps nothing: no container appears in the stats. */
  struct wl_container_reading unknown_ws = {WL_NO_READING, WL_NO_READING, WL_NO_READING,
                                            WL_NO_READING, WL_NO_READING, 0.0};
  REFUSED(wl_pool_report_container(NULL, &unknown_ws));
  REFUSED(wl_pool_report_container(pool, NULL));
  EXPECT(wl_pool_report_container(pool, &unknown_ws), WL_INVALID_ARGUMENT);
  OK(wl_pool_stats_json(pool, buf, sizeof buf, NULL));
  if (!strstr(buf, "\"container\":null")) {
    fprintf(stderr, "a refused wl_pool_report_container was kept: %s\n", buf);
    failures++;
  }

  /* The parent's reading: a NULL pool or reading is refused; NULL out is
     allowed (nothing written). */
  struct wl_health parent = {WL_NO_READING, WL_NO_READING, WL_NO_READING, WL_NO_READING};
  REFUSED(wl_pool_read_parent(NULL, &parent));
  OK(wl_pool_read_parent(pool, NULL));
  OK(wl_pool_read_parent(pool, &parent));
  if (parent.rss == WL_NO_READING || parent.rss == 0) {
    fprintf(stderr, "wl_pool_read_parent gave no RSS\n");
    failures++;
  }
  REFUSED(wl_pool_report_parent(NULL, 1, &parent));
  REFUSED(wl_pool_report_parent(pool, 1, NULL));
  OK(wl_pool_report_parent(pool, getpid(), &parent));

  uint64_t us = 0;
  bool due = false;
  REFUSED(wl_pool_now_us(NULL, &us));
  REFUSED(wl_pool_now_us(pool, NULL));
  REFUSED(wl_pool_next_spawn_in(NULL, &due, &us));
  REFUSED(wl_pool_next_spawn_in(pool, NULL, &us));
  REFUSED(wl_pool_next_spawn_in(pool, &due, NULL));

  OK(wl_pool_free(NULL));
  OK(wl_pool_free(pool));
}

static void processes(void) {
  struct wl_sample s;
  uint64_t start = 0;
  REFUSED(wl_process_sample((uint32_t)getpid(), false, NULL));
  REFUSED(wl_process_identity((uint32_t)getpid(), NULL));
  OK(wl_process_identity((uint32_t)getpid(), &start));
  OK(wl_process_sample((uint32_t)getpid(), false, &s));

  char dir[] = "/tmp/wl-null-XXXXXX";
  char path[64];
  temp_path(dir, "ledger", path, sizeof path);
  struct wl_ledger *ledger = NULL;
  REFUSED(wl_ledger_open(NULL, &ledger));
  REFUSED(wl_ledger_open(path, NULL));
  if (access(path, F_OK) == 0) {
    fprintf(stderr, "a refused wl_ledger_open made %s\n", path);
    failures++;
  }
  OK(wl_ledger_open(path, &ledger));
  REFUSED(wl_ledger_record(NULL, 1));
  REFUSED(wl_ledger_forget(NULL, 1));
  struct wl_reaped reaped[2];
  size_t n = 0;
  REFUSED(wl_ledger_reap(NULL, 0, reaped, 2, &n));
  REFUSED(wl_ledger_reap(ledger, 0, NULL, 2, &n));
  REFUSED(wl_ledger_reap(ledger, 0, reaped, 2, NULL));
  OK(wl_ledger_reap(ledger, 0, NULL, 0, &n));
  OK(wl_ledger_free(NULL));
  OK(wl_ledger_free(ledger));
  unlink(path);
  rmdir(dir);

  /* `held` may be NULL, whether or not something is still held. */
  OK(wl_wait_released(0, 0, 0, NULL));
  EXPECT(wl_wait_released((uint32_t)getpid(), 0, 0, NULL), WL_STILL_HELD);
}

static void workers(void) {
  struct wl_policy *p = NULL;
  struct wl_pool *pool = NULL;
  struct wl_worker *w = NULL;
  OK(wl_policy_parse("max_requests=5", &p));
  OK(wl_pool_new(p, 1, &pool));
  OK(wl_pool_worker(pool, 0, &w));
  OK(wl_policy_free(p));

  bool flag = false;
  REFUSED(wl_worker_begin(NULL));
  REFUSED(wl_worker_begin_last(NULL, &flag));
  REFUSED(wl_worker_begin_last(w, NULL));
  OK(wl_worker_begin(w));
  REFUSED(wl_worker_end(NULL, &flag));
  /* The answer-as-return forms: a failure is its wl_result negated. */
  if (wl_worker_begin_flag(NULL) != -(int32_t)WL_NULL_ARGUMENT ||
      wl_worker_end_flag(NULL) != -(int32_t)WL_NULL_ARGUMENT) {
    fprintf(stderr, "the _flag forms did not refuse NULL with -WL_NULL_ARGUMENT\n");
    failures++;
  }
  REFUSED(wl_worker_end(w, NULL));
  OK(wl_worker_end(w, &flag));
  /* Tickets: a refused call takes no ticket and ends nothing. */
  uint64_t ticket = 0;
  REFUSED(wl_worker_begin_ticket(NULL, &ticket));
  REFUSED(wl_worker_begin_ticket(w, NULL));
  OK(wl_worker_begin_ticket(w, &ticket));
  REFUSED(wl_worker_end_ticket(NULL, ticket, &flag));
  REFUSED(wl_worker_end_ticket(w, ticket, NULL));
  size_t overdue_count = 0;
  uint64_t overdue[2];
  REFUSED(wl_worker_overdue(NULL, overdue, 2, &overdue_count));
  REFUSED(wl_worker_overdue(w, NULL, 2, &overdue_count));
  REFUSED(wl_worker_overdue(w, overdue, 2, NULL));
  OK(wl_worker_overdue(w, NULL, 0, &overdue_count));
  if (wl_worker_begin_ticket_value(NULL) != -(int64_t)WL_NULL_ARGUMENT ||
      wl_worker_end_ticket_flag(NULL, ticket) != -(int32_t)WL_NULL_ARGUMENT) {
    fprintf(stderr, "the ticket value forms did not refuse NULL with -WL_NULL_ARGUMENT\n");
    failures++;
  }
  OK(wl_worker_end_ticket(w, ticket, &flag));
  EXPECT(wl_worker_end_ticket(w, ticket, &flag), WL_BAD_TICKET);
  uint64_t requests = 0;
  REFUSED(wl_worker_requests(NULL, &requests));
  REFUSED(wl_worker_requests(w, NULL));
  OK(wl_worker_requests(w, &requests));
  if (requests != 2) { /* one request without a ticket, one with */
    fprintf(stderr, "refused begin/end calls counted: %llu requests\n",
            (unsigned long long)requests);
    failures++;
  }
  REFUSED(wl_worker_heartbeat(NULL));
  REFUSED(wl_worker_on_event_loop(NULL));
  OK(wl_worker_on_event_loop(w));
  struct wl_health h = {0, 0, 0, 0};
  REFUSED(wl_worker_report_health(NULL, &h));
  REFUSED(wl_worker_report_health(w, NULL));
  REFUSED(wl_worker_sample_if_due(NULL, &flag));
  REFUSED(wl_worker_sample_if_due(w, NULL));
  struct wl_sample s;
  REFUSED(wl_worker_sample_self(NULL, false, &s));
  OK(wl_worker_sample_self(w, false, NULL));
  REFUSED(wl_worker_check(NULL, true));
  struct wl_decision d;
  REFUSED(wl_worker_decision(NULL, &d));
  REFUSED(wl_worker_decision(w, NULL));
  OK(wl_worker_decision(w, &d));
  uint32_t slot = 0;
  REFUSED(wl_worker_slot(NULL, &slot));
  REFUSED(wl_worker_slot(w, NULL));
  REFUSED(wl_worker_exiting(NULL));

  char buf[128];
  size_t needed = 0;
  REFUSED(wl_decision_text(NULL, buf, sizeof buf, &needed));
  REFUSED(wl_decision_text(&d, NULL, 8, &needed));
  EXPECT(wl_decision_text(&d, NULL, 0, &needed), WL_BUFFER_TOO_SMALL);
  OK(wl_decision_text(&d, buf, sizeof buf, NULL));

  uint64_t before = live_handles();
  struct wl_watchdog *dog = NULL;
  REFUSED(wl_worker_watchdog(NULL, 0, 0, &dog));
  REFUSED(wl_worker_watchdog(w, 0, 0, NULL));
  if (live_handles() != before) {
    fprintf(stderr, "a refused wl_worker_watchdog made a handle\n");
    failures++;
  }
  REFUSED(wl_watchdog_wake(NULL));
  OK(wl_watchdog_detach(NULL));
  OK(wl_watchdog_free(NULL));

  OK(wl_worker_free(NULL));
  OK(wl_worker_free(w));
  OK(wl_pool_free(pool));
}

/* The host contract and the chores every host shares. */
static void hosts(void) {
  struct wl_policy *p = NULL;
  struct wl_pool *pool = NULL;
  OK(wl_policy_parse("heartbeat_timeout=2s", &p));
  OK(wl_pool_new(p, 2, &pool));
  REFUSED(wl_policy_check_host(p, NULL, 0));
  EXPECT(wl_policy_check_host(p, "Puma", WL_HOST_MASTER_KILLS), WL_NOT_FOR_HOST);
  OK(wl_policy_check_host(p, "gunicorn", WL_HOST_MASTER_KILLS | WL_HOST_HEARTBEAT));
  REFUSED(wl_pool_set_host(NULL, "x", 0));
  REFUSED(wl_pool_set_host(pool, NULL, 0));
  EXPECT(wl_pool_set_host(pool, "Puma", WL_HOST_MASTER_KILLS), WL_NOT_FOR_HOST);
  EXPECT(wl_pool_set_host(pool, "x", 1u << 30), WL_INVALID_ARGUMENT);

  uint32_t slots = 0;
  REFUSED(wl_host_slots(0, 4, p, NULL));
  REFUSED(wl_host_slots(0, 4, NULL, &slots));
  OK(wl_host_slots(WL_HOST_NUMBERED, 4, p, &slots));

  char *line = NULL;
  REFUSED(wl_pool_startup_line(NULL, &line));
  REFUSED(wl_pool_startup_line(pool, NULL));
  OK(wl_pool_startup_line(pool, &line));
  /* The refused host was not recorded. */
  if (!line || strstr(line, "Puma")) {
    fprintf(stderr, "a refused wl_pool_set_host was recorded: %s\n", line ? line : "(null)");
    failures++;
  }
  wl_string_free(line);
  wl_string_free(NULL);

  REFUSED(wl_pool_round_error(NULL, "boom", &line));
  REFUSED(wl_pool_round_error(pool, NULL, &line));
  REFUSED(wl_pool_round_error(pool, "boom", NULL));
  OK(wl_pool_round_error(pool, "boom", &line));
  wl_string_free(line);

  uint32_t pids[2] = {0, 0};
  size_t adopted = 7;
  REFUSED(wl_pool_adopt_all(NULL, pids, 2, &adopted));
  REFUSED(wl_pool_adopt_all(pool, NULL, 2, &adopted));
  OK(wl_pool_adopt_all(pool, NULL, 0, NULL));
  OK(wl_pool_adopt_all(pool, NULL, 0, &adopted));

  REFUSED(wl_pool_stats_text(NULL, WL_STATS_JSON, &line));
  REFUSED(wl_pool_stats_text(pool, WL_STATS_JSON, NULL));
  EXPECT(wl_pool_stats_text(pool, 99, &line), WL_INVALID_ARGUMENT);

  if (wl_host_capability(NULL) != 0 || wl_host_capability("nope") != 0 ||
      wl_host_capability("surge") != WL_HOST_SURGE) {
    fprintf(stderr, "wl_host_capability: wrong answers\n");
    failures++;
  }
  if (wl_worker_event_string(NULL) != NULL) {
    fprintf(stderr, "wl_worker_event_string took NULL\n");
    failures++;
  }
  if (wl_event_string(NULL) != NULL || wl_event_severity(NULL) != 0) {
    fprintf(stderr, "wl_event_string or wl_event_severity took NULL\n");
    failures++;
  }
  struct wl_metrics *m = NULL;
  uint16_t port = 0;
  uint64_t before = live_handles();
  REFUSED(wl_metrics_serve(NULL, "127.0.0.1:0", &m));
  REFUSED(wl_metrics_serve(pool, NULL, &m));
  REFUSED(wl_metrics_serve(pool, "127.0.0.1:0", NULL));
  EXPECT(wl_metrics_serve(pool, "nowhere", &m), WL_INVALID_ARGUMENT);
  if (m != NULL || live_handles() != before) {
    fprintf(stderr, "a refused wl_metrics_serve made a handle\n");
    failures++;
  }
  REFUSED(wl_metrics_port(NULL, &port));
  OK(wl_metrics_free(NULL));
  wl_pool_free(pool);
  wl_policy_free(p);
}

int main(void) {
  results_and_errors();
  policies();
  pools();
  hosts();
  processes();
  workers();
  if (live_handles() != 0) {
    fprintf(stderr, "%llu handles left\n", (unsigned long long)live_handles());
    failures++;
  }
  if (failures) {
    fprintf(stderr, "test_null_args: %d failures\n", failures);
    return 1;
  }
  printf("test_null_args: every export keeps its header's word on NULL\n");
  return 0;
}
