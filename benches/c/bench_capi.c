/* begin + end through the C ABI, against a pair of C11 atomic_fetch_add
 * measured in the same run. Prints the ratio; asserts nothing. */
#define _GNU_SOURCE
#include "workerlife.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define ITERS 20000000L
/* Best of 7 rounds; of one when BENCH_QUICK=1 (CI). */
static int rounds = 7;

/* Best ns per wl_worker_begin + wl_worker_end pair for a policy. */
static double begin_end(const char *spec, unsigned long long *exits) {
  wl_policy *p = NULL;
  wl_pool *pool = NULL;
  wl_worker *w = NULL;
  double best = 1e18;
  if (wl_policy_parse(spec, &p) != WL_OK ||
      wl_pool_new_shared(p, 4, &pool) != WL_OK ||
      wl_pool_claim(pool, (uint32_t)getpid(), &w) != WL_OK)
    return -1;
  for (int r = 0; r < rounds; r++) {
    double t = now_ns();
    for (long i = 0; i < ITERS; i++) {
      bool leave = false;
      wl_worker_begin(w);
      wl_worker_end(w, &leave);
      *exits += leave;
    }
    double ns = (now_ns() - t) / ITERS;
    if (ns < best) best = ns;
  }
  wl_worker_free(w);
  wl_pool_free(pool);
  wl_policy_free(p);
  return best;
}

int main(void) {
  static _Atomic unsigned long long a, b;
  const char *quick = getenv("BENCH_QUICK");
  if (quick != NULL && strcmp(quick, "1") == 0) rounds = 1;
  double base = 1e18;
  for (int r = 0; r < rounds; r++) {
    double t = now_ns();
    for (long i = 0; i < ITERS; i++) {
      atomic_fetch_add(&a, 1);
      atomic_fetch_add(&b, 1);
      __asm__ volatile("" ::: "memory");
    }
    double ns = (now_ns() - t) / ITERS;
    if (ns < base) base = ns;
  }
  unsigned long long exits = 0;
  /* With request_timeout, begin and end each read the clock; without a
     rule that times activity they read none. */
  double timed = begin_end("max_requests=1000000000000,max_rss=1GiB,request_timeout=30s", &exits);
  double untimed = begin_end("max_requests=1000000000000,max_rss=1GiB", &exits);
  if (timed < 0 || untimed < 0) return 1;
  printf("C ABI bench                              ns/op    ratio\n");
  printf("2x atomic_fetch_add (baseline)        %8.2f     1.00\n", base);
  printf("wl_worker_begin + wl_worker_end       %8.2f  %7.2fx   goal <= 3x (with request_timeout)\n",
         timed, timed / base);
  printf("  the same, no timed rule             %8.2f  %7.2fx   goal <= 3x (max_requests, max_rss)\n",
         untimed, untimed / base);
  return exits > 0;
}
