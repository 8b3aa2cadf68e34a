/* Every export of include/workerlife.h from C: results, error codes and
 * messages, NULLs, freed/double-freed/foreign handles, bad spec strings,
 * fork with a shared pool, named pools, the process toolkit. Built with
 * -std=c11 -Wall -Wextra -Werror, once plainly and once with ASan + UBSan
 * (make c-test). Exits non-zero on the first failed check. */
#define _GNU_SOURCE
#include "workerlife.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int checks;

#define CHECK(cond)                                                           \
  do {                                                                        \
    checks++;                                                                 \
    if (!(cond)) {                                                            \
      char msg_[512] = "";                                                    \
      wl_last_error_message(msg_, sizeof msg_, NULL);                         \
      fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, \
              __LINE__, #cond, msg_);                                         \
      exit(1);                                                                \
    }                                                                         \
  } while (0)

#define OK(call) CHECK((call) == WL_OK)

/* The calling thread's last error message. */
static const char *last_error(void) {
  static char buf[512];
  buf[0] = 0;
  wl_last_error_message(buf, sizeof buf, NULL);
  return buf;
}

static void test_version(void) {
  CHECK(wl_version_number() == WL_VERSION_NUMBER);
  CHECK(strcmp(wl_version(), WL_VERSION_STRING) == 0);
  char expect[32];
  snprintf(expect, sizeof expect, "%d.%d.%d", WL_VERSION_MAJOR,
           WL_VERSION_MINOR, WL_VERSION_PATCH);
  CHECK(strcmp(wl_version(), expect) == 0);
}

/* What a binding that declares the structs itself checks first. */
static void test_abi(void) {
  CHECK(wl_abi_version() == WL_ABI_VERSION);
  CHECK(wl_layout_version() >= 1);
  CHECK(wl_struct_size("wl_decision") == sizeof(wl_decision));
  CHECK(wl_struct_size("wl_health") == sizeof(wl_health));
  CHECK(wl_struct_size("wl_container_reading") == sizeof(wl_container_reading));
  CHECK(wl_struct_size("wl_pool_action") == sizeof(wl_pool_action));
  CHECK(wl_struct_size("wl_event") == sizeof(wl_event));
  CHECK(wl_struct_size("wl_sample") == sizeof(wl_sample));
  CHECK(wl_struct_size("wl_pool_options") == sizeof(wl_pool_options));
  CHECK(wl_struct_size("wl_reaped") == sizeof(wl_reaped));
  CHECK(wl_struct_size("wl_pool") == 0); /* opaque: no size to check */
  CHECK(wl_struct_size("") == 0 && wl_struct_size("wl_event ") == 0);
  CHECK(wl_struct_size(NULL) == 0);
  /* Each field where the header's compiler puts it. */
  CHECK(wl_struct_offset("wl_decision", "action") == offsetof(wl_decision, action));
  CHECK(wl_struct_offset("wl_decision", "reason") == offsetof(wl_decision, reason));
  CHECK(wl_struct_offset("wl_decision", "limit") == offsetof(wl_decision, limit));
  CHECK(wl_struct_offset("wl_event", "oom_killed") == offsetof(wl_event, oom_killed));
  CHECK(wl_struct_offset("wl_event", "limit") == offsetof(wl_event, limit));
  CHECK(wl_struct_offset("wl_pool_options", "path") == offsetof(wl_pool_options, path));
  CHECK(wl_struct_offset("wl_pool_options", "seed") == offsetof(wl_pool_options, seed));
  CHECK(wl_struct_offset("wl_reaped", "error_number") == offsetof(wl_reaped, error_number));
  CHECK(wl_struct_offset("wl_sample", "start_time") == offsetof(wl_sample, start_time));
  CHECK(wl_struct_offset("wl_event", "nope") == SIZE_MAX);
  CHECK(wl_struct_offset("wl_pool", "pid") == SIZE_MAX);
  /* The header's constants, as the library gives them. */
  {
    uint64_t v = 0;
    CHECK(wl_constant("WL_TICKET_LAST", &v) == WL_OK && v == WL_TICKET_LAST);
    CHECK(wl_constant("WL_TICKETS", &v) == WL_OK && v == WL_TICKETS);
    CHECK(wl_constant("WL_NO_SLOT", &v) == WL_OK && v == WL_NO_SLOT);
    CHECK(wl_constant("WL_NO_READING", &v) == WL_OK && v == WL_NO_READING);
    CHECK(wl_constant("WL_STATS_PROMETHEUS", &v) == WL_OK && v == WL_STATS_PROMETHEUS);
    CHECK(wl_constant("WL_ABI_VERSION", &v) == WL_OK && v == WL_ABI_VERSION);
    CHECK(wl_constant("WL_VERSION_MAJOR", &v) == WL_INVALID_ARGUMENT);
  }
  CHECK(strcmp(wl_result_name(WL_UNKNOWN_PID), "WL_UNKNOWN_PID") == 0);
  CHECK(strcmp(wl_result_name(WL_OK), "WL_OK") == 0);
  CHECK(wl_result_name(12345) == NULL && wl_result_name(1) == NULL);
  CHECK(strcmp(wl_unit_name(WL_UNIT_MICROSECONDS), "microseconds") == 0);
  CHECK(strcmp(wl_unit_name(WL_UNIT_BYTES), "bytes") == 0);
  CHECK(strcmp(wl_unit_name(WL_UNIT_COUNT), "count") == 0);
  CHECK(wl_unit_name(3) == NULL);

  /* Answers as return values: 1, 0, or a failure's wl_result negated. */
  {
    wl_policy *p = NULL;
    wl_pool *pool = NULL;
    wl_worker *w = NULL;
    OK(wl_policy_parse("max_requests=2", &p));
    OK(wl_pool_new(p, 1, &pool));
    OK(wl_pool_worker(pool, 0, &w));
    CHECK(wl_worker_begin_flag(w) == 0 && wl_worker_end_flag(w) == 0);
    CHECK(wl_worker_begin_flag(w) == 1); /* the second request is the last */
    CHECK(wl_worker_end_flag(w) == 1);
    OK(wl_worker_free(w));
    CHECK(wl_worker_end_flag(w) == -(int32_t)WL_INVALID_HANDLE);
    OK(wl_pool_free(pool));
    OK(wl_policy_free(p));
  }

  /* Tickets: each request timed on its own, given back once. */
  {
    wl_policy *p = NULL;
    wl_pool *pool = NULL;
    wl_worker *w = NULL, *other = NULL;
    OK(wl_policy_parse("max_requests=3,request_timeout=5s", &p));
    OK(wl_pool_new(p, 2, &pool));
    OK(wl_pool_worker(pool, 0, &w));
    OK(wl_pool_worker(pool, 1, &other));
    uint64_t a = 0, b = 0;
    bool leave = true;
    OK(wl_worker_begin_ticket(w, &a));
    CHECK(a < (1ULL << 53) && (a & WL_TICKET_LAST) == 0);
    int64_t v = wl_worker_begin_ticket_value(w);
    CHECK(v >= 0 && v < (1LL << 53));
    b = (uint64_t)v;
    CHECK(a != b);
    /* Another worker's ticket, and a forged one: refused, nothing counted. */
    CHECK(wl_worker_end_ticket(other, a, &leave) == WL_BAD_TICKET);
    CHECK(strstr(last_error(), "not a request in flight") != NULL);
    CHECK(wl_worker_end_ticket_flag(w, 12345) == -(int32_t)WL_BAD_TICKET);
    uint64_t overdue[WL_TICKETS];
    size_t n = 99;
    OK(wl_worker_overdue(w, overdue, WL_TICKETS, &n));
    CHECK(n == 0);
    OK(wl_worker_overdue(w, NULL, 0, &n));
    CHECK(wl_worker_overdue(w, NULL, 1, &n) == WL_NULL_ARGUMENT);
    CHECK(wl_worker_overdue(w, overdue, 1, NULL) == WL_NULL_ARGUMENT);
    /* Ended out of order, each once. */
    CHECK(wl_worker_end_ticket_flag(w, b) == 0);
    CHECK(wl_worker_end_ticket_flag(w, b) == -(int32_t)WL_BAD_TICKET);
    CHECK(wl_worker_end_ticket(w, a, NULL) == WL_NULL_ARGUMENT);
    OK(wl_worker_end_ticket(w, a, &leave));
    CHECK(!leave);
    uint64_t requests = 0;
    OK(wl_worker_requests(w, &requests));
    CHECK(requests == 2);
    /* The third is the last to take, and says so. */
    OK(wl_worker_begin_ticket(w, &a));
    CHECK((a & WL_TICKET_LAST) != 0);
    OK(wl_worker_end_ticket(w, a, &leave));
    CHECK(leave);
    CHECK(strcmp(wl_result_name(WL_TOO_MANY_IN_FLIGHT), "WL_TOO_MANY_IN_FLIGHT") == 0);
    OK(wl_worker_free(w));
    OK(wl_worker_free(other));
    CHECK(wl_worker_begin_ticket_value(w) == -(int64_t)WL_INVALID_HANDLE);
    OK(wl_pool_free(pool));
    OK(wl_policy_free(p));
  }

  /* Texts in one call, owned by the library until the thread's next one. */
  wl_decision d = {WL_ACTION_RECYCLE, WL_REASON_MAX_REQUESTS, 1000, 1000};
  CHECK(strcmp(wl_decision_string(&d), "max_requests: 1000 >= 1000") == 0);
  wl_decision cont = {WL_ACTION_CONTINUE, WL_REASON_NONE, 0, 0};
  CHECK(strcmp(wl_decision_string(&cont), "continue") == 0);
  wl_decision bad = {99, WL_REASON_NONE, 0, 0};
  CHECK(wl_decision_string(&bad) == NULL);
  CHECK(wl_decision_string(NULL) == NULL);
  CHECK(wl_result_text(12345, NULL, 0, NULL) == WL_INVALID_ARGUMENT);
  CHECK(strstr(wl_last_error_text(), "12345") != NULL);
}

static void test_results(void) {
  const wl_result all[] = {
      WL_OK,           WL_NULL_ARGUMENT,      WL_INVALID_HANDLE,
      WL_BUFFER_TOO_SMALL, WL_INVALID_UTF8,   WL_INVALID_ARGUMENT,
      WL_UNKNOWN_KEY,  WL_INVALID_VALUE,      WL_INVALID_SLOT_COUNT,
      WL_SLOT_OUT_OF_RANGE, WL_NO_FREE_SLOT,  WL_UNKNOWN_PID,
      WL_SLOT_BUSY,    WL_BAD_POOL_FILE,      WL_NO_SUCH_PROCESS,
      WL_IDENTITY_MISMATCH, WL_BAD_LEDGER,    WL_STILL_HELD,
      WL_IO,           WL_NOT_SUPPORTED,      WL_PANIC};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    char text[128];
    size_t needed = 0;
    OK(wl_result_text(all[i], text, sizeof text, &needed));
    CHECK(needed == strlen(text) + 1 && needed > 1);
  }
  char tiny[2];
  size_t needed = 0;
  CHECK(wl_result_text(WL_NO_FREE_SLOT, tiny, sizeof tiny, &needed) ==
        WL_BUFFER_TOO_SMALL);
  CHECK(tiny[0] == 0 && needed == strlen("no free slot") + 1);
  CHECK(wl_result_text(WL_OK, NULL, 0, &needed) == WL_BUFFER_TOO_SMALL);
  CHECK(needed == 3);
  CHECK(wl_result_text(WL_OK, NULL, 10, NULL) == WL_NULL_ARGUMENT);
  CHECK(wl_result_text(12345, tiny, sizeof tiny, NULL) == WL_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "12345") != NULL);
  /* Asking the size of the last message does not replace it. */
  CHECK(wl_last_error_message(NULL, 0, &needed) == WL_BUFFER_TOO_SMALL);
  CHECK(needed == strlen(last_error()) + 1 && strstr(last_error(), "12345"));
}

static void test_policy(void) {
  wl_policy *p = NULL;
  OK(wl_policy_parse("max_requests=1000, max_rss=512MiB,max_lifetime=1h30m",
                     &p));
  CHECK(p != NULL);
  uint64_t raw = 0;
  OK(wl_policy_get_raw(p, WL_KEY_MAX_RSS, &raw));
  CHECK(raw == 512ull << 20);
  OK(wl_policy_get_raw(p, WL_KEY_MAX_LIFETIME, &raw));
  CHECK(raw == 5400ull * 1000000);
  OK(wl_policy_set(p, "drain_timeout", "5s"));
  OK(wl_policy_set_raw(p, WL_KEY_MAX_REQUESTS, 10));
  char text[256];
  size_t needed = 0;
  OK(wl_policy_to_string(p, text, sizeof text, &needed));
  CHECK(strcmp(text, "max_rss=512MiB,max_requests=10,max_lifetime=1h30m,"
                     "drain_timeout=5s") == 0);
  CHECK(needed == strlen(text) + 1);
  char small[8];
  CHECK(wl_policy_to_string(p, small, sizeof small, &needed) ==
        WL_BUFFER_TOO_SMALL);
  CHECK(needed == strlen(text) + 1 && small[0] == 0);
  /* The string parses back to the same policy. */
  wl_policy *q = NULL;
  OK(wl_policy_parse(text, &q));
  char text2[256];
  OK(wl_policy_to_string(q, text2, sizeof text2, NULL));
  CHECK(strcmp(text, text2) == 0);
  OK(wl_policy_free(q));

  /* Bad spec strings: the code, and a message naming key and value. */
  wl_policy *bad = NULL;
  CHECK(wl_policy_parse("max_rsss=1", &bad) == WL_UNKNOWN_KEY && bad == NULL);
  CHECK(strstr(last_error(), "max_rsss") != NULL);
  CHECK(wl_policy_parse("max_rss=12XB", &bad) == WL_INVALID_VALUE);
  CHECK(strstr(last_error(), "max_rss") && strstr(last_error(), "12XB"));
  CHECK(wl_policy_parse("max_requests", &bad) == WL_INVALID_VALUE);
  CHECK(wl_policy_parse("max_requests=-5", &bad) == WL_INVALID_VALUE);
  CHECK(wl_policy_parse(",,=,,", &bad) == WL_INVALID_VALUE ||
        wl_policy_parse(",,=,,", &bad) == WL_UNKNOWN_KEY);
  CHECK(wl_policy_parse("max_rss=\xff\xfe", &bad) == WL_INVALID_UTF8);
  CHECK(wl_policy_parse("backoff_initial=2m,backoff_max=1m", &bad) ==
        WL_INVALID_VALUE);
  CHECK(wl_policy_parse(NULL, &bad) == WL_NULL_ARGUMENT);
  CHECK(strstr(last_error(), "spec") != NULL);
  CHECK(wl_policy_parse("", NULL) == WL_NULL_ARGUMENT);
  CHECK(bad == NULL);
  /* A failed set leaves the policy unchanged. */
  CHECK(wl_policy_set(p, "max_rss", "lots") == WL_INVALID_VALUE);
  CHECK(wl_policy_set(p, "nope", "1") == WL_UNKNOWN_KEY);
  CHECK(wl_policy_set(p, NULL, "1") == WL_NULL_ARGUMENT);
  CHECK(wl_policy_set(p, "max_rss", NULL) == WL_NULL_ARGUMENT);
  CHECK(wl_policy_set_raw(p, 99, 1) == WL_INVALID_ARGUMENT);
  CHECK(wl_policy_set_raw(p, WL_KEY_BACKOFF_INITIAL, 3600ull * 1000000) ==
        WL_INVALID_VALUE);
  CHECK(wl_policy_get_raw(p, 99, &raw) == WL_INVALID_ARGUMENT);
  CHECK(wl_policy_get_raw(p, WL_KEY_MAX_RSS, NULL) == WL_NULL_ARGUMENT);
  OK(wl_policy_get_raw(p, WL_KEY_MAX_RSS, &raw));
  CHECK(raw == 512ull << 20);

  /* Keys: names and units. */
  CHECK(strcmp(wl_key_name(WL_KEY_MAX_RSS), "max_rss") == 0);
  CHECK(strcmp(wl_key_name(WL_KEY_SAMPLE_INTERVAL), "sample_interval") == 0);
  CHECK(wl_key_name(999) == NULL);
  CHECK(wl_key_unit(WL_KEY_MAX_RSS) == WL_UNIT_BYTES);
  CHECK(wl_key_unit(WL_KEY_DRAIN_TIMEOUT) == WL_UNIT_MICROSECONDS);
  CHECK(wl_key_unit(WL_KEY_MAX_REQUESTS) == WL_UNIT_COUNT);
  CHECK(wl_key_unit(999) == UINT32_MAX);

  /* Free: NULL is fine; a double free and a foreign handle are errors. */
  OK(wl_policy_free(NULL));
  OK(wl_policy_free(p));
  CHECK(wl_policy_free(p) == WL_INVALID_HANDLE);
  CHECK(wl_policy_set(p, "max_rss", "1") == WL_INVALID_HANDLE);
  CHECK(wl_policy_to_string(p, text, sizeof text, NULL) == WL_INVALID_HANDLE);
  CHECK(wl_policy_free((wl_policy *)(uintptr_t)0x12345678) ==
        WL_INVALID_HANDLE);
  wl_policy *fresh = NULL;
  OK(wl_policy_new(&fresh));
  OK(wl_policy_to_string(fresh, text, sizeof text, NULL));
  CHECK(strcmp(text, "") == 0);
  CHECK(wl_policy_new(NULL) == WL_NULL_ARGUMENT);
  /* A handle of another type is refused too. */
  CHECK(wl_worker_begin((const wl_worker *)fresh) == WL_INVALID_HANDLE);
  CHECK(wl_pool_free((wl_pool *)fresh) == WL_INVALID_HANDLE);
  OK(wl_policy_free(fresh));
}

static wl_policy *policy(const char *spec) {
  wl_policy *p = NULL;
  OK(wl_policy_parse(spec, &p));
  return p;
}

static wl_pool *manual_pool(const char *spec, uint32_t slots) {
  wl_policy *p = policy(spec);
  wl_pool_options o = {slots, WL_SHARING_PRIVATE, NULL, true, true, 7};
  wl_pool *pool = NULL;
  OK(wl_pool_build(p, &o, &pool));
  OK(wl_policy_free(p));
  return pool;
}

static void test_worker_and_decisions(void) {
  wl_pool *pool = manual_pool("max_requests=2,max_rss=100MiB", 2);
  uint32_t slots = 0;
  OK(wl_pool_slot_count(pool, &slots));
  CHECK(slots == 2);
  wl_worker *w = NULL;
  OK(wl_pool_claim(pool, (uint32_t)getpid(), &w));
  uint32_t slot = 99;
  OK(wl_worker_slot(w, &slot));
  CHECK(slot == 0);
  bool exit_now = true;
  bool last = true;
  OK(wl_worker_begin_last(w, &last));
  CHECK(!last); /* the first of two */
  OK(wl_worker_end(w, &exit_now));
  CHECK(!exit_now);
  uint64_t requests = 0;
  OK(wl_worker_requests(w, &requests));
  CHECK(requests == 1);
  OK(wl_worker_heartbeat(w));
  OK(wl_worker_check(w, true));
  wl_health h = {50u << 20, WL_NO_READING, WL_NO_READING, 12};
  OK(wl_worker_report_health(w, &h));
  OK(wl_worker_begin_last(w, &last));
  CHECK(last); /* the second reaches max_requests=2 when it begins */
  OK(wl_worker_end(w, &exit_now));
  CHECK(exit_now);
  wl_decision d;
  OK(wl_worker_decision(w, &d));
  CHECK(d.action == WL_ACTION_RECYCLE && d.reason == WL_REASON_MAX_REQUESTS);
  CHECK(d.value == 2 && d.limit == 2);
  char text[128];
  OK(wl_decision_text(&d, text, sizeof text, NULL));
  CHECK(strcmp(text, "max_requests: 2 >= 2") == 0);
  CHECK(strcmp(wl_reason_name(d.reason), "max_requests") == 0);
  CHECK(wl_reason_name(WL_REASON_NONE) == NULL);
  CHECK(wl_reason_name(77) == NULL);
  CHECK(wl_reason_unit(d.reason) == WL_UNIT_COUNT);
  CHECK(wl_reason_unit(WL_REASON_REQUEST_TIMEOUT) == WL_UNIT_MICROSECONDS);
  CHECK(wl_reason_unit(WL_REASON_MEMORY_PSS) == WL_UNIT_BYTES);
  CHECK(wl_reason_unit(WL_REASON_NONE) == UINT32_MAX);
  CHECK(wl_reason_unit(77) == UINT32_MAX);
  wl_decision odd = {9, 0, 0, 0};
  CHECK(wl_decision_text(&odd, text, sizeof text, NULL) == WL_INVALID_ARGUMENT);
  wl_decision odd2 = {1, 99, 0, 0};
  CHECK(wl_decision_text(&odd2, text, sizeof text, NULL) == WL_INVALID_ARGUMENT);
  CHECK(wl_decision_text(NULL, text, sizeof text, NULL) == WL_NULL_ARGUMENT);
  OK(wl_pool_decision(pool, 0, &d));
  CHECK(d.reason == WL_REASON_MAX_REQUESTS);
  CHECK(wl_pool_decision(pool, 5, &d) == WL_SLOT_OUT_OF_RANGE);
  CHECK(strstr(last_error(), "slot 5") != NULL);

  /* tick: a spawn for the vacant slot 1. One at a time: what does not fit
   * comes with the next call. Slot 0 was claimed by a pid this master never
   * reported, so its recycle is held back (and refused once, as an event)
   * until the master takes it on with wl_pool_spawned. */
  wl_pool_action a[1];
  size_t n = 0;
  int recycles = 0, spawns = 0;
  for (int round = 0; round < 4; round++) {
    OK(wl_pool_tick(pool, a, 1, &n));
    if (n == 0) break;
    if (a[0].kind == WL_DO_RECYCLE) {
      recycles++;
      CHECK(a[0].slot == 0 && a[0].pid == (uint32_t)getpid());
      CHECK(a[0].reason == WL_REASON_MAX_REQUESTS && a[0].identity > 0);
    } else if (a[0].kind == WL_DO_SPAWN) {
      spawns++;
      CHECK(a[0].slot == 1);
    }
  }
  CHECK(recycles == 0 && spawns == 1);
  OK(wl_pool_spawned(pool, 0, (uint32_t)getpid()));
  OK(wl_pool_tick(pool, a, 1, &n));
  CHECK(n == 1 && a[0].kind == WL_DO_RECYCLE && a[0].slot == 0);
  CHECK(a[0].pid == (uint32_t)getpid() && a[0].identity > 0);
  CHECK(wl_pool_adopt(pool, (uint32_t)getpid()) == WL_NOT_A_CHILD);
  CHECK(strstr(last_error(), "not a child") != NULL);
  CHECK(wl_pool_adopt(pool, 0) == WL_NO_SUCH_PROCESS);
  CHECK(wl_pool_tick(pool, NULL, 4, &n) == WL_NULL_ARGUMENT);
  OK(wl_pool_tick(pool, NULL, 0, &n));
  CHECK(n == 0);
  CHECK(wl_pool_tick(pool, a, 1, NULL) == WL_NULL_ARGUMENT);

  /* The master's view: spawned, exited, events. */
  OK(wl_worker_exiting(w));
  uint32_t exited_slot = 9;
  OK(wl_pool_exited(pool, (uint32_t)getpid(), 0, &exited_slot));
  CHECK(exited_slot == 0);
  CHECK(wl_pool_exited(pool, 999999, 0, NULL) == WL_UNKNOWN_PID);
  CHECK(strstr(last_error(), "999999") != NULL);
  OK(wl_pool_spawned(pool, 1, 4242));
  OK(wl_pool_exited_slot(pool, 1, 9));
  CHECK(wl_pool_exited_slot(pool, 7, 0) == WL_SLOT_OUT_OF_RANGE);
  wl_event ev[2];
  int spawned = 0, exited = 0, recycle_ev = 0, refused = 0, total = 0;
  for (;;) {
    OK(wl_pool_events(pool, ev, 2, &n));
    for (size_t i = 0; i < n; i++) {
      total++;
      if (ev[i].kind == WL_EVENT_SPAWNED) spawned++;
      if (ev[i].kind == WL_EVENT_RECYCLE_REQUESTED) recycle_ev++;
      if (ev[i].kind == WL_EVENT_REFUSED) refused++;
      if (ev[i].kind == WL_EVENT_EXITED) {
        exited++;
        CHECK(ev[i].has_status);
        if (ev[i].slot == 1) CHECK(ev[i].crash && ev[i].status == 9);
        if (ev[i].slot == 0) CHECK(!ev[i].crash && ev[i].requests == 2);
      }
    }
    if (n < 2) break;
  }
  CHECK(spawned == 2 && exited == 2 && recycle_ev == 1 && refused == 1 && total >= 6);
  CHECK(wl_pool_events(pool, NULL, 1, &n) == WL_NULL_ARGUMENT);

  /* Time, recycle, stats. */
  uint64_t now = 0;
  OK(wl_pool_advance(pool, 1500000));
  OK(wl_pool_now_us(pool, &now));
  CHECK(now == 1500000);
  bool due = true;
  uint64_t in_us = 1;
  OK(wl_pool_next_spawn_in(pool, &due, &in_us));
  CHECK(wl_pool_next_spawn_in(pool, NULL, &in_us) == WL_NULL_ARGUMENT);
  OK(wl_pool_spawned(pool, 0, (uint32_t)getpid()));
  OK(wl_pool_recycle(pool, 0));
  OK(wl_pool_decision(pool, 0, &d));
  CHECK(d.reason == WL_REASON_MANUAL);
  CHECK(wl_pool_recycle(pool, 2) == WL_SLOT_OUT_OF_RANGE);
  char json[8192];
  size_t needed = 0;
  OK(wl_pool_stats_json(pool, json, sizeof json, &needed));
  CHECK(json[0] == '{' && strstr(json, "\"spawns\"") != NULL);
  CHECK(needed == strlen(json) + 1);
  CHECK(wl_pool_stats_json(pool, json, 4, &needed) == WL_BUFFER_TOO_SMALL);
  /* Vacant slots counted, not listed: one "slot" key per occupied slot. */
  {
    char occupied[8192];
    OK(wl_pool_stats_json(pool, json, sizeof json, NULL));
    OK(wl_pool_stats_json_occupied(pool, occupied, sizeof occupied, NULL));
    size_t listed = 0, all = 0, vacant = 0;
    for (const char *p = occupied; (p = strstr(p, "\"slot\":")) != NULL; p++) listed++;
    for (const char *p = json; (p = strstr(p, "\"slot\":")) != NULL; p++) all++;
    for (const char *p = json; (p = strstr(p, "\"state\":\"vacant\"")) != NULL; p++) vacant++;
    CHECK(all == 2 && listed == all - vacant);
  }
  char prom[16384];
  OK(wl_pool_prometheus(pool, prom, sizeof prom, NULL));
  CHECK(strstr(prom, "workerlife_") != NULL);
  CHECK(wl_pool_prometheus(pool, NULL, 0, &needed) == WL_BUFFER_TOO_SMALL);
  CHECK(needed == strlen(prom) + 1);

  wl_policy *copy = NULL;
  OK(wl_pool_policy(pool, &copy));
  uint64_t raw = 0;
  OK(wl_policy_get_raw(copy, WL_KEY_MAX_REQUESTS, &raw));
  CHECK(raw == 2);
  OK(wl_policy_free(copy));

  /* Slot errors. */
  wl_worker *w2 = NULL;
  CHECK(wl_pool_worker(pool, 2, &w2) == WL_SLOT_OUT_OF_RANGE && w2 == NULL);
  CHECK(wl_pool_spawned(pool, 0, (uint32_t)getppid()) == WL_SLOT_BUSY);
  OK(wl_pool_spawned(pool, 1, (uint32_t)getppid()));
  CHECK(wl_pool_claim(pool, 1, &w2) == WL_NO_FREE_SLOT);
  size_t n_gone = 9;
  CHECK(wl_pool_sample(pool, NULL, NULL, 0, &n_gone) == WL_OK && n_gone == 0);
  CHECK(wl_pool_sample(pool, NULL, NULL, 2, &n_gone) == WL_NULL_ARGUMENT);
  uint32_t reaped_slots[2];
  OK(wl_pool_reap_dead(pool, reaped_slots, 2, &n));
  CHECK(n == 0);
  CHECK(wl_pool_reap_dead(pool, reaped_slots, 2, NULL) == WL_NULL_ARGUMENT);

  /* The worker handle outlives its pool; freeing twice is an error. */
  OK(wl_pool_free(pool));
  CHECK(wl_pool_free(pool) == WL_INVALID_HANDLE);
  CHECK(wl_pool_tick(pool, a, 1, &n) == WL_INVALID_HANDLE);
  OK(wl_worker_begin(w));
  OK(wl_worker_end(w, &exit_now));
  CHECK(wl_worker_end(w, NULL) == WL_NULL_ARGUMENT);
  CHECK(wl_worker_begin_last(w, NULL) == WL_NULL_ARGUMENT);
  OK(wl_worker_free(w));
  CHECK(wl_worker_free(w) == WL_INVALID_HANDLE);
  CHECK(wl_worker_begin(w) == WL_INVALID_HANDLE);
  CHECK(wl_worker_begin_last(w, &last) == WL_INVALID_HANDLE);
  CHECK(wl_worker_end(w, &exit_now) == WL_INVALID_HANDLE);
  CHECK(wl_worker_heartbeat(w) == WL_INVALID_HANDLE);
  CHECK(wl_worker_begin(NULL) == WL_NULL_ARGUMENT);
  CHECK(wl_worker_begin((wl_worker *)(uintptr_t)0xdeadbeef) ==
        WL_INVALID_HANDLE);
  OK(wl_worker_free(NULL));
  OK(wl_pool_free(NULL));
}

static void test_pool_kinds(void) {
  wl_policy *p = policy("max_requests=100");
  wl_pool *pool = NULL;
  CHECK(wl_pool_new(p, 0, &pool) == WL_INVALID_SLOT_COUNT && pool == NULL);
  CHECK(wl_pool_new(NULL, 1, &pool) == WL_NULL_ARGUMENT);
  CHECK(wl_pool_new(p, 1, NULL) == WL_NULL_ARGUMENT);
  OK(wl_pool_new(p, 1, &pool));
  CHECK(wl_pool_advance(pool, 1) == WL_NOT_SUPPORTED);
  OK(wl_pool_free(pool));

  /* Shared before fork: the child's requests are seen by the parent. */
  OK(wl_pool_new_shared(p, 2, &pool));
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    wl_worker *w = NULL;
    bool e = false;
    if (wl_pool_claim(pool, (uint32_t)getpid(), &w) != WL_OK) _exit(2);
    for (int i = 0; i < 30; i++) {
      if (wl_worker_begin(w) != WL_OK || wl_worker_end(w, &e) != WL_OK)
        _exit(3);
    }
    _exit(0);
  }
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0);
  char json[8192];
  OK(wl_pool_stats_json(pool, json, sizeof json, NULL));
  CHECK(strstr(json, "\"requests\":30") != NULL);
  uint32_t slot = 9;
  OK(wl_pool_exited(pool, (uint32_t)child, status, &slot));
  CHECK(slot == 0);
  OK(wl_pool_free(pool));

  /* Named: create, attach (as an exec'd worker would), damaged files. */
  char path[64];
  snprintf(path, sizeof path, "/tmp/wl-ctest-%d.pool", (int)getpid());
  unlink(path);
  OK(wl_pool_create(path, p, 3, &pool));
  CHECK(wl_pool_create(path, p, 3, &pool) == WL_IO);
  wl_pool *attached = NULL;
  OK(wl_pool_attach(path, &attached));
  uint32_t slots = 0;
  OK(wl_pool_slot_count(attached, &slots));
  CHECK(slots == 3);
  wl_worker *w = NULL;
  OK(wl_pool_claim(attached, (uint32_t)getpid(), &w));
  OK(wl_worker_begin(w));
  bool e = false;
  OK(wl_worker_end(w, &e));
  OK(wl_pool_stats_json(pool, json, sizeof json, NULL));
  CHECK(strstr(json, "\"requests\":1") != NULL);
  OK(wl_worker_free(w));
  OK(wl_pool_free(attached));
  OK(wl_pool_free(pool));
  CHECK(access(path, F_OK) != 0); /* the creator removed it */
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  fputs("this is not a pool", f);
  fclose(f);
  CHECK(wl_pool_attach(path, &attached) == WL_BAD_POOL_FILE);
  CHECK(strstr(last_error(), path) != NULL);
  unlink(path);
  CHECK(wl_pool_attach(path, &attached) == WL_IO);
  CHECK(wl_pool_attach(NULL, &attached) == WL_NULL_ARGUMENT);
  wl_pool_options o = {2, WL_SHARING_NAMED, NULL, false, false, 0};
  CHECK(wl_pool_build(p, &o, &pool) == WL_NULL_ARGUMENT);
  o.path = path;
  OK(wl_pool_build(p, &o, &pool));
  OK(wl_pool_free(pool));
  o.sharing = 7;
  CHECK(wl_pool_build(p, &o, &pool) == WL_INVALID_ARGUMENT);
  o.sharing = WL_SHARING_SHARED;
  OK(wl_pool_build(p, &o, &pool));
  OK(wl_pool_free(pool));
  CHECK(wl_pool_build(p, NULL, &pool) == WL_NULL_ARGUMENT);
  OK(wl_policy_free(p));
}

static void test_process_toolkit(void) {
  wl_sample s;
  OK(wl_process_sample((uint32_t)getpid(), true, &s));
  CHECK(s.pid == (uint32_t)getpid() && s.rss > 0 && s.fds >= 3);
  CHECK(s.uss <= s.pss && s.pss <= s.rss);
  OK(wl_process_sample((uint32_t)getpid(), false, &s));
  CHECK(s.uss == WL_NO_READING && s.pss == WL_NO_READING);
  CHECK(wl_process_sample((uint32_t)getpid(), false, NULL) == WL_NULL_ARGUMENT);
  uint64_t start = 0;
  OK(wl_process_identity((uint32_t)getpid(), &start));
  CHECK(start > 0 && start == s.start_time);

  /* A gone process. */
  pid_t child = fork();
  if (child == 0) _exit(0);
  int status;
  waitpid(child, &status, 0);
  CHECK(wl_process_sample((uint32_t)child, false, &s) == WL_NO_SUCH_PROCESS);
  CHECK(wl_process_identity((uint32_t)child, &start) == WL_NO_SUCH_PROCESS);
  CHECK(wl_signal((uint32_t)child, 0, 0) == WL_UNKNOWN_IDENTITY);
  CHECK(wl_signal((uint32_t)child, 12345, 0) == WL_NO_SUCH_PROCESS);

  /* A zombie has no identity: nothing may be signalled on its account. */
  child = fork();
  if (child == 0) _exit(0);
  for (int i = 0; i < 2000; i++) {
    char path[64], buf[256] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int)child);
    FILE *f = fopen(path, "r");
    if (f) {
      size_t got = fread(buf, 1, sizeof buf - 1, f);
      fclose(f);
      buf[got] = 0;
    }
    char *close_paren = strrchr(buf, ')');
    if (close_paren && close_paren[2] == 'Z') break;
    usleep(1000);
  }
  CHECK(wl_process_identity((uint32_t)child, &start) == WL_NO_SUCH_PROCESS);
  waitpid(child, &status, 0);

  /* A wrong start time is refused and nothing is sent. */
  child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  uint64_t child_start = 0;
  while (wl_process_identity((uint32_t)child, &child_start) != WL_OK) {
  }
  CHECK(wl_signal((uint32_t)child, child_start + 1, SIGKILL) ==
        WL_IDENTITY_MISMATCH);
  CHECK(strstr(last_error(), "start time") != NULL);
  CHECK(wl_signal((uint32_t)child, 0, SIGKILL) == WL_UNKNOWN_IDENTITY);
  CHECK(waitpid(child, &status, WNOHANG) == 0); /* still alive */
  uint32_t held = 0;
  CHECK(wl_wait_released((uint32_t)child, 0, 20000, &held) == WL_STILL_HELD);
  CHECK(held == WL_HELD_PROCESS);
  OK(wl_signal((uint32_t)child, child_start, SIGKILL));
  CHECK(waitpid(child, &status, 0) == child && WIFSIGNALED(status));
  OK(wl_wait_released((uint32_t)child, 0, 1000000, &held));
  CHECK(held == WL_HELD_NOTHING);

  /* Self-sample through a worker. */
  wl_pool *pool = manual_pool("max_rss=1TiB", 1);
  wl_worker *w = NULL;
  OK(wl_pool_worker(pool, 0, &w));
  OK(wl_worker_sample_self(w, false, &s));
  CHECK(s.rss > 0);
  OK(wl_worker_sample_self(w, true, NULL));
  OK(wl_worker_free(w));
  OK(wl_pool_free(pool));

  /* The ledger: record, forget, reap, damage. */
  char path[64];
  snprintf(path, sizeof path, "/tmp/wl-ctest-%d.ledger", (int)getpid());
  unlink(path);
  wl_ledger *l = NULL;
  OK(wl_ledger_open(path, &l));
  OK(wl_ledger_record(l, (uint32_t)getpid()));
  OK(wl_ledger_forget(l, (uint32_t)getpid()));
  CHECK(wl_ledger_record(l, 0) == WL_NO_SUCH_PROCESS);
  wl_reaped r[4];
  size_t n = 9;
  OK(wl_ledger_reap(l, 1000, r, 4, &n));
  CHECK(n == 0);
  CHECK(wl_ledger_reap(l, 1000, NULL, 4, &n) == WL_NULL_ARGUMENT);
  /* A record of a dead master whose pid is now someone else's. */
  FILE *f = fopen(path, "w");
  fprintf(f,
          "# workerlife ledger 1: run master_pid master_start pid start\n"
          "00000000000000aa 1 1 %d %llu\n",
          (int)getpid(), (unsigned long long)(s.start_time + 5));
  fclose(f);
  OK(wl_ledger_reap(l, 1000, r, 4, &n));
  CHECK(n == 1 && r[0].outcome == WL_REAP_PID_REUSED &&
        r[0].pid == (uint32_t)getpid() && r[0].run_id == 0xaa);
  f = fopen(path, "w");
  fputs("garbage\n", f);
  fclose(f);
  CHECK(wl_ledger_reap(l, 1000, r, 4, &n) == WL_BAD_LEDGER);
  CHECK(strstr(last_error(), ".corrupt") != NULL);
  char aside[80];
  snprintf(aside, sizeof aside, "%s.corrupt", path);
  CHECK(access(aside, F_OK) == 0);
  unlink(aside);
  OK(wl_ledger_free(l));
  CHECK(wl_ledger_free(l) == WL_INVALID_HANDLE);
  CHECK(wl_ledger_record(l, 1) == WL_INVALID_HANDLE);
  OK(wl_ledger_free(NULL));
  unlink(path);
  CHECK(wl_ledger_open("/nonexistent-dir/x.ledger", &l) == WL_IO);
  CHECK(wl_ledger_open(NULL, &l) == WL_NULL_ARGUMENT);
  OK(wl_wait_released(0, 0, 0, NULL));
}

/* A call that fails changes nothing. */
static void test_failing_calls_change_nothing(void) {
  wl_pool *pool = manual_pool("", 2);
  uint64_t live = 0, live_after = 0;
  OK(wl_live_handles(&live));
  CHECK(live >= 1);
  CHECK(wl_pool_claim(pool, (uint32_t)getpid(), NULL) == WL_NULL_ARGUMENT);
  OK(wl_live_handles(&live_after));
  CHECK(live_after == live); /* no handle made either */
  CHECK(wl_live_handles(NULL) == WL_NULL_ARGUMENT);
  /* Numbers stay numbers; a bad one changes nothing. */
  wl_policy *num = NULL;
  OK(wl_policy_new(&num));
  OK(wl_policy_set_number(num, "request_timeout", 1e-5));
  uint64_t raw_us = 0;
  OK(wl_policy_get_raw(num, WL_KEY_REQUEST_TIMEOUT, &raw_us));
  CHECK(raw_us == 10);
  CHECK(wl_policy_set_number(num, "request_timeout", 4e-7) == WL_INVALID_VALUE);
  CHECK(strstr(last_error(), "request_timeout") != NULL);
  CHECK(wl_policy_set_number(num, "max_rss", 1.5) == WL_INVALID_VALUE);
  CHECK(wl_policy_set_number(num, "nope", 1) == WL_UNKNOWN_KEY);
  CHECK(wl_policy_set_number(num, NULL, 1) == WL_NULL_ARGUMENT);
  OK(wl_policy_get_raw(num, WL_KEY_REQUEST_TIMEOUT, &raw_us));
  CHECK(raw_us == 10);
  OK(wl_policy_free(num));
  /* A pointer not aligned for its type is refused, never written through. */
  uint64_t words[2] = {7, 7};
  CHECK(wl_live_handles((uint64_t *)(void *)((char *)words + 1)) == WL_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "not aligned") != NULL);
  CHECK(words[0] == 7 && words[1] == 7);
  wl_worker *a = NULL, *b = NULL;
  OK(wl_pool_claim(pool, (uint32_t)getpid(), &a));
  OK(wl_pool_claim(pool, (uint32_t)getppid(), &b)); /* both slots were free */
  /* The server asked a worker to leave: its exit is not a crash. */
  uint32_t left = 9;
  OK(wl_pool_exiting(pool, (uint32_t)getppid(), &left));
  CHECK(left == 1);
  CHECK(wl_pool_exiting(pool, 999999, NULL) == WL_UNKNOWN_PID);
  OK(wl_pool_exited(pool, (uint32_t)getppid(), 0, NULL));
  wl_event ev[4];
  size_t n_ev = 0;
  OK(wl_pool_events(pool, ev, 4, &n_ev));
  int exits = 0;
  for (size_t i = 0; i < n_ev; i++)
    if (ev[i].kind == WL_EVENT_EXITED) {
      exits++;
      CHECK(!ev[i].crash);
    }
  CHECK(exits == 1);
  OK(wl_worker_free(a));
  OK(wl_worker_free(b));
  OK(wl_pool_free(pool));

  pool = manual_pool("", 2);
  pid_t child = fork();
  if (child == 0) _exit(0);
  int status;
  waitpid(child, &status, 0);
  OK(wl_pool_spawned(pool, 0, (uint32_t)child)); /* gone: identity unknown */
  size_t n = 7;
  CHECK(wl_pool_reap_dead(pool, NULL, 2, &n) == WL_NULL_ARGUMENT);
  uint32_t odd[3];
  CHECK(wl_pool_reap_dead(pool, (uint32_t *)(void *)((char *)odd + 1), 2, &n) ==
        WL_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "slots") != NULL);
  uint32_t gone[2] = {9, 9};
  OK(wl_pool_reap_dead(pool, gone, 2, &n));
  CHECK(n == 1 && gone[0] == 0); /* still there for the call that works */
  OK(wl_pool_free(pool));

  /* What does not fit the caller's array stays queued for the next call. */
  pool = manual_pool("", 2);
  for (uint32_t slot = 0; slot < 2; slot++) {
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, &status, 0);
    OK(wl_pool_spawned(pool, slot, (uint32_t)dead));
  }
  uint32_t one[1] = {9};
  OK(wl_pool_reap_dead(pool, one, 1, &n));
  CHECK(n == 1);
  uint32_t first = one[0];
  OK(wl_pool_sample(pool, NULL, one, 1, &n));
  CHECK(n == 1 && one[0] != first && one[0] < 2);
  OK(wl_pool_reap_dead(pool, one, 1, &n));
  CHECK(n == 0);
  OK(wl_pool_free(pool));
}

/* Fork safety: while another thread makes and frees handles and ticks a
 * shared pool, each forked child makes its own handles and calls every
 * master-side function; a child that hangs is ended by its alarm and fails
 * the check. */
static volatile int busy_stop;

static void *busy_thread(void *arg) {
  wl_pool *pool = arg;
  wl_pool_action a[4];
  wl_event ev[4];
  size_t n;
  while (!busy_stop) {
    wl_policy *p = NULL;
    if (wl_policy_parse("max_requests=5", &p) == WL_OK) wl_policy_free(p);
    wl_pool_tick(pool, a, 4, &n);
    wl_pool_events(pool, ev, 4, &n);
    wl_pool_sample(pool, NULL, NULL, 0, &n);
  }
  return NULL;
}

static void test_fork_under_busy_thread(void) {
  wl_policy *p = NULL;
  OK(wl_policy_parse("max_requests=5,sample_interval=1ms", &p));
  wl_pool *pool = NULL;
  OK(wl_pool_new_shared(p, 4, &pool));
  OK(wl_policy_free(p));
  OK(wl_pool_spawned(pool, 0, (uint32_t)getpid()));
  pthread_t t;
  CHECK(pthread_create(&t, NULL, busy_thread, pool) == 0);
  int hung = 0;
  for (int i = 0; i < 200; i++) {
    pid_t child = fork();
    if (child == 0) {
      alarm(10);
      wl_policy *cp = NULL;
      wl_worker *w = NULL;
      wl_pool_action a[4];
      wl_event ev[4];
      uint32_t gone[4], slot;
      size_t n;
      bool leave;
      if (wl_policy_new(&cp) != WL_OK || wl_policy_free(cp) != WL_OK) _exit(2);
      if (wl_pool_claim(pool, (uint32_t)getpid(), &w) != WL_OK) _exit(3);
      wl_worker_begin(w);
      wl_worker_end(w, &leave);
      if (wl_pool_tick(pool, a, 4, &n) != WL_OK) _exit(4);
      if (wl_pool_events(pool, ev, 4, &n) != WL_OK) _exit(5);
      if (wl_pool_reap_dead(pool, gone, 4, &n) != WL_OK) _exit(6);
      wl_pool_exited(pool, 1, 0, &slot);
      wl_worker_exiting(w);
      wl_worker_free(w);
      _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) hung++;
  }
  busy_stop = 1;
  pthread_join(t, NULL);
  CHECK(hung == 0);
  OK(wl_pool_free(pool));
}

/* The worker's own watchdog with no master: a worker stuck in a C-level
 * sleep is killed at request_timeout; a granted recycle sends the graceful
 * signal; wl_pool_open shares one file between processes. */
static void test_watchdog_and_open(void) {
  wl_policy *p = policy("request_timeout=200ms");
  wl_pool *pool = NULL;
  OK(wl_pool_new_shared(p, 2, &pool));
  wl_worker *w = NULL;
  wl_watchdog *dog = NULL;
  OK(wl_pool_claim(pool, (uint32_t)getpid(), &w));
  CHECK(wl_worker_watchdog(NULL, 0, 0, &dog) == WL_NULL_ARGUMENT);
  CHECK(wl_worker_watchdog(w, 0, 0, NULL) == WL_NULL_ARGUMENT);
  CHECK(wl_worker_watchdog(w, SIGKILL, 0, &dog) == WL_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "recycle_signal 9") != NULL);
  CHECK(wl_worker_watchdog(w, 0, 60001, &dog) == WL_INVALID_ARGUMENT);
  CHECK(dog == NULL);
  CHECK(wl_watchdog_wake(NULL) == WL_NULL_ARGUMENT);
  CHECK(wl_watchdog_wake((const wl_watchdog *)w) == WL_INVALID_HANDLE);
  CHECK(wl_watchdog_free(NULL) == WL_OK);
  CHECK(wl_watchdog_detach(NULL) == WL_OK);
  OK(wl_worker_watchdog(w, 0, 50, &dog));
  OK(wl_watchdog_wake(dog));
  OK(wl_watchdog_detach(dog)); /* runs on, with no handle */
  CHECK(wl_watchdog_wake(dog) == WL_INVALID_HANDLE);
  CHECK(wl_watchdog_free(dog) == WL_INVALID_HANDLE);
  dog = NULL;
  OK(wl_worker_free(w));
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    wl_worker *cw = NULL;
    wl_watchdog *cd = NULL;
    if (wl_pool_claim(pool, (uint32_t)getpid(), &cw) != WL_OK) _exit(2);
    if (wl_worker_watchdog(cw, 0, 0, &cd) != WL_OK) _exit(3);
    if (wl_worker_begin(cw) != WL_OK) _exit(4);
    sleep(30); /* stuck in C: only the watchdog can end it */
    _exit(0);
  }
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  OK(wl_pool_free(pool));
  OK(wl_policy_free(p));

  p = policy("max_requests=1");
  char path[64];
  snprintf(path, sizeof path, "/tmp/wl-ctest-open-%d.pool", (int)getpid());
  unlink(path);
  CHECK(wl_pool_open(NULL, p, 2, &pool) == WL_NULL_ARGUMENT);
  CHECK(wl_pool_open(path, p, 0, &pool) == WL_INVALID_SLOT_COUNT);
  OK(wl_pool_open(path, p, 2, &pool));
  child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    /* Another worker opens the same file, and its watchdog asks it to
     * leave (SIGTERM) once its one request is served. */
    wl_pool *mine = NULL;
    wl_worker *cw = NULL;
    wl_watchdog *cd = NULL;
    bool leave = false;
    if (wl_pool_open(path, p, 2, &mine) != WL_OK) _exit(2);
    if (wl_pool_claim(mine, (uint32_t)getpid(), &cw) != WL_OK) _exit(3);
    if (wl_worker_watchdog(cw, SIGTERM, 0, &cd) != WL_OK) _exit(4);
    if (wl_worker_begin(cw) != WL_OK || wl_worker_end(cw, &leave) != WL_OK) _exit(5);
    if (!leave || wl_watchdog_wake(cd) != WL_OK) _exit(6);
    sleep(30);
    _exit(0);
  }
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  char json[8192];
  OK(wl_pool_stats_json(pool, json, sizeof json, NULL));
  CHECK(strstr(json, "\"requests\":1") != NULL);
  bool removed = false;
  CHECK(wl_pool_remove_if_last(pool, NULL) == WL_NULL_ARGUMENT);
  OK(wl_pool_remove_if_last(pool, &removed));
  CHECK(removed && access(path, F_OK) != 0);
  OK(wl_pool_free(pool));
  OK(wl_policy_free(p));
}

/* The host contract, and the chores every host's master shares. */
static void test_host_contract(void) {
  struct wl_policy *p = NULL;
  OK(wl_policy_parse("heartbeat_timeout=2s,max_requests=1", &p));
  CHECK(wl_policy_check_host(p, "Puma cluster", WL_HOST_MASTER_KILLS) == WL_NOT_FOR_HOST);
  CHECK(strstr(last_error(), "heartbeat_timeout=2s") == last_error());
  CHECK(strstr(last_error(), "Puma cluster") != NULL);
  CHECK(strstr(last_error(), "request_timeout") != NULL);
  OK(wl_policy_check_host(p, "gunicorn", WL_HOST_MASTER_KILLS | WL_HOST_HEARTBEAT));

  uint32_t slots = 0;
  struct wl_policy *surge = NULL;
  OK(wl_policy_parse("max_surge=1", &surge));
  OK(wl_host_slots(WL_HOST_NUMBERED, 4, surge, &slots));
  CHECK(slots == 5);
  OK(wl_host_slots(WL_HOST_MASTER_KILLS, 4, surge, &slots));
  CHECK(slots == 17);
  wl_policy_free(surge);

  struct wl_pool *pool = NULL;
  OK(wl_pool_new(p, 2, &pool));
  CHECK(wl_pool_set_host(pool, "Puma cluster", WL_HOST_MASTER_KILLS) == WL_NOT_FOR_HOST);
  OK(wl_pool_set_host(pool, "C test master", WL_HOST_MASTER_KILLS | WL_HOST_HEARTBEAT | WL_HOST_NUMBERED));
  char *line = NULL;
  OK(wl_pool_startup_line(pool, &line));
  CHECK(strstr(line, "C test master") != NULL);
  CHECK(strstr(line, "max_requests=1") != NULL);
  wl_string_free(line);

  /* Round errors: once, then counted. */
  OK(wl_pool_round_error(pool, "spawn failed: EAGAIN", &line));
  CHECK(line != NULL && strcmp(line, "spawn failed: EAGAIN") == 0);
  wl_string_free(line);
  for (int i = 2; i < 10; i++) {
    OK(wl_pool_round_error(pool, "spawn failed: EAGAIN", &line));
    CHECK(line == NULL);
  }
  OK(wl_pool_round_error(pool, "spawn failed: EAGAIN", &line));
  CHECK(line != NULL && strstr(line, "(seen 10 times)") != NULL);
  wl_string_free(line);

  /* Stats in one call, allocated by the library. */
  OK(wl_pool_stats_text(pool, WL_STATS_JSON, &line));
  CHECK(line[0] == '{');
  wl_string_free(line);
  OK(wl_pool_stats_text(pool, WL_STATS_PROMETHEUS, &line));
  CHECK(strstr(line, "workerlife_") != NULL);
  wl_string_free(line);

  /* Adopting a server's list: its children only. */
  pid_t kids[2];
  for (int i = 0; i < 2; i++) {
    kids[i] = fork();
    CHECK(kids[i] >= 0);
    if (kids[i] == 0) {
      pause();
      _exit(0);
    }
  }
  uint32_t list[3] = {(uint32_t)kids[0], (uint32_t)kids[1], 1};
  size_t adopted = 0;
  OK(wl_pool_adopt_all(pool, list, 2, &adopted));
  CHECK(adopted == 2);
  OK(wl_pool_adopt_all(pool, list, 2, &adopted));
  CHECK(adopted == 0);
  CHECK(wl_pool_adopt_all(pool, list, 3, &adopted) == WL_NOT_A_CHILD);
  CHECK(strstr(last_error(), "pid 1 ") != NULL);
  CHECK(adopted == 0);
  for (int i = 0; i < 2; i++) {
    kill(kids[i], SIGKILL);
    waitpid(kids[i], NULL, 0);
  }

  /* The event line every host logs, with its severity. */
  struct wl_worker *w = NULL;
  OK(wl_pool_claim(pool, (uint32_t)getpid(), &w));
  bool must_exit = false;
  CHECK(wl_worker_event_string(w) == NULL); /* may continue */
  OK(wl_worker_begin(w));
  OK(wl_worker_end(w, &must_exit));
  CHECK(must_exit);
  /* Where no master files events, the worker's own line is the same. */
  const char *own = wl_worker_event_string(w);
  CHECK(own != NULL && strstr(own, "recycle_requested slot=") == own);
  CHECK(strstr(own, " reason=max_requests (1 >= 1) ") != NULL);
  struct wl_pool_action actions[8];
  size_t n = 0;
  OK(wl_pool_tick(pool, actions, 8, &n));
  struct wl_event events[16];
  OK(wl_pool_events(pool, events, 16, &n));
  int seen = 0;
  for (size_t i = 0; i < n; i++) {
    const char *text = wl_event_string(&events[i]);
    CHECK(text != NULL);
    CHECK(wl_event_severity(&events[i]) >= WL_SEVERITY_INFO);
    /* This process is no child of its own: the recycle is refused, and
     * said so, with the decision. */
    if (events[i].kind == WL_EVENT_REFUSED) {
      CHECK(strstr(text, "refused slot=") == text);
      CHECK(strstr(text, " reason=max_requests ") != NULL);
      CHECK(wl_event_severity(&events[i]) == WL_SEVERITY_WARNING);
      seen++;
    }
  }
  CHECK(seen == 1);
  struct wl_event bad = events[0];
  bad.kind = 200;
  CHECK(wl_event_string(&bad) == NULL && wl_event_severity(&bad) == 0);
  wl_worker_free(w);
  wl_pool_free(pool);
  wl_policy_free(p);
}

/* Connects to 127.0.0.1:port; -1 when refused. */
static int connect_local(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

/* The stats endpoint: served from the library's thread, closed by free. */
static void test_metrics_endpoint(void) {
  struct wl_policy *p = NULL;
  struct wl_pool *pool = NULL;
  struct wl_metrics *m = NULL, *again = NULL;
  OK(wl_policy_parse("max_requests=3", &p));
  OK(wl_pool_new(p, 2, &pool));
  OK(wl_metrics_serve(pool, "127.0.0.1:0", &m));
  uint16_t port = 0;
  OK(wl_metrics_port(m, &port));
  CHECK(port != 0);
  CHECK(wl_metrics_serve(pool, "127.0.0.1:99999", &again) == WL_INVALID_ARGUMENT);
  char taken[32];
  snprintf(taken, sizeof taken, "127.0.0.1:%u", (unsigned)port);
  CHECK(wl_metrics_serve(pool, taken, &again) == WL_IO && again == NULL);
  CHECK(strstr(wl_last_error_text(), taken) != NULL);

  int fd = connect_local(port);
  CHECK(fd >= 0);
  const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
  static char answer[1 << 16];
  size_t got = 0;
  ssize_t n;
  while (got < sizeof answer - 1 && (n = read(fd, answer + got, sizeof answer - 1 - got)) > 0)
    got += (size_t)n;
  answer[got] = 0;
  close(fd);
  CHECK(strncmp(answer, "HTTP/1.1 200 OK", 15) == 0);
  CHECK(strstr(answer, "workerlife_workers{state=\"vacant\"} 2") != NULL);

  /* The server may outlive the pool's handle; freed, its port is closed. */
  wl_pool_free(pool);
  OK(wl_metrics_free(m));
  CHECK(connect_local(port) < 0);
  CHECK(wl_metrics_free(m) == WL_INVALID_HANDLE);
  wl_policy_free(p);
}

int main(void) {
  test_version();
  test_abi();
  test_results();
  test_policy();
  test_worker_and_decisions();
  test_pool_kinds();
  test_process_toolkit();
  test_failing_calls_change_nothing();
  test_fork_under_busy_thread();
  test_watchdog_and_open();
  test_host_contract();
  test_metrics_endpoint();
  printf("test_capi: %d checks passed\n", checks);
  return 0;
}
