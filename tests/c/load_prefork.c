/* Runs examples/c/prefork_server under concurrent load on 127.0.0.1 and
 * checks what a user would: worker pids rotate, no worker serves more than
 * max_requests, and no request fails.
 *
 *   load_prefork SERVER_BINARY [surge]
 *
 * With "surge" the policy has max_surge=1: a worker due to retire serves on
 * until its replacement is ready, which takes the master a few ticks (20 ms
 * each), so it passes max_requests by what it serves meanwhile; the clients
 * pause 2 ms between requests so that the run spans many replacements. The
 * checks: no request fails, workers rotate, and the server never runs more
 * than WORKERS + 1 workers at once (its children, counted from /proc while
 * the load runs). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLIENTS 8
#define PER_CLIENT 400
#define WORKERS 4
#define MAX_REQUESTS 50
#define MAX_PIDS 4096

static int port;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int pids[MAX_PIDS];
static unsigned long long most[MAX_PIDS];
static int npids, failed, ok_count;
static volatile int loading = 1;
static int pause_us;
static int most_children;

static void note(int pid, unsigned long long n) {
  pthread_mutex_lock(&lock);
  int i = 0;
  while (i < npids && pids[i] != pid) i++;
  if (i == npids && npids < MAX_PIDS) pids[npids++] = pid;
  if (i < MAX_PIDS && n > most[i]) most[i] = n;
  ok_count++;
  pthread_mutex_unlock(&lock);
}

static int one_request(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  const char *req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
    close(fd);
    return -1;
  }
  char buf[1024];
  size_t have = 0;
  ssize_t n;
  while ((n = read(fd, buf + have, sizeof buf - 1 - have)) > 0) have += (size_t)n;
  close(fd);
  buf[have] = 0;
  char *body = strstr(buf, "pid=");
  int pid;
  unsigned long long count;
  if (strncmp(buf, "HTTP/1.1 200", 12) != 0 || !body ||
      sscanf(body, "pid=%d requests=%llu", &pid, &count) != 2)
    return -1;
  note(pid, count);
  return 0;
}

static void *client(void *arg) {
  (void)arg;
  for (int i = 0; i < PER_CLIENT; i++) {
    if (pause_us) usleep((useconds_t)pause_us);
    if (one_request() != 0) {
      pthread_mutex_lock(&lock);
      failed++;
      pthread_mutex_unlock(&lock);
    }
  }
  return NULL;
}

/* The number of live (not zombie) children of `parent`. */
static int children_of(pid_t parent) {
  DIR *d = opendir("/proc");
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = 0;
    char *close_paren = strrchr(buf, ')');
    char st;
    int ppid;
    if (close_paren && sscanf(close_paren + 2, "%c %d", &st, &ppid) == 2 &&
        ppid == parent && st != 'Z')
      n++;
  }
  closedir(d);
  return n;
}

static void *count_children(void *arg) {
  pid_t server = *(pid_t *)arg;
  while (loading) {
    int n = children_of(server);
    if (n > most_children) most_children = n;
    usleep(2000);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) return 2;
  int surge = argc == 3 && strcmp(argv[2], "surge") == 0;
  if (surge) pause_us = 2000;
  int out[2];
  if (pipe(out) != 0) return 1;
  char policy[64];
  /* No rolling budget: a worker waiting for a permit would (rightly) serve
   * past max_requests, and this test checks the limit itself. */
  snprintf(policy, sizeof policy, "max_requests=%d,max_concurrent_recycles=0%s",
           MAX_REQUESTS, surge ? ",max_surge=1" : "");
  pid_t server = fork();
  if (server == 0) {
    dup2(out[1], 1);
    close(out[0]);
    setpgid(0, 0);
    execl(argv[1], argv[1], "0", "4", policy, (char *)NULL);
    _exit(127);
  }
  close(out[1]);
  FILE *f = fdopen(out[0], "r");
  if (!f || fscanf(f, "listening on %d", &port) != 1) {
    fprintf(stderr, "load_prefork: the server did not start\n");
    return 1;
  }
  pthread_t counter;
  pthread_create(&counter, NULL, count_children, &server);
  pthread_t t[CLIENTS];
  for (int i = 0; i < CLIENTS; i++) pthread_create(&t[i], NULL, client, NULL);
  for (int i = 0; i < CLIENTS; i++) pthread_join(t[i], NULL);
  loading = 0;
  pthread_join(counter, NULL);
  kill(server, SIGTERM);
  int status;
  waitpid(server, &status, 0);

  unsigned long long top = 0;
  for (int i = 0; i < npids; i++)
    if (most[i] > top) top = most[i];
  printf("load_prefork%s: %d ok, %d failed, %d worker pids, most requests by "
         "one worker %llu (max_requests=%d), at most %d workers at once\n",
         surge ? " (max_surge=1)" : "", ok_count, failed, npids, top,
         MAX_REQUESTS, most_children);
  int bad = 0;
  if (failed != 0) bad = fprintf(stderr, "FAIL: %d requests failed\n", failed);
  if (ok_count != CLIENTS * PER_CLIENT)
    bad = fprintf(stderr, "FAIL: %d of %d answered\n", ok_count,
                  CLIENTS * PER_CLIENT);
  /* 3200 requests at <= 50 per worker: at least 64 workers served; with
   * replacements in turn, fewer, but rotating. */
  if (!surge && npids < (CLIENTS * PER_CLIENT) / MAX_REQUESTS)
    bad = fprintf(stderr, "FAIL: only %d worker pids: no rotation\n", npids);
  if (!surge && top > MAX_REQUESTS)
    bad = fprintf(stderr, "FAIL: a worker served %llu > %d\n", top,
                  MAX_REQUESTS);
  if (surge && npids < WORKERS + 6)
    bad = fprintf(stderr, "FAIL: only %d worker pids: few replacements\n", npids);
  /* A worker waiting for its replacement serves on, but not for long: the
   * four workers reach the limit together (no jitter) and are replaced one
   * at a time (max_surge=1), a few 20 ms ticks each, so the last waits for
   * the three before it. */
  if (surge && top > 6 * MAX_REQUESTS)
    bad = fprintf(stderr, "FAIL: a worker served %llu while replaced\n", top);
  if (most_children > WORKERS + surge)
    bad = fprintf(stderr, "FAIL: %d workers at once, more than %d\n",
                  most_children, WORKERS + surge);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    bad = fprintf(stderr, "FAIL: the server exited with status %d\n", status);
  return bad ? 1 : 0;
}
