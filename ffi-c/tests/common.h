/* Test support shared by the C tests: the test origin (tests/origin, started as a child
 * process), temporary directories, clocks, and code symbols. */
#ifndef BGCOPY_TEST_COMMON_H
#define BGCOPY_TEST_COMMON_H

#include <bgcopy.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A running bgcopy-test-origin: it exits when its stdin closes (origin_stop). */
typedef struct origin {
  pid_t pid;
  int stdin_fd;
  int http;
  int https;
  char cert[4096];
  char http_base[64];  /* http://127.0.0.1:PORT */
  char https_base[64]; /* https://localhost:PORT */
  int mtls;                 /* HTTPS that requires a client certificate */
  char client_cert[4096];   /* a client certificate it accepts (PEM) */
  char client_key[4096];    /* and its key (PEM) */
} origin;

/* Start the origin: $BGCOPY_TEST_ORIGIN, else target/debug/bgcopy-test-origin relative
 * to the current directory. Returns 0, or -1 with a message on stderr. */
int origin_start(origin *o);
/* Close its stdin and wait for it. */
void origin_stop(origin *o);
/* GET target from the origin, parsed as JSON (NULL on failure; json_decref it). */
json_t *origin_get_json(const origin *o, const char *target);
/* The origin's /stats/<name> as JSON (NULL on failure); json_decref it. */
json_t *origin_stats(const origin *o, const char *name);
/* A port that refuses connections for ms, then serves (/late?ms=N); -1 on failure. */
int origin_late(const origin *o, unsigned ms);
/* Byte i of content version v, as the origin serves it. */
uint8_t content_byte(uint64_t i, unsigned version);

/* Monotonic seconds. */
double now_s(void);
/* Wall-clock milliseconds since the Unix epoch. */
int64_t wall_ms(void);
void sleep_ms(unsigned ms);
/* A fresh directory under $TMPDIR (or /tmp) named bgcopy-c-<tag>-XXXXXX; 0 on success. */
int make_temp_dir(char *out, size_t size, const char *tag);
/* rm -rf path. */
void remove_tree(const char *path);
/* Number of *.bgcopy-part files under dir. */
int count_temp_files(const char *dir);

/* The symbolic name of a code ("OK", "INVALID_STATE", "HTTP_404", ...) in a static
 * per-thread buffer. */
const char *symbol_of(int32_t hr);

#endif
