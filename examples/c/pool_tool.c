/* One of four pool tools (Rust, C, Python, Perl) that speak the same lines;
 * see examples/pool_tool.rs for the protocol:
 *
 *   pool_tool create PATH POLICY SLOTS | pool_tool attach PATH
 *
 * then `work SLOT N`, `decision SLOT`, `stats` on stdin, one reply line each. */
#include "workerlife.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_error(void) {
  char msg[512];
  wl_last_error_message(msg, sizeof msg, NULL);
  printf("error %s\n", msg);
}

static int reply(wl_pool *pool, char *line) {
  unsigned slot = 0, n = 0;
  char extra;
  if (sscanf(line, "work %u %u %c", &slot, &n, &extra) == 2) {
    wl_worker *w = NULL;
    if (wl_pool_worker(pool, slot, &w) != WL_OK) return -1;
    for (unsigned i = 0; i < n; i++) {
      bool exit = false;
      if (wl_worker_begin(w) != WL_OK || wl_worker_end(w, &exit) != WL_OK) {
        wl_worker_free(w);
        return -1;
      }
    }
    wl_worker_free(w);
    printf("ok\n");
  } else if (sscanf(line, "decision %u %c", &slot, &extra) == 1) {
    wl_decision d;
    if (wl_pool_decision(pool, slot, &d) != WL_OK) return -1;
    const char *reason = d.reason ? wl_reason_name(d.reason) : "-";
    printf("%s %s\n", wl_action_name(d.action), reason ? reason : "?");
  } else if (strcmp(line, "stats") == 0) {
    /* Asks the size, then writes; the stats move on meanwhile (uptimes
     * grow a digit), so a text that outgrew the buffer is asked again. */
    size_t needed = 0;
    char *buf = NULL;
    wl_result r = wl_pool_stats_json(pool, NULL, 0, &needed);
    for (int tries = 0; tries < 8; tries++) {
      char *bigger = realloc(buf, needed);
      if (!bigger) break;
      buf = bigger;
      r = wl_pool_stats_json(pool, buf, needed, &needed);
      if (r != WL_BUFFER_TOO_SMALL) break;
    }
    if (!buf || r != WL_OK) {
      free(buf);
      return -1;
    }
    printf("%s\n", buf);
    free(buf);
  } else {
    printf("error unknown command \"%s\"\n", line);
  }
  return 0;
}

int main(int argc, char **argv) {
  wl_pool *pool = NULL;
  wl_result r;
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 5 && strcmp(argv[1], "create") == 0) {
    wl_policy *policy = NULL;
    r = wl_policy_parse(argv[3], &policy);
    if (r == WL_OK) r = wl_pool_create(argv[2], policy, (uint32_t)strtoul(argv[4], NULL, 10), &pool);
    wl_policy_free(policy);
  } else if (argc == 3 && strcmp(argv[1], "attach") == 0) {
    r = wl_pool_attach(argv[2], &pool);
  } else {
    printf("error usage: pool_tool create PATH POLICY SLOTS | pool_tool attach PATH\n");
    return 1;
  }
  if (r != WL_OK) {
    print_error();
    return 1;
  }
  printf("ready\n");
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (reply(pool, line) != 0) print_error();
  }
  wl_pool_free(pool);
  return 0;
}
