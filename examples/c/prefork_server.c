/* A small pre-fork HTTP server on workerlife's C ABI.
 *
 *   prefork_server PORT WORKERS POLICY
 *
 * The master listens on 127.0.0.1:PORT (0: any free port; the port is
 * printed as "listening on PORT"), makes a shared pool and lets wl_pool_tick
 * drive everything: it forks a worker for every WL_DO_SPAWN, sends SIGTERM
 * for WL_DO_RECYCLE and SIGKILL for WL_DO_KILL (both through wl_signal, so
 * a reused pid is never hit), and reports each exit with wl_pool_exited.
 * Whom to signal comes from the actions, whose pid and identity the pool
 * takes from its own record of the children this master reported with
 * wl_pool_spawned, never from the shared memory a worker can write; a
 * worker's own claims can at worst get an action refused (WL_EVENT_REFUSED).
 * A new worker waits until the master has recorded it, so that every
 * request it serves counts under its generation's limits.
 * Each worker wraps every request in wl_worker_begin/wl_worker_end and
 * leaves after the response when told to. Every response says which worker
 * served it: "pid=PID requests=N"; "/leak" keeps 1 MiB more first (a
 * leaking app) and "/hang" never answers (a stuck request). With
 * WORKERLIFE_METRICS=HOST:PORT set, the master serves the pool's stats there
 * (Prometheus text at /metrics, JSON at /stats) from the library's own
 * thread; an address it cannot serve stops the start, named. With
 * WL_HOSTS_CRASH=FILE every worker appends its pid to FILE and exits with
 * status 1 at start (a crash loop, for the conformance suite): the master
 * backs off as the pool's spawn actions say. SIGINT or SIGTERM stops the
 * server. */
#define _GNU_SOURCE
#include "workerlife.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_stop(int sig) {
  (void)sig;
  stop = 1;
}

static void die(const char *what, wl_result r) {
  char msg[512] = "";
  wl_last_error_message(msg, sizeof msg, NULL);
  fprintf(stderr, "prefork_server: %s: error %u: %s\n", what, (unsigned)r, msg);
  exit(1);
}

#define TRY(what, call)             \
  do {                              \
    wl_result r_ = (call);          \
    if (r_ != WL_OK) die(what, r_); \
  } while (0)

/* Reads the request head (the tests send no body); its path into `path`. */
static int read_request(int fd, char *path, size_t path_size) {
  char buf[4096];
  size_t have = 0;
  while (have < sizeof buf - 1) {
    ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    /* A SIGTERM mid-request (a recycle) interrupts the read: carry on, the
     * stop flag is looked at between requests. */
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    have += (size_t)n;
    buf[have] = 0;
    if (strstr(buf, "\r\n\r\n")) {
      /* "GET /path HTTP/1.1": the second word. */
      const char *p = strchr(buf, ' ');
      size_t n = 0;
      if (p)
        for (p++; *p && *p != ' ' && *p != '?' && n + 1 < path_size; p++) path[n++] = *p;
      path[n] = 0;
      return 0;
    }
  }
  return -1;
}

static void write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    len -= (size_t)n;
  }
}

static void worker_main(int listener, wl_pool *pool, uint32_t slot) {
  const char *crash = getenv("WL_HOSTS_CRASH");
  if (crash && *crash) {
    FILE *f = fopen(crash, "a");
    if (f) {
      fprintf(f, "%d\n", (int)getpid());
      fclose(f);
    }
    _exit(1);
  }
  /* SIGTERM asks for a graceful exit: finish the request in hand. No
   * SA_RESTART, so a blocking accept() returns EINTR and sees the flag. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGINT, SIG_IGN);
  wl_worker *w = NULL;
  TRY("worker handle", wl_pool_worker(pool, slot, &w));
  while (!stop) {
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      break;
    }
    TRY("begin", wl_worker_begin(w));
    bool leave = false;
    char path[256];
    if (read_request(fd, path, sizeof path) == 0) {
      if (strcmp(path, "/leak") == 0) {
        /* A leaking app: 1 MiB more, written (so resident), never freed. */
        char *mib = malloc(1 << 20);
        if (mib) memset(mib, 'x', 1 << 20);
      } else if (strcmp(path, "/hang") == 0) {
        /* A stuck request: only a kill ends it. */
        for (;;) pause();
      }
      uint64_t served = 0;
      TRY("requests", wl_worker_requests(w, &served));
      char body[64], resp[256];
      int blen = snprintf(body, sizeof body, "pid=%d requests=%llu\n",
                          (int)getpid(), (unsigned long long)served + 1);
      int rlen = snprintf(resp, sizeof resp,
                          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                          "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                          blen, body);
      write_all(fd, resp, (size_t)rlen);
    }
    close(fd);
    TRY("end", wl_worker_end(w, &leave));
    if (leave) break;
  }
  wl_worker_exiting(w);
  wl_worker_free(w);
  _exit(0);
}

/* An error of the master's round, logged through the pool: each distinct
 * one once, then with its count now and then, never a line per tick. */
static void round_error(const wl_pool *pool, const char *what, wl_result r) {
  char text[320], msg[256] = "";
  wl_last_error_message(msg, sizeof msg, NULL);
  snprintf(text, sizeof text, "%s: error %u: %s", what, (unsigned)r, msg);
  char *line = NULL;
  if (wl_pool_round_error(pool, text, &line) == WL_OK && line) {
    fprintf(stderr, "prefork_server: %s (supervision goes on)\n", line);
    wl_string_free(line);
  }
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: prefork_server PORT WORKERS POLICY\n");
    return 2;
  }
  int port = atoi(argv[1]);
  unsigned workers = (unsigned)atoi(argv[2]);
  wl_policy *policy = NULL;
  TRY("policy", wl_policy_parse(argv[3], &policy));
  /* The host contract: this master beats for nobody (no heartbeat_timeout),
   * starts replacements (max_surge), kills its own children, and starts each
   * worker into the slot the pool names. A rule it cannot carry out stops
   * the start here, naming the key. */
  uint32_t caps = WL_HOST_SURGE | WL_HOST_MASTER_KILLS | WL_HOST_NUMBERED;
  TRY("policy", wl_policy_check_host(policy, "C prefork master", caps));
  uint32_t slots = 0;
  TRY("slots", wl_host_slots(caps, workers, policy, &slots));
  wl_pool *pool = NULL;
  TRY("pool", wl_pool_new_shared(policy, slots, &pool));
  TRY("host", wl_pool_set_host(pool, "C prefork master", caps));
  char *line = NULL;
  TRY("start-up line", wl_pool_startup_line(pool, &line));
  fprintf(stderr, "prefork_server: %s\n", line);
  wl_string_free(line);
  wl_policy_free(policy);
  /* Before any fork: a child closes the server's sockets at its fork. */
  wl_metrics *metrics = NULL;
  const char *metrics_at = getenv("WORKERLIFE_METRICS");
  if (metrics_at && *metrics_at)
    TRY("WORKERLIFE_METRICS", wl_metrics_serve(pool, metrics_at, &metrics));

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
      listen(listener, 1024) != 0) {
    perror("prefork_server: listen");
    return 1;
  }
  socklen_t alen = sizeof addr;
  getsockname(listener, (struct sockaddr *)&addr, &alen);
  printf("listening on %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  wl_pool_action actions[16];
  wl_event events[16];
  while (!stop) {
    size_t n = 0;
    wl_result tr = wl_pool_tick(pool, actions, 16, &n);
    if (tr != WL_OK) {
      /* A master outlives a bad round: say so (once per kind of error, then
       * counted), and tick again. */
      round_error(pool, "tick", tr);
      n = 0;
    }
    for (size_t i = 0; i < n; i++) {
      wl_pool_action *a = &actions[i];
      if (a->kind == WL_DO_SPAWN) {
        int go[2];
        if (pipe2(go, O_CLOEXEC) != 0) {
          round_error(pool, "pipe", WL_IO);
          continue;
        }
        pid_t pid = fork();
        if (pid < 0) /* a pids limit: the spawn is returned again later */
          round_error(pool, "fork", WL_IO);
        if (pid == 0) {
          char c;
          close(go[1]);
          /* Serve only once the master has recorded this worker. */
          if (read(go[0], &c, 1) != 1) _exit(1);
          close(go[0]);
          worker_main(listener, pool, a->slot);
        }
        close(go[0]);
        if (pid > 0) TRY("spawned", wl_pool_spawned(pool, a->slot, (uint32_t)pid));
        if (pid > 0 && write(go[1], "g", 1) != 1) die("start worker", WL_IO);
        close(go[1]);
      } else {
        int sig = a->kind == WL_DO_KILL ? SIGKILL : SIGTERM;
        wl_result r = wl_signal(a->pid, a->identity, sig);
        if (r != WL_OK && r != WL_NO_SUCH_PROCESS && r != WL_IDENTITY_MISMATCH)
          die("signal", r);
      }
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      uint32_t slot;
      wl_pool_exited(pool, (uint32_t)pid, status, &slot);
    }
    TRY("events", wl_pool_events(pool, events, 16, &n));
    /* Every event in the line every host logs. */
    for (size_t i = 0; i < n; i++)
      fprintf(stderr, "workerlife: %s\n", wl_event_string(&events[i]));
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  /* Shut down: every worker gets SIGTERM and is waited for. */
  signal(SIGTERM, SIG_IGN);
  kill(0, SIGTERM);
  while (wait(NULL) > 0) {
  }
  wl_metrics_free(metrics);
  wl_pool_free(pool);
  return 0;
}
