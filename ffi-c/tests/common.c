#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int origin_start(origin *o) {
  memset(o, 0, sizeof *o);
  const char *bin = getenv("BGCOPY_TEST_ORIGIN");
  if (!bin || !*bin) bin = "target/debug/bgcopy-test-origin";
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    perror("pipe");
    return -1;
  }
  /* A closed origin must not kill us with SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return -1;
  }
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    execl(bin, bin, (char *)NULL);
    fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  char line[8192];
  size_t n = 0;
  while (n + 1 < sizeof line) {
    ssize_t r = read(out[0], line + n, 1);
    if (r <= 0 || line[n] == '\n') break;
    n++;
  }
  line[n] = 0;
  close(out[0]);
  json_error_t err;
  json_t *v = json_loads(line, 0, &err);
  if (!v || !json_is_integer(json_object_get(v, "http"))) {
    fprintf(stderr, "origin %s printed %s\n", bin, line);
    json_decref(v);
    close(in[1]);
    waitpid(pid, NULL, 0);
    return -1;
  }
  o->pid = pid;
  o->stdin_fd = in[1];
  o->http = (int)json_integer_value(json_object_get(v, "http"));
  o->https = (int)json_integer_value(json_object_get(v, "https"));
  snprintf(o->cert, sizeof o->cert, "%s", json_string_value(json_object_get(v, "cert")));
  o->mtls = (int)json_integer_value(json_object_get(v, "mtls"));
  snprintf(o->client_cert, sizeof o->client_cert, "%s",
           json_string_value(json_object_get(v, "client_cert")));
  snprintf(o->client_key, sizeof o->client_key, "%s",
           json_string_value(json_object_get(v, "client_key")));
  snprintf(o->http_base, sizeof o->http_base, "http://127.0.0.1:%d", o->http);
  snprintf(o->https_base, sizeof o->https_base, "https://localhost:%d", o->https);
  json_decref(v);
  return 0;
}

void origin_stop(origin *o) {
  if (o->pid <= 0) return;
  close(o->stdin_fd);
  waitpid(o->pid, NULL, 0);
  o->pid = 0;
}

/* GET target on the origin's plain port; the JSON body (NULL on failure). */
json_t *origin_get_json(const origin *o, const char *target) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return NULL;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->http)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    close(s);
    return NULL;
  }
  char req[1024];
  int len = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target);
  if (write(s, req, (size_t)len) != len) {
    close(s);
    return NULL;
  }
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
    ssize_t r = read(s, buf + n, cap - n - 1);
    if (r <= 0) break;
    n += (size_t)r;
  }
  buf[n] = 0;
  close(s);
  char *body = strstr(buf, "\r\n\r\n");
  json_t *v = body ? json_loads(body + 4, 0, NULL) : NULL;
  free(buf);
  return v;
}

json_t *origin_stats(const origin *o, const char *name) {
  char target[512];
  snprintf(target, sizeof target, "/stats/%s", name);
  return origin_get_json(o, target);
}

int origin_late(const origin *o, unsigned ms) {
  char target[64];
  snprintf(target, sizeof target, "/late?ms=%u", ms);
  json_t *v = origin_get_json(o, target);
  int port = v ? (int)json_integer_value(json_object_get(v, "port")) : -1;
  json_decref(v);
  return port > 0 ? port : -1;
}

uint8_t content_byte(uint64_t i, unsigned version) {
  return (uint8_t)(((i % 251) + 7 * (uint64_t)version) % 256);
}

int64_t wall_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void sleep_ms(unsigned ms) {
  struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

int make_temp_dir(char *out, size_t size, const char *tag) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  snprintf(out, size, "%s/bgcopy-c-%s-XXXXXX", base, tag);
  return mkdtemp(out) ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

void remove_tree(const char *path) { nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS); }

static __thread int temp_count;
static int count_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  size_t n = strlen(path), k = strlen(".bgcopy-part");
  if (flag == FTW_F && n >= k && strcmp(path + n - k, ".bgcopy-part") == 0) temp_count++;
  return 0;
}

int count_temp_files(const char *dir) {
  temp_count = 0;
  nftw(dir, count_one, 16, FTW_PHYS);
  return temp_count;
}

const char *symbol_of(int32_t hr) {
  static __thread char buf[64];
  char *s = NULL;
  if (bgcopy_code_symbol(hr, &s) != BGCOPY_S_OK) return "?";
  snprintf(buf, sizeof buf, "%s", s);
  bgcopy_string_free(s);
  return buf;
}
