/* C tests of the C API: conventions (NULL handles and out-pointers, strings, codes,
 * last error), every bad input of docs/spec.md §5, the INVALID_STATE rules, callbacks from
 * library threads (counts, re-entrant calls, borrowed handles, release exactly once),
 * closing, and 8 threads sharing one job handle. Run against the test origin.
 *
 * Usage: unit [TEST_NAME...]. Prints one line per test and ends with
 * "RESULT passed=N failed=N". */
#define _GNU_SOURCE
#include "common.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static origin O;
static int failed_checks;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "    %s:%d: CHECK(%s) failed (last error: %s)\n", __FILE__, \
              __LINE__, #cond, bgcopy_last_error_message());                     \
      failed_checks++;                                                           \
      return;                                                                    \
    }                                                                            \
  } while (0)

#define CHECK_HR(expr, want)                                                          \
  do {                                                                                \
    int32_t hr_ = (expr);                                                             \
    int32_t want_ = (want);                                                           \
    if (hr_ != want_) {                                                               \
      char got_[64];                                                                  \
      snprintf(got_, sizeof got_, "%s", symbol_of(hr_));                              \
      fprintf(stderr, "    %s:%d: %s returned %s, wanted %s (last error: %s)\n",     \
              __FILE__, __LINE__, #expr, got_, symbol_of(want_),                      \
              bgcopy_last_error_message());                                           \
      failed_checks++;                                                                \
      return;                                                                         \
    }                                                                                 \
  } while (0)

#define OK(expr) CHECK_HR(expr, BGCOPY_S_OK)
#define BAD(expr) CHECK_HR(expr, BGCOPY_E_INVALIDARG)
#define WRONG_STATE(expr) CHECK_HR(expr, BGCOPY_E_INVALID_STATE)

/* ---- fixtures ---- */

typedef struct fx {
  char dir[512]; /* temporary directories have short names */
  char state[520];
  bgcopy_manager *m;
} fx;

static int fx_open(fx *f, const char *tag) {
  memset(f, 0, sizeof *f);
  if (make_temp_dir(f->dir, sizeof f->dir, tag) != 0) return -1;
  snprintf(f->state, sizeof f->state, "%s/state", f->dir);
  bgcopy_manager_options o;
  bgcopy_manager_options_init(&o);
  o.read_timeout_ms = 2000;
  o.notify_interval_ms = 50;
  return bgcopy_manager_open_with(f->state, &o, &f->m) == BGCOPY_S_OK ? 0 : -1;
}

static void fx_done(fx *f) {
  bgcopy_manager_release(f->m);
  f->m = NULL;
  remove_tree(f->dir);
}

static void url(char *out, size_t n, const char *name, const char *params) {
  snprintf(out, n, "%s/f/%s?%s", O.http_base, name, params);
}

static void path(char *out, size_t n, const fx *f, const char *name) {
  snprintf(out, n, "%s/%s", f->dir, name);
}

static int file_is(const char *p, uint64_t size) {
  FILE *fp = fopen(p, "rb");
  if (!fp) return 0;
  uint64_t i = 0;
  int c, ok = 1;
  while ((c = fgetc(fp)) != EOF) {
    if ((uint8_t)c != content_byte(i, 0)) ok = 0;
    i++;
  }
  fclose(fp);
  return ok && i == size;
}

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static bgcopy_job_state state_of(bgcopy_job *j) {
  bgcopy_job_state s = 99;
  bgcopy_job_get_state(j, &s);
  return s;
}

static int wait_for_state(bgcopy_job *j, bgcopy_job_state want, double seconds) {
  double end = now_s() + seconds;
  while (now_s() < end) {
    if (state_of(j) == want) return 1;
    sleep_ms(10);
  }
  return state_of(j) == want;
}

static int wait_for_count(atomic_int *v, int at_least, double seconds) {
  double end = now_s() + seconds;
  while (now_s() < end && atomic_load(v) < at_least) sleep_ms(10);
  return atomic_load(v) >= at_least;
}

/* A recording callback context (static storage: release only counts). */
typedef struct ctx {
  atomic_int transferred, error, modification, file, released;
  atomic_int complete_hr, complete_calls;
  atomic_int reentrant_failures;
  atomic_int on_caller_thread;
  atomic_int close_hr;
  pthread_t caller;
  int complete_in_callback;
  int close_in_callback; /* call bgcopy_manager_close, then release `m` */
  bgcopy_manager *close_in_release; /* release calls bgcopy_manager_close on it */
  bgcopy_manager *m;
  bgcopy_job *kept_job;     /* a borrowed handle kept with add_ref */
  bgcopy_error *kept_error; /* likewise */
  uint64_t last_bytes;
} ctx;

static void ctx_init(ctx *c) {
  memset(c, 0, sizeof *c);
  c->caller = pthread_self();
  atomic_store(&c->complete_hr, 1);
  atomic_store(&c->close_hr, 1);
}

static void note_thread(ctx *c) {
  if (pthread_equal(pthread_self(), c->caller)) atomic_fetch_add(&c->on_caller_thread, 1);
}

static int32_t cb_transferred(void *p, bgcopy_job *job) {
  ctx *c = p;
  note_thread(c);
  atomic_fetch_add(&c->transferred, 1);
  bgcopy_job_progress pr;
  if (state_of(job) != BGCOPY_JOB_STATE_TRANSFERRED) atomic_fetch_add(&c->reentrant_failures, 1);
  if (bgcopy_job_get_progress(job, &pr) != BGCOPY_S_OK || pr.files_transferred != pr.files_total)
    atomic_fetch_add(&c->reentrant_failures, 1);
  bgcopy_file **files = NULL;
  size_t n = 0;
  if (bgcopy_job_enum_files(job, &files, &n) != BGCOPY_S_OK || n != pr.files_total)
    atomic_fetch_add(&c->reentrant_failures, 1);
  bgcopy_file_array_free(files, n);
  if (c->complete_in_callback) {
    atomic_fetch_add(&c->complete_calls, 1);
    atomic_store(&c->complete_hr, bgcopy_job_complete(job));
  }
  if (c->close_in_callback) {
    atomic_store(&c->close_hr, bgcopy_manager_close(c->m));
    bgcopy_manager_release(c->m); /* the last reference */
    c->m = NULL;
  }
  return BGCOPY_S_OK;
}

static int32_t cb_error(void *p, bgcopy_job *job, bgcopy_error *e) {
  ctx *c = p;
  note_thread(c);
  bgcopy_error_context cx;
  int32_t code;
  if (bgcopy_error_get_error(e, &cx, &code) != BGCOPY_S_OK) atomic_fetch_add(&c->reentrant_failures, 1);
  if (state_of(job) != BGCOPY_JOB_STATE_ERROR) atomic_fetch_add(&c->reentrant_failures, 1);
  if (!c->kept_error) c->kept_error = bgcopy_error_add_ref(e);
  /* Counted last: a test that waits for the count then sees kept_error. */
  atomic_fetch_add(&c->error, 1);
  return BGCOPY_S_OK;
}

static int32_t cb_modification(void *p, bgcopy_job *job) {
  ctx *c = p;
  note_thread(c);
  atomic_fetch_add(&c->modification, 1);
  bgcopy_job_progress pr;
  if (bgcopy_job_get_progress(job, &pr) != BGCOPY_S_OK) atomic_fetch_add(&c->reentrant_failures, 1);
  else if (pr.bytes_transferred < c->last_bytes) atomic_fetch_add(&c->reentrant_failures, 1);
  else c->last_bytes = pr.bytes_transferred;
  if (!c->kept_job) c->kept_job = bgcopy_job_add_ref(job);
  return BGCOPY_S_OK;
}

static int32_t cb_file(void *p, bgcopy_job *job, bgcopy_file *f) {
  ctx *c = p;
  (void)job;
  note_thread(c);
  atomic_fetch_add(&c->file, 1);
  bgcopy_file_progress fp;
  char *local = NULL;
  if (bgcopy_file_get_progress(f, &fp) != BGCOPY_S_OK || fp.bytes_transferred != fp.bytes_total ||
      fp.completed)
    atomic_fetch_add(&c->reentrant_failures, 1);
  if (bgcopy_file_get_local_name(f, &local) != BGCOPY_S_OK) atomic_fetch_add(&c->reentrant_failures, 1);
  bgcopy_string_free(local);
  return BGCOPY_S_OK;
}

static void cb_release(void *p) {
  ctx *c = p;
  if (c->close_in_release) atomic_store(&c->close_hr, bgcopy_manager_close(c->close_in_release));
  atomic_fetch_add(&c->released, 1);
}

static bgcopy_callback callback_for(ctx *c) {
  bgcopy_callback cb = {.context = c,
                        .job_transferred = cb_transferred,
                        .job_error = cb_error,
                        .job_modification = cb_modification,
                        .file_transferred = cb_file,
                        .release = cb_release};
  return cb;
}

/* ---- the tests ---- */

static void test_version_codes_and_macros(void) {
  /* The library is the header's version: the string and the three numbers. */
  const char *v = bgcopy_version();
  CHECK(v && strcmp(v, BGCOPY_VERSION_STRING) == 0);
  char parts[64];
  snprintf(parts, sizeof parts, "%d.%d.%d", BGCOPY_VERSION_MAJOR, BGCOPY_VERSION_MINOR,
           BGCOPY_VERSION_PATCH);
  CHECK(v && strcmp(v, parts) == 0);
  CHECK(strcmp(symbol_of(BGCOPY_S_OK), "OK") == 0);
  CHECK(strcmp(symbol_of(BGCOPY_S_PARTIAL_COMPLETE), "PARTIAL_COMPLETE") == 0);
  CHECK(strcmp(symbol_of(BGCOPY_E_INVALIDARG), "INVALID_ARG") == 0);
  CHECK(strcmp(symbol_of(BGCOPY_E_NOTIMPL), "NOT_IMPLEMENTED") == 0);
  CHECK(strcmp(symbol_of(BGCOPY_E_UNEXPECTED), "UNEXPECTED") == 0);
  CHECK(strcmp(symbol_of(BGCOPY_E_INVALID_STATE), "INVALID_STATE") == 0);
  CHECK(strcmp(symbol_of(BGCOPY_E_HTTP(404)), "HTTP_404") == 0);
  CHECK(strcmp(symbol_of((int32_t)0x12345678), "0x12345678") == 0);
  CHECK(BGCOPY_E_HTTP(404) == BGCOPY_E_HTTP_BASE + 404);
  CHECK((uint32_t)BGCOPY_E_INVALIDARG == 0x80070057u);
  CHECK((uint32_t)BGCOPY_E_NOT_FOUND == 0x80200001u);
  CHECK((uint32_t)BGCOPY_E_REMOTE_FILE_CHANGED == 0x80200073u);
  CHECK(BGCOPY_S_PARTIAL_COMPLETE == 0x00200017);
  CHECK(BGCOPY_SUCCEEDED(BGCOPY_S_PARTIAL_COMPLETE) && BGCOPY_FAILED(BGCOPY_E_EMPTY));
  CHECK(BGCOPY_JOB_STATE_CANCELLED == 8 && BGCOPY_PRIORITY_LOW == 3);
  CHECK(BGCOPY_ERROR_CONTEXT_REMOTE_APPLICATION == 7 && BGCOPY_NOTIFY_FILE_TRANSFERRED == 0x10);
  CHECK(BGCOPY_BYTES_UNKNOWN == UINT64_MAX);
  BAD(bgcopy_code_symbol(0, NULL));
}

static void test_enum_names(void) {
  CHECK(strcmp(bgcopy_job_state_name(BGCOPY_JOB_STATE_QUEUED), "QUEUED") == 0);
  CHECK(strcmp(bgcopy_job_state_name(BGCOPY_JOB_STATE_TRANSIENT_ERROR), "TRANSIENT_ERROR") == 0);
  CHECK(strcmp(bgcopy_job_state_name(BGCOPY_JOB_STATE_CANCELLED), "CANCELLED") == 0);
  CHECK(bgcopy_job_state_name(9) == NULL && bgcopy_job_state_name(UINT32_MAX) == NULL);
  CHECK(strcmp(bgcopy_priority_name(BGCOPY_PRIORITY_FOREGROUND), "FOREGROUND") == 0);
  CHECK(strcmp(bgcopy_priority_name(BGCOPY_PRIORITY_LOW), "LOW") == 0);
  CHECK(bgcopy_priority_name(4) == NULL);
  /* The same pointer every time: static, never freed. */
  CHECK(bgcopy_job_state_name(3) == bgcopy_job_state_name(3));
}

static void test_release_null_is_a_noop(void) {
  bgcopy_manager_release(NULL);
  bgcopy_job_release(NULL);
  bgcopy_file_release(NULL);
  bgcopy_error_release(NULL);
  bgcopy_string_free(NULL);
  bgcopy_job_array_free(NULL, 0);
  bgcopy_file_array_free(NULL, 0);
  CHECK(bgcopy_manager_add_ref(NULL) == NULL);
  CHECK(bgcopy_job_add_ref(NULL) == NULL);
  CHECK(bgcopy_file_add_ref(NULL) == NULL);
  CHECK(bgcopy_error_add_ref(NULL) == NULL);
}

static void test_options(void) {
  bgcopy_manager_options o;
  BAD(bgcopy_manager_options_init(NULL));
  OK(bgcopy_manager_options_init(&o));
  CHECK(o.size == sizeof o);
  CHECK(o.background_slots == 2 && o.connections_per_job == 8);
  CHECK(o.read_timeout_ms == 60000 && o.connect_timeout_ms == 30000);
  CHECK(o.checkpoint_interval_ms == 1000 && o.checkpoint_bytes == 8u << 20);
  CHECK(o.notify_interval_ms == 500 && o.time_slice_ms == 30000);
  CHECK(o.background_bandwidth_limit == 0 && o.max_redirects == 10);
  CHECK(!o.allow_https_to_http_redirect && o.start_transfers);
  CHECK(o.user_agent == NULL && o.tls_root_certs == NULL && o.tls_root_certs_count == 0);

  char dir[PATH_MAX];
  CHECK(make_temp_dir(dir, sizeof dir, "options") == 0);
  bgcopy_manager *sentinel = (bgcopy_manager *)&o, *m = sentinel;
  bgcopy_manager_options bad = o;
  bad.size = 8;
  BAD(bgcopy_manager_open_with(dir, &bad, &m));
  CHECK(m == sentinel); /* out-pointers are written only on success */
  CHECK(strstr(bgcopy_last_error_message(), "bgcopy_manager_options_init"));
  bad = o;
  bad.background_slots = 0;
  BAD(bgcopy_manager_open_with(dir, &bad, &m));
  bad = o;
  bad.connections_per_job = 0;
  BAD(bgcopy_manager_open_with(dir, &bad, &m));
  bad = o;
  bad.read_timeout_ms = 0;
  BAD(bgcopy_manager_open_with(dir, &bad, &m));
  /* Every member is checked against the core's option table (ranges named). */
  bad = o;
  bad.max_redirects = 500;
  BAD(bgcopy_manager_open_with(dir, &bad, &m));
  CHECK(strstr(bgcopy_last_error_message(), "max_redirects"));
  bad = o;
  bad.checkpoint_bytes = 0;
  BAD(bgcopy_manager_open_with(dir, &bad, &m));
  bad = o;
  bad.time_slice_ms = 0;
  BAD(bgcopy_manager_open_with(dir, &bad, &m));
  bad = o;
  bad.tls_root_certs_count = 1;
  BAD(bgcopy_manager_open_with(dir, &bad, &m));
  bad = o;
  bad.user_agent = "agent\r\nInjected: yes";
  BAD(bgcopy_manager_open_with(dir, &bad, &m));
  bad = o;
  const char *bad_cert[] = {"\xff"};
  bad.tls_root_certs = bad_cert;
  bad.tls_root_certs_count = 1;
  BAD(bgcopy_manager_open_with(dir, &bad, &m));
  BAD(bgcopy_manager_open_with(dir, &o, NULL));
  CHECK(m == sentinel);

  /* NULL options = the defaults; start_transfers = false opens for inspection. */
  OK(bgcopy_manager_open_with(dir, NULL, &m));
  bgcopy_manager_release(m);
  o.start_transfers = false;
  o.user_agent = "bgcopy-c-test/1";
  OK(bgcopy_manager_open_with(dir, &o, &m));
  char *sd = NULL;
  OK(bgcopy_manager_get_state_dir(m, &sd));
  CHECK(strstr(sd, "bgcopy-c-options-") != NULL);
  bgcopy_string_free(sd);
  bgcopy_manager_release(m);
  remove_tree(dir);
}

static void test_open_and_lock(void) {
  char dir[PATH_MAX];
  CHECK(make_temp_dir(dir, sizeof dir, "open") == 0);
  bgcopy_manager *m = NULL, *m2 = NULL;
  BAD(bgcopy_manager_open(dir, NULL));
  BAD(bgcopy_manager_open("/tmp/\xc3\x28-invalid-utf8", &m));
  CHECK(m == NULL);
  OK(bgcopy_manager_open(dir, &m));
  /* Any number of managers share a state directory (one queue, docs/spec.md §9): the second
   * sees the first's jobs. */
  {
    bgcopy_job *mine = NULL, *seen = NULL;
    char *id = NULL, *text = NULL;
    OK(bgcopy_manager_create_job(m, "shared", BGCOPY_JOB_TYPE_DOWNLOAD, &mine));
    OK(bgcopy_job_get_id(mine, &id));
    OK(bgcopy_manager_open(dir, &m2));
    OK(bgcopy_manager_get_job(m2, id, &seen));
    OK(bgcopy_job_set_description(seen, "set by the other manager"));
    OK(bgcopy_job_get_description(mine, &text));
    CHECK(strcmp(text, "set by the other manager") == 0);
    OK(bgcopy_job_cancel(mine));
    bgcopy_string_free(text);
    bgcopy_string_free(id);
    bgcopy_job_release(seen);
    bgcopy_job_release(mine);
    bgcopy_manager_release(m2);
    m2 = NULL;
  }
  /* add_ref: two references; the first release keeps the manager open. */
  CHECK(bgcopy_manager_add_ref(m) == m);
  bgcopy_manager_release(m);
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(m, "still open", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  OK(bgcopy_manager_close(m));
  OK(bgcopy_manager_close(m)); /* idempotent */
  /* Closed: the directory is free again. */
  OK(bgcopy_manager_open(dir, &m2));
  bgcopy_manager_release(m2);
  bgcopy_manager_release(m);
  bgcopy_job_release(j);

  /* NULL directory = the platform default ($BGCOPY_STATE_DIR first). */
  char def[PATH_MAX + 16];
  snprintf(def, sizeof def, "%s/default", dir);
  setenv("BGCOPY_STATE_DIR", def, 1);
  OK(bgcopy_manager_open(NULL, &m));
  unsetenv("BGCOPY_STATE_DIR");
  char *sd = NULL;
  OK(bgcopy_manager_get_state_dir(m, &sd));
  CHECK(strstr(sd, "/default") != NULL);
  bgcopy_string_free(sd);
  bgcopy_manager_release(m);
  remove_tree(dir);
}

static void test_null_handles(void) {
  char *s = (char *)"sentinel";
  char *const sentinel = s;
  uint32_t u = 7;
  size_t n = 7;
  bgcopy_job *j = NULL;
  bgcopy_job **jobs = NULL;
  bgcopy_file **files = NULL;
  bgcopy_file *f = NULL;
  bgcopy_error *e = NULL;
  bgcopy_job_progress jp;
  bgcopy_job_times jt;
  bgcopy_file_progress fp;
  bgcopy_callback cb;
  bgcopy_error_context cx = 7;
  int32_t code = 7;
  bgcopy_file_info info = {"http://x/", "/tmp/x"};

  BAD(bgcopy_manager_get_state_dir(NULL, &s));
  BAD(bgcopy_manager_create_job(NULL, "x", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  CHECK(strstr(bgcopy_last_error_message(), "NULL") != NULL);
  BAD(bgcopy_manager_get_job(NULL, "00000000-0000-0000-0000-000000000000", &j));
  BAD(bgcopy_manager_enum_jobs(NULL, &jobs, &n));
  BAD(bgcopy_manager_close(NULL));

  BAD(bgcopy_job_add_file(NULL, "http://x/", "/tmp/x"));
  BAD(bgcopy_job_add_file_set(NULL, &info, 1));
  BAD(bgcopy_job_enum_files(NULL, &files, &n));
  BAD(bgcopy_job_suspend(NULL));
  BAD(bgcopy_job_resume(NULL));
  BAD(bgcopy_job_cancel(NULL));
  BAD(bgcopy_job_complete(NULL));
  BAD(bgcopy_job_get_id(NULL, &s));
  BAD(bgcopy_job_get_type(NULL, &u));
  BAD(bgcopy_job_get_state(NULL, &u));
  BAD(bgcopy_job_get_progress(NULL, &jp));
  BAD(bgcopy_job_get_times(NULL, &jt));
  BAD(bgcopy_job_get_error(NULL, &e));
  BAD(bgcopy_job_get_display_name(NULL, &s));
  BAD(bgcopy_job_set_display_name(NULL, "x"));
  BAD(bgcopy_job_get_description(NULL, &s));
  BAD(bgcopy_job_set_description(NULL, "x"));
  BAD(bgcopy_job_get_priority(NULL, &u));
  BAD(bgcopy_job_set_priority(NULL, BGCOPY_PRIORITY_HIGH));
  BAD(bgcopy_job_get_notify_flags(NULL, &u));
  BAD(bgcopy_job_set_notify_flags(NULL, 1));
  BAD(bgcopy_job_get_notify_interface(NULL, &cb));
  BAD(bgcopy_job_set_notify_interface(NULL, NULL));
  BAD(bgcopy_job_get_no_progress_timeout(NULL, &u));
  BAD(bgcopy_job_set_no_progress_timeout(NULL, 1));
  BAD(bgcopy_job_get_minimum_retry_delay(NULL, &u));
  BAD(bgcopy_job_set_minimum_retry_delay(NULL, 1));
  BAD(bgcopy_job_get_error_count(NULL, &u));
  BAD(bgcopy_job_wait(NULL, 0, &u));

  BAD(bgcopy_file_get_remote_name(NULL, &s));
  BAD(bgcopy_file_get_local_name(NULL, &s));
  BAD(bgcopy_file_get_progress(NULL, &fp));
  BAD(bgcopy_file_get_index(NULL, &n));

  BAD(bgcopy_error_get_error(NULL, &cx, &code));
  BAD(bgcopy_error_get_file(NULL, &f));
  BAD(bgcopy_error_get_error_description(NULL, &s));
  BAD(bgcopy_error_get_error_context_description(NULL, &s));
  BAD(bgcopy_error_get_protocol(NULL, &s));

  /* Nothing was written. */
  CHECK(s == sentinel && u == 7 && n == 7 && j == NULL && jobs == NULL && files == NULL);
  CHECK(f == NULL && e == NULL && cx == 7 && code == 7);
}

static void test_null_out_pointers(void) {
  fx f;
  CHECK(fx_open(&f, "nullout") == 0);
  bgcopy_job *j = NULL;
  BAD(bgcopy_manager_create_job(f.m, "x", BGCOPY_JOB_TYPE_DOWNLOAD, NULL));
  OK(bgcopy_manager_create_job(f.m, "x", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  char *id = NULL;
  OK(bgcopy_job_get_id(j, &id));
  BAD(bgcopy_manager_get_job(f.m, id, NULL));
  bgcopy_string_free(id);
  size_t n = 5;
  bgcopy_job **jobs = NULL;
  BAD(bgcopy_manager_enum_jobs(f.m, NULL, &n));
  BAD(bgcopy_manager_enum_jobs(f.m, &jobs, NULL));
  CHECK(n == 5 && jobs == NULL);
  BAD(bgcopy_manager_get_state_dir(f.m, NULL));

  char u[512], p[PATH_MAX];
  url(u, sizeof u, "nullout", "size=10");
  path(p, sizeof p, &f, "a.bin");
  OK(bgcopy_job_add_file(j, u, p));
  bgcopy_file **files = NULL;
  BAD(bgcopy_job_enum_files(j, NULL, &n));
  BAD(bgcopy_job_enum_files(j, &files, NULL));
  CHECK(files == NULL && n == 5);
  BAD(bgcopy_job_get_id(j, NULL));
  BAD(bgcopy_job_get_type(j, NULL));
  BAD(bgcopy_job_get_state(j, NULL));
  BAD(bgcopy_job_get_progress(j, NULL));
  BAD(bgcopy_job_get_times(j, NULL));
  BAD(bgcopy_job_get_error(j, NULL));
  BAD(bgcopy_job_get_display_name(j, NULL));
  BAD(bgcopy_job_get_description(j, NULL));
  BAD(bgcopy_job_get_priority(j, NULL));
  BAD(bgcopy_job_get_notify_flags(j, NULL));
  BAD(bgcopy_job_get_notify_interface(j, NULL));
  BAD(bgcopy_job_get_no_progress_timeout(j, NULL));
  BAD(bgcopy_job_get_minimum_retry_delay(j, NULL));
  BAD(bgcopy_job_get_error_count(j, NULL));
  BAD(bgcopy_job_wait(j, 0, NULL));

  OK(bgcopy_job_enum_files(j, &files, &n));
  CHECK(n == 1);
  BAD(bgcopy_file_get_remote_name(files[0], NULL));
  BAD(bgcopy_file_get_local_name(files[0], NULL));
  BAD(bgcopy_file_get_progress(files[0], NULL));
  BAD(bgcopy_file_get_index(files[0], NULL));
  bgcopy_file_array_free(files, n);

  /* An error handle: a 404 job. */
  url(u, sizeof u, "nullout-404", "status=404");
  path(p, sizeof p, &f, "b.bin");
  bgcopy_job *j2 = NULL;
  OK(bgcopy_manager_create_job(f.m, "404", BGCOPY_JOB_TYPE_DOWNLOAD, &j2));
  OK(bgcopy_job_add_file(j2, u, p));
  OK(bgcopy_job_set_priority(j2, BGCOPY_PRIORITY_FOREGROUND));
  OK(bgcopy_job_resume(j2));
  bgcopy_job_state st;
  OK(bgcopy_job_wait(j2, 30000, &st));
  CHECK(st == BGCOPY_JOB_STATE_ERROR);
  bgcopy_error *e = NULL;
  OK(bgcopy_job_get_error(j2, &e));
  bgcopy_error_context cx = 99;
  int32_t code = 99;
  BAD(bgcopy_error_get_error(e, NULL, &code));
  BAD(bgcopy_error_get_error(e, &cx, NULL));
  CHECK(cx == 99 && code == 99);
  BAD(bgcopy_error_get_file(e, NULL));
  BAD(bgcopy_error_get_error_description(e, NULL));
  BAD(bgcopy_error_get_error_context_description(e, NULL));
  BAD(bgcopy_error_get_protocol(e, NULL));
  bgcopy_error_release(e);
  OK(bgcopy_job_cancel(j2));
  OK(bgcopy_job_cancel(j));
  bgcopy_job_release(j2);
  bgcopy_job_release(j);
  fx_done(&f);
}

static void test_bad_strings(void) {
  fx f;
  CHECK(fx_open(&f, "strings") == 0);
  const char *bad = "bad \xff\xfe utf-8";
  bgcopy_job *j = NULL;
  BAD(bgcopy_manager_create_job(f.m, NULL, BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  BAD(bgcopy_manager_create_job(f.m, bad, BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  CHECK(strstr(bgcopy_last_error_message(), "UTF-8") != NULL);
  CHECK(j == NULL);
  BAD(bgcopy_manager_get_job(f.m, NULL, &j));
  BAD(bgcopy_manager_get_job(f.m, bad, &j));
  OK(bgcopy_manager_create_job(f.m, "strings", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  char u[512], p[PATH_MAX];
  url(u, sizeof u, "strings", "size=10");
  path(p, sizeof p, &f, "a.bin");
  BAD(bgcopy_job_add_file(j, NULL, p));
  BAD(bgcopy_job_add_file(j, u, NULL));
  BAD(bgcopy_job_add_file(j, bad, p));
  char badp[PATH_MAX + 32];
  snprintf(badp, sizeof badp, "%s/\xc3\x28.bin", f.dir);
  BAD(bgcopy_job_add_file(j, u, badp));
  bgcopy_file_info set[2] = {{u, p}, {u, NULL}};
  BAD(bgcopy_job_add_file_set(j, set, 2));
  set[1].local_name = badp;
  BAD(bgcopy_job_add_file_set(j, set, 2));
  CHECK(strstr(bgcopy_last_error_message(), "files[1].local_name") != NULL);
  BAD(bgcopy_job_set_display_name(j, NULL));
  BAD(bgcopy_job_set_display_name(j, bad));
  BAD(bgcopy_job_set_description(j, NULL));
  BAD(bgcopy_job_set_description(j, bad));

  /* Lengths count characters: 256 two-byte characters fit, 257 do not. */
  char name[257 * 2 + 1];
  for (int i = 0; i < 256; i++) memcpy(name + 2 * i, "\xc3\xa9", 2);
  name[512] = 0;
  OK(bgcopy_job_set_display_name(j, name));
  memcpy(name + 512, "\xc3\xa9", 2);
  name[514] = 0;
  CHECK_HR(bgcopy_job_set_display_name(j, name), BGCOPY_E_STRING_TOO_LONG);
  char desc[1026];
  memset(desc, 'd', 1025);
  desc[1025] = 0;
  CHECK_HR(bgcopy_job_set_description(j, desc), BGCOPY_E_STRING_TOO_LONG);
  desc[1024] = 0;
  OK(bgcopy_job_set_description(j, desc));
  memset(name, 'n', 257);
  name[257] = 0;
  bgcopy_job *j2 = NULL;
  CHECK_HR(bgcopy_manager_create_job(f.m, name, BGCOPY_JOB_TYPE_DOWNLOAD, &j2), BGCOPY_E_STRING_TOO_LONG);
  CHECK(j2 == NULL);

  /* Nothing was added; the properties hold the last good values. */
  size_t n = 9;
  bgcopy_file **files = NULL;
  OK(bgcopy_job_enum_files(j, &files, &n));
  CHECK(n == 0 && files == NULL);
  char *s = NULL;
  OK(bgcopy_job_get_display_name(j, &s));
  CHECK(strlen(s) == 512 && strncmp(s, "\xc3\xa9", 2) == 0);
  bgcopy_string_free(s);
  OK(bgcopy_job_get_description(j, &s));
  CHECK(strlen(s) == 1024);
  bgcopy_string_free(s);
  bgcopy_job_release(j);
  fx_done(&f);
}

static void test_bad_input_spec5(void) {
  fx f;
  CHECK(fx_open(&f, "spec5") == 0);
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "j", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  char u[512], p[PATH_MAX], q[PATH_MAX + 64];
  url(u, sizeof u, "spec5", "size=10");
  path(p, sizeof p, &f, "ok.bin");

  /* Local paths: relative, missing directory, a directory, trailing slash, empty. */
  BAD(bgcopy_job_add_file(j, u, "relative/path.bin"));
  snprintf(q, sizeof q, "%s/no/such/dir/a.bin", f.dir);
  BAD(bgcopy_job_add_file(j, u, q));
  BAD(bgcopy_job_add_file(j, u, f.dir));
  snprintf(q, sizeof q, "%s/", f.dir);
  BAD(bgcopy_job_add_file(j, u, q));
  BAD(bgcopy_job_add_file(j, u, ""));
  /* URLs: unsupported schemes, malformed, no host, relative, CR/LF, empty. */
  BAD(bgcopy_job_add_file(j, "ftp://127.0.0.1/x", p));
  BAD(bgcopy_job_add_file(j, "file:///etc/passwd", p));
  BAD(bgcopy_job_add_file(j, "not a url", p));
  BAD(bgcopy_job_add_file(j, "http://", p));
  BAD(bgcopy_job_add_file(j, "/f/relative", p));
  BAD(bgcopy_job_add_file(j, "", p));
  snprintf(q, sizeof q, "%s\r\nInjected: yes", u);
  BAD(bgcopy_job_add_file(j, q, p));
  /* Two files with one local path: one call, one set, or against an existing file. */
  OK(bgcopy_job_add_file(j, u, p));
  BAD(bgcopy_job_add_file(j, u, p));
  char p2[PATH_MAX];
  path(p2, sizeof p2, &f, "s.bin");
  bgcopy_file_info twice[2] = {{u, p2}, {u, p2}};
  BAD(bgcopy_job_add_file_set(j, twice, 2));
  bgcopy_file_info clash[2] = {{u, p2}, {u, p}};
  BAD(bgcopy_job_add_file_set(j, clash, 2));
  bgcopy_file_info gopher[2] = {{u, p2}, {"gopher://x/", q}};
  BAD(bgcopy_job_add_file_set(j, gopher, 2));
  BAD(bgcopy_job_add_file_set(j, NULL, 1));
  OK(bgcopy_job_add_file_set(j, NULL, 0)); /* an empty set is a no-op */
  size_t n = 0;
  bgcopy_file **files = NULL;
  OK(bgcopy_job_enum_files(j, &files, &n));
  CHECK(n == 1); /* all or nothing */
  bgcopy_file_array_free(files, n);

  /* Numbers out of range. */
  BAD(bgcopy_job_set_priority(j, 4));
  BAD(bgcopy_job_set_priority(j, UINT32_MAX));
  BAD(bgcopy_job_set_notify_flags(j, 0x40));
  BAD(bgcopy_job_set_notify_flags(j, BGCOPY_NOTIFY_DEFAULT | 0x100));
  bgcopy_job *j2 = NULL;
  BAD(bgcopy_manager_create_job(f.m, "t", 3, &j2));
  CHECK_HR(bgcopy_manager_create_job(f.m, "t", BGCOPY_JOB_TYPE_UPLOAD, &j2), BGCOPY_E_NOTIMPL);
  CHECK_HR(bgcopy_manager_create_job(f.m, "t", BGCOPY_JOB_TYPE_UPLOAD_REPLY, &j2), BGCOPY_E_NOTIMPL);
  CHECK(j2 == NULL);
  bgcopy_priority pr;
  OK(bgcopy_job_get_priority(j, &pr));
  CHECK(pr == BGCOPY_PRIORITY_NORMAL);
  uint32_t flags;
  OK(bgcopy_job_get_notify_flags(j, &flags));
  CHECK(flags == BGCOPY_NOTIFY_DEFAULT);

  /* Job ids. */
  BAD(bgcopy_manager_get_job(f.m, "not-a-uuid", &j2));
  CHECK_HR(bgcopy_manager_get_job(f.m, "00000000-0000-0000-0000-000000000000", &j2), BGCOPY_E_NOT_FOUND);
  char *id = NULL;
  OK(bgcopy_job_get_id(j, &id));
  CHECK(strlen(id) == 36);
  char braced[64];
  snprintf(braced, sizeof braced, "{%s}", id);
  OK(bgcopy_manager_get_job(f.m, braced, &j2));
  char *id2 = NULL;
  OK(bgcopy_job_get_id(j2, &id2));
  CHECK(strcmp(id, id2) == 0);
  bgcopy_string_free(id);
  bgcopy_string_free(id2);
  bgcopy_job_release(j2);
  OK(bgcopy_job_cancel(j));
  bgcopy_job_release(j);
  fx_done(&f);
}

/* Every mutator of a final job is INVALID_STATE; every getter works. */
static void check_final(bgcopy_job *j, bgcopy_job_state want, const char *u, const char *p) {
  ctx c;
  ctx_init(&c);
  bgcopy_callback cb = callback_for(&c);
  bgcopy_file_info info = {u, p};
  WRONG_STATE(bgcopy_job_add_file(j, u, p));
  WRONG_STATE(bgcopy_job_add_file_set(j, &info, 1));
  WRONG_STATE(bgcopy_job_suspend(j));
  WRONG_STATE(bgcopy_job_resume(j));
  WRONG_STATE(bgcopy_job_cancel(j));
  WRONG_STATE(bgcopy_job_complete(j));
  WRONG_STATE(bgcopy_job_set_display_name(j, "x"));
  WRONG_STATE(bgcopy_job_set_description(j, "x"));
  WRONG_STATE(bgcopy_job_set_priority(j, BGCOPY_PRIORITY_HIGH));
  WRONG_STATE(bgcopy_job_set_notify_flags(j, 1));
  WRONG_STATE(bgcopy_job_set_notify_interface(j, &cb));
  CHECK(atomic_load(&c.released) == 0); /* a failed install does not take the context */
  WRONG_STATE(bgcopy_job_set_notify_interface(j, NULL));
  WRONG_STATE(bgcopy_job_set_no_progress_timeout(j, 5));
  WRONG_STATE(bgcopy_job_set_minimum_retry_delay(j, 5));
  bgcopy_job_state s;
  OK(bgcopy_job_get_state(j, &s));
  CHECK(s == want);
  OK(bgcopy_job_wait(j, BGCOPY_WAIT_INFINITE, &s)); /* returns at once */
  CHECK(s == want);
  char *str = NULL;
  OK(bgcopy_job_get_id(j, &str));
  bgcopy_string_free(str);
  OK(bgcopy_job_get_display_name(j, &str));
  bgcopy_string_free(str);
  OK(bgcopy_job_get_description(j, &str));
  bgcopy_string_free(str);
  bgcopy_job_progress pr;
  OK(bgcopy_job_get_progress(j, &pr));
  bgcopy_job_times t;
  OK(bgcopy_job_get_times(j, &t));
  CHECK(t.creation_time > 0 && t.modification_time >= t.creation_time);
  uint32_t u32;
  OK(bgcopy_job_get_priority(j, &u32));
  OK(bgcopy_job_get_notify_flags(j, &u32));
  OK(bgcopy_job_get_no_progress_timeout(j, &u32));
  OK(bgcopy_job_get_minimum_retry_delay(j, &u32));
  OK(bgcopy_job_get_error_count(j, &u32));
  OK(bgcopy_job_get_type(j, &u32));
  bgcopy_error *e = NULL;
  CHECK_HR(bgcopy_job_get_error(j, &e), BGCOPY_E_ERROR_INFORMATION_UNAVAILABLE);
}

static void test_invalid_state_rules(void) {
  fx f;
  CHECK(fx_open(&f, "state") == 0);
  char u[512], p[PATH_MAX];
  url(u, sizeof u, "state", "size=10");
  path(p, sizeof p, &f, "a.bin");
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "empty", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  /* No files: resume is EMPTY and the job stays SUSPENDED. */
  CHECK_HR(bgcopy_job_resume(j), BGCOPY_E_EMPTY);
  CHECK(state_of(j) == BGCOPY_JOB_STATE_SUSPENDED);
  bgcopy_error *e = NULL;
  CHECK_HR(bgcopy_job_get_error(j, &e), BGCOPY_E_ERROR_INFORMATION_UNAVAILABLE);
  CHECK(e == NULL);
  bgcopy_job_progress pr;
  OK(bgcopy_job_get_progress(j, &pr));
  CHECK(pr.bytes_total == 0 && pr.files_total == 0);

  /* CANCELLED is final. */
  OK(bgcopy_job_add_file(j, u, p));
  OK(bgcopy_job_get_progress(j, &pr));
  CHECK(pr.bytes_total == BGCOPY_BYTES_UNKNOWN && pr.files_total == 1);
  char *id = NULL;
  OK(bgcopy_job_get_id(j, &id));
  OK(bgcopy_job_cancel(j));
  check_final(j, BGCOPY_JOB_STATE_CANCELLED, u, p);
  bgcopy_job *again = NULL;
  CHECK_HR(bgcopy_manager_get_job(f.m, id, &again), BGCOPY_E_NOT_FOUND);
  bgcopy_string_free(id);
  bgcopy_job_release(j);

  /* ACKNOWLEDGED is final: complete() of a job with nothing transferred is partial. */
  OK(bgcopy_manager_create_job(f.m, "partial", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  OK(bgcopy_job_add_file(j, u, p));
  CHECK_HR(bgcopy_job_complete(j), BGCOPY_S_PARTIAL_COMPLETE);
  CHECK(!exists(p) && count_temp_files(f.dir) == 0);
  check_final(j, BGCOPY_JOB_STATE_ACKNOWLEDGED, u, p);
  bgcopy_job_release(j);

  size_t n = 7;
  bgcopy_job **jobs = NULL;
  OK(bgcopy_manager_enum_jobs(f.m, &jobs, &n));
  CHECK(n == 0 && jobs == NULL);

  /* A closed manager: its calls and the jobs' mutators are INVALID_STATE; getters work. */
  OK(bgcopy_manager_create_job(f.m, "open", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  OK(bgcopy_job_set_description(j, "before close"));
  OK(bgcopy_manager_close(f.m));
  bgcopy_job *j2 = NULL;
  WRONG_STATE(bgcopy_manager_create_job(f.m, "late", BGCOPY_JOB_TYPE_DOWNLOAD, &j2));
  WRONG_STATE(bgcopy_manager_get_job(f.m, "00000000-0000-0000-0000-000000000000", &j2));
  WRONG_STATE(bgcopy_manager_enum_jobs(f.m, &jobs, &n));
  CHECK(strstr(bgcopy_last_error_message(), "closed") != NULL);
  WRONG_STATE(bgcopy_job_suspend(j));
  WRONG_STATE(bgcopy_job_add_file(j, u, p));
  WRONG_STATE(bgcopy_job_set_description(j, "after close"));
  char *s = NULL;
  OK(bgcopy_job_get_description(j, &s));
  CHECK(strcmp(s, "before close") == 0);
  bgcopy_string_free(s);
  CHECK(state_of(j) == BGCOPY_JOB_STATE_SUSPENDED);
  bgcopy_job_state st;
  OK(bgcopy_job_wait(j, BGCOPY_WAIT_INFINITE, &st)); /* a closed manager ends waits */
  CHECK(st == BGCOPY_JOB_STATE_SUSPENDED);
  bgcopy_job_release(j);
  fx_done(&f);
}

static void test_download_complete_and_getters(void) {
  fx f;
  CHECK(fx_open(&f, "download") == 0);
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "download", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  char u1[512], u2[512], p1[PATH_MAX], p2[PATH_MAX];
  url(u1, sizeof u1, "dl-a", "size=100000");
  url(u2, sizeof u2, "dl-b", "size=300000&chunked=1");
  path(p1, sizeof p1, &f, "a.bin");
  path(p2, sizeof p2, &f, "b.bin");
  bgcopy_file_info set[2] = {{u1, p1}, {u2, p2}};
  OK(bgcopy_job_add_file_set(j, set, 2));
  OK(bgcopy_job_set_priority(j, BGCOPY_PRIORITY_FOREGROUND));
  bgcopy_job_times t;
  OK(bgcopy_job_get_times(j, &t));
  CHECK(t.creation_time > 0 && t.transfer_completion_time == 0);
  bgcopy_job_state st;
  OK(bgcopy_job_wait(j, 50, &st)); /* a timeout is not a failure */
  CHECK(st == BGCOPY_JOB_STATE_SUSPENDED);
  OK(bgcopy_job_resume(j));
  OK(bgcopy_job_wait(j, BGCOPY_WAIT_INFINITE, &st));
  CHECK(st == BGCOPY_JOB_STATE_TRANSFERRED);
  bgcopy_job_progress pr;
  OK(bgcopy_job_get_progress(j, &pr));
  CHECK(pr.bytes_total == 400000 && pr.bytes_transferred == 400000);
  CHECK(pr.files_total == 2 && pr.files_transferred == 2);
  OK(bgcopy_job_get_times(j, &t));
  CHECK(t.transfer_completion_time >= t.creation_time && t.modification_time >= t.creation_time);
  CHECK(!exists(p1) && !exists(p2)); /* nothing before complete() */
  bgcopy_file **files = NULL;
  size_t n = 0;
  OK(bgcopy_job_enum_files(j, &files, &n));
  CHECK(n == 2);
  char *s = NULL;
  OK(bgcopy_file_get_remote_name(files[1], &s));
  CHECK(strcmp(s, u2) == 0);
  bgcopy_string_free(s);
  OK(bgcopy_file_get_local_name(files[0], &s));
  CHECK(strcmp(s, p1) == 0);
  bgcopy_string_free(s);
  size_t idx = 9;
  OK(bgcopy_file_get_index(files[1], &idx));
  CHECK(idx == 1);
  bgcopy_file *kept = bgcopy_file_add_ref(files[0]);
  bgcopy_file_array_free(files, n);
  OK(bgcopy_job_complete(j));
  CHECK(file_is(p1, 100000) && file_is(p2, 300000));
  bgcopy_file_progress fp;
  OK(bgcopy_file_get_progress(kept, &fp)); /* a handle outlives its array */
  CHECK(fp.completed && fp.bytes_total == 100000 && fp.bytes_transferred == 100000);
  bgcopy_file_release(kept);
  CHECK(state_of(j) == BGCOPY_JOB_STATE_ACKNOWLEDGED);
  CHECK(count_temp_files(f.dir) == 0);
  bgcopy_job_release(j);
  fx_done(&f);
}

static void test_callbacks_from_library_threads(void) {
  fx f;
  CHECK(fx_open(&f, "callbacks") == 0);
  static ctx c;
  ctx_init(&c);
  c.complete_in_callback = 1;
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "callbacks", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  char u1[512], u2[512], p1[PATH_MAX], p2[PATH_MAX];
  url(u1, sizeof u1, "cb-a", "size=200000&rate=400000");
  url(u2, sizeof u2, "cb-b", "size=300000&rate=600000");
  path(p1, sizeof p1, &f, "a.bin");
  path(p2, sizeof p2, &f, "b.bin");
  OK(bgcopy_job_add_file(j, u1, p1));
  OK(bgcopy_job_add_file(j, u2, p2));
  OK(bgcopy_job_set_notify_flags(j, BGCOPY_NOTIFY_JOB_TRANSFERRED | BGCOPY_NOTIFY_JOB_ERROR |
                                        BGCOPY_NOTIFY_JOB_MODIFICATION |
                                        BGCOPY_NOTIFY_FILE_TRANSFERRED));
  bgcopy_callback cb = callback_for(&c);
  OK(bgcopy_job_set_notify_interface(j, &cb));
  memset(&cb, 0, sizeof cb); /* the library copied it */
  bgcopy_callback got;
  OK(bgcopy_job_get_notify_interface(j, &got));
  CHECK(got.context == &c && got.job_transferred == cb_transferred && got.release == cb_release);
  OK(bgcopy_job_resume(j));
  CHECK(wait_for_state(j, BGCOPY_JOB_STATE_ACKNOWLEDGED, 30));
  /* complete() ran inside job_transferred; the callback is then released, once. */
  CHECK(wait_for_count(&c.released, 1, 10));
  CHECK(atomic_load(&c.complete_calls) == 1 && atomic_load(&c.complete_hr) == BGCOPY_S_OK);
  CHECK(atomic_load(&c.transferred) == 1);
  CHECK(atomic_load(&c.file) == 2);
  CHECK(atomic_load(&c.modification) >= 1);
  CHECK(atomic_load(&c.error) == 0);
  CHECK(atomic_load(&c.reentrant_failures) == 0);
  CHECK(atomic_load(&c.on_caller_thread) == 0); /* every call came from a library thread */
  CHECK(file_is(p1, 200000) && file_is(p2, 300000));
  /* The job handle a callback kept (add_ref) works here, after the callback. */
  CHECK(c.kept_job != NULL);
  CHECK(state_of(c.kept_job) == BGCOPY_JOB_STATE_ACKNOWLEDGED);
  bgcopy_job_release(c.kept_job);
  OK(bgcopy_job_get_notify_interface(j, &got));
  CHECK(got.context == NULL && got.job_transferred == NULL && got.release == NULL);
  sleep_ms(200);
  bgcopy_job_release(j);
  fx_done(&f);
  CHECK(atomic_load(&c.released) == 1); /* exactly once, also after close */
}

static void test_error_callback_and_error_object(void) {
  fx f;
  CHECK(fx_open(&f, "errcb") == 0);
  static ctx c;
  ctx_init(&c);
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "404", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  char u[512], p[PATH_MAX];
  url(u, sizeof u, "errcb", "status=404");
  path(p, sizeof p, &f, "missing.bin");
  OK(bgcopy_job_add_file(j, u, p));
  bgcopy_callback cb = callback_for(&c);
  OK(bgcopy_job_set_notify_interface(j, &cb));
  OK(bgcopy_job_resume(j));
  CHECK(wait_for_count(&c.error, 1, 30));
  CHECK(atomic_load(&c.reentrant_failures) == 0 && atomic_load(&c.on_caller_thread) == 0);
  CHECK(c.kept_error != NULL);
  bgcopy_error *errs[2] = {c.kept_error, NULL};
  OK(bgcopy_job_get_error(j, &errs[1]));
  for (int i = 0; i < 2; i++) {
    bgcopy_error_context cx;
    int32_t code;
    OK(bgcopy_error_get_error(errs[i], &cx, &code));
    CHECK(cx == BGCOPY_ERROR_CONTEXT_REMOTE_FILE && code == BGCOPY_E_HTTP(404));
    bgcopy_file *file = NULL;
    OK(bgcopy_error_get_file(errs[i], &file));
    size_t idx = 9;
    OK(bgcopy_file_get_index(file, &idx));
    CHECK(idx == 0);
    bgcopy_file_release(file);
    char *s = NULL;
    OK(bgcopy_error_get_protocol(errs[i], &s));
    CHECK(strcmp(s, "http") == 0);
    bgcopy_string_free(s);
    OK(bgcopy_error_get_error_description(errs[i], &s));
    CHECK(strstr(s, "404") != NULL);
    bgcopy_string_free(s);
    OK(bgcopy_error_get_error_context_description(errs[i], &s));
    CHECK(strlen(s) > 0);
    bgcopy_string_free(s);
    bgcopy_error_release(errs[i]);
  }
  uint32_t count = 0;
  OK(bgcopy_job_get_error_count(j, &count));
  CHECK(count == 1);
  OK(bgcopy_job_cancel(j));
  CHECK(wait_for_count(&c.released, 1, 10));
  bgcopy_job_release(j);
  fx_done(&f);
  CHECK(atomic_load(&c.released) == 1);
}

static void test_callback_replace_clear_and_close(void) {
  fx f;
  CHECK(fx_open(&f, "replace") == 0);
  static ctx a, b, d;
  ctx_init(&a);
  ctx_init(&b);
  ctx_init(&d);
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "replace", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  bgcopy_callback ca = callback_for(&a), cb = callback_for(&b), cd = callback_for(&d);
  OK(bgcopy_job_set_notify_interface(j, &ca));
  OK(bgcopy_job_set_notify_interface(j, &cb));
  CHECK(atomic_load(&a.released) == 1); /* replaced: released before the call returned */
  CHECK(atomic_load(&b.released) == 0);
  bgcopy_callback got;
  OK(bgcopy_job_get_notify_interface(j, &got));
  CHECK(got.context == &b);
  OK(bgcopy_job_set_notify_interface(j, NULL));
  CHECK(atomic_load(&b.released) == 1);
  OK(bgcopy_job_get_notify_interface(j, &got));
  CHECK(got.context == NULL);
  /* A callback with only `release`: valid, and released when the manager closes. */
  bgcopy_callback only_release = {.context = &d, .release = cb_release};
  (void)cd;
  OK(bgcopy_job_set_notify_interface(j, &only_release));
  OK(bgcopy_manager_close(f.m));
  CHECK(atomic_load(&d.released) == 1);
  bgcopy_job_release(j);
  fx_done(&f);
  CHECK(atomic_load(&a.released) == 1 && atomic_load(&b.released) == 1 &&
        atomic_load(&d.released) == 1);
}

static void test_close_and_last_release_inside_a_callback(void) {
  fx f;
  CHECK(fx_open(&f, "cbclose") == 0);
  static ctx c;
  ctx_init(&c);
  c.close_in_callback = 1;
  c.m = bgcopy_manager_add_ref(f.m); /* the callback's reference */
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "cbclose", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  char u[512], p[PATH_MAX];
  url(u, sizeof u, "cbclose", "size=1000");
  path(p, sizeof p, &f, "a.bin");
  OK(bgcopy_job_add_file(j, u, p));
  bgcopy_callback cb = callback_for(&c);
  OK(bgcopy_job_set_notify_interface(j, &cb));
  bgcopy_manager_release(f.m); /* now only the callback holds the manager */
  f.m = NULL;
  OK(bgcopy_job_resume(j));
  CHECK(wait_for_count(&c.transferred, 1, 30));
  /* Closing inside a callback works, and so does releasing the last reference there:
   * the callback is released and the directory freed. */
  CHECK(wait_for_count(&c.released, 1, 10));
  CHECK(atomic_load(&c.close_hr) == BGCOPY_S_OK);
  bgcopy_manager *m2 = NULL;
  double end = now_s() + 10;
  while (bgcopy_manager_open(f.state, &m2) != BGCOPY_S_OK && now_s() < end) sleep_ms(20);
  CHECK(m2 != NULL);
  WRONG_STATE(bgcopy_job_suspend(j)); /* the old manager is closed */
  bgcopy_job *again = NULL;
  char *id = NULL;
  OK(bgcopy_job_get_id(j, &id));
  OK(bgcopy_manager_get_job(m2, id, &again)); /* durable: TRANSFERRED in the new manager */
  bgcopy_string_free(id);
  CHECK(state_of(again) == BGCOPY_JOB_STATE_TRANSFERRED);
  OK(bgcopy_job_complete(again));
  CHECK(file_is(p, 1000));
  bgcopy_job_release(again);
  bgcopy_job_release(j);
  f.m = m2;
  fx_done(&f);
  CHECK(atomic_load(&c.released) == 1);
}

/* A release function may close the manager: inside a close (the caller's thread) and
 * on the notification thread (a job reached a final state). Both closes succeed and
 * the state directory is free afterwards. */
static void test_close_inside_release(void) {
  fx f;
  CHECK(fx_open(&f, "relclose") == 0);
  static ctx c;
  ctx_init(&c);
  c.close_in_release = f.m;
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "relclose", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  bgcopy_callback cb = callback_for(&c);
  OK(bgcopy_job_set_notify_interface(j, &cb));
  OK(bgcopy_manager_close(f.m)); /* runs `release`, which closes again */
  CHECK(atomic_load(&c.released) == 1);
  CHECK(atomic_load(&c.close_hr) == BGCOPY_S_OK);
  bgcopy_job_release(j);
  bgcopy_manager_release(f.m);
  f.m = NULL;

  /* On the notification thread: cancel, and `release` closes from there. */
  OK(bgcopy_manager_open(f.state, &f.m)); /* the directory was freed */
  static ctx c2;
  ctx_init(&c2);
  c2.close_in_release = f.m;
  OK(bgcopy_manager_create_job(f.m, "relclose2", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  bgcopy_callback cb2 = callback_for(&c2);
  OK(bgcopy_job_set_notify_interface(j, &cb2));
  OK(bgcopy_job_cancel(j));
  CHECK(wait_for_count(&c2.released, 1, 20));
  CHECK(atomic_load(&c2.close_hr) == BGCOPY_S_OK);
  WRONG_STATE(bgcopy_job_suspend(j)); /* closed by the release function */
  bgcopy_job_release(j);
  bgcopy_manager *again = NULL;
  OK(bgcopy_manager_open(f.state, &again)); /* and the directory is free */
  bgcopy_manager_release(again);
  fx_done(&f);
}

static void test_release_of_last_manager_reference_closes(void) {
  fx f;
  CHECK(fx_open(&f, "lastref") == 0);
  static ctx c;
  ctx_init(&c);
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "lastref", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  bgcopy_callback cb = callback_for(&c);
  OK(bgcopy_job_set_notify_interface(j, &cb));
  bgcopy_manager_release(f.m); /* no close: the release of the last reference closes */
  f.m = NULL;
  CHECK(atomic_load(&c.released) == 1);
  WRONG_STATE(bgcopy_job_set_description(j, "x"));
  CHECK(state_of(j) == BGCOPY_JOB_STATE_SUSPENDED);
  OK(bgcopy_manager_open(f.state, &f.m)); /* the directory is free */
  bgcopy_job_release(j);
  fx_done(&f);
}

static void test_enum_properties_and_reopen(void) {
  fx f;
  CHECK(fx_open(&f, "reopen") == 0);
  bgcopy_job *j[3];
  char *ids[3];
  const char *names[3] = {"first", "second", "third"};
  for (int i = 0; i < 3; i++) {
    OK(bgcopy_manager_create_job(f.m, names[i], BGCOPY_JOB_TYPE_DOWNLOAD, &j[i]));
    OK(bgcopy_job_get_id(j[i], &ids[i]));
  }
  OK(bgcopy_job_set_description(j[1], "described"));
  OK(bgcopy_job_set_priority(j[1], BGCOPY_PRIORITY_LOW));
  OK(bgcopy_job_set_notify_flags(j[1], BGCOPY_NOTIFY_DISABLE));
  OK(bgcopy_job_set_no_progress_timeout(j[1], 0));
  OK(bgcopy_job_set_minimum_retry_delay(j[1], 5));
  static ctx c;
  ctx_init(&c);
  bgcopy_callback cb = callback_for(&c);
  OK(bgcopy_job_set_notify_interface(j[1], &cb));
  uint32_t v;
  OK(bgcopy_job_get_no_progress_timeout(j[0], &v));
  CHECK(v == 1209600);
  OK(bgcopy_job_get_minimum_retry_delay(j[0], &v));
  CHECK(v == 600);
  OK(bgcopy_job_cancel(j[2]));
  bgcopy_job **jobs = NULL;
  size_t n = 0;
  OK(bgcopy_manager_enum_jobs(f.m, &jobs, &n));
  CHECK(n == 2);
  for (size_t i = 0; i < n; i++) {
    char *id = NULL;
    OK(bgcopy_job_get_id(jobs[i], &id));
    CHECK(strcmp(id, ids[i]) == 0); /* creation order */
    bgcopy_string_free(id);
  }
  bgcopy_job_array_free(jobs, n);
  for (int i = 0; i < 3; i++) bgcopy_job_release(j[i]);

  /* Close and open again: the jobs and their properties are durable; callbacks are not. */
  bgcopy_manager_release(f.m);
  CHECK(atomic_load(&c.released) == 1);
  OK(bgcopy_manager_open(f.state, &f.m));
  OK(bgcopy_manager_enum_jobs(f.m, &jobs, &n));
  CHECK(n == 2);
  bgcopy_job *second = NULL;
  OK(bgcopy_manager_get_job(f.m, ids[1], &second));
  char *s = NULL;
  OK(bgcopy_job_get_description(second, &s));
  CHECK(strcmp(s, "described") == 0);
  bgcopy_string_free(s);
  OK(bgcopy_job_get_display_name(second, &s));
  CHECK(strcmp(s, "second") == 0);
  bgcopy_string_free(s);
  bgcopy_priority pr;
  OK(bgcopy_job_get_priority(second, &pr));
  CHECK(pr == BGCOPY_PRIORITY_LOW);
  OK(bgcopy_job_get_notify_flags(second, &v));
  CHECK(v == BGCOPY_NOTIFY_DISABLE);
  OK(bgcopy_job_get_no_progress_timeout(second, &v));
  CHECK(v == 0);
  OK(bgcopy_job_get_minimum_retry_delay(second, &v));
  CHECK(v == 5);
  bgcopy_callback got;
  OK(bgcopy_job_get_notify_interface(second, &got));
  CHECK(got.context == NULL);
  bgcopy_job *third = NULL;
  CHECK_HR(bgcopy_manager_get_job(f.m, ids[2], &third), BGCOPY_E_NOT_FOUND);
  bgcopy_job_release(second);
  bgcopy_job_array_free(jobs, n);
  for (int i = 0; i < 3; i++) bgcopy_string_free(ids[i]);
  fx_done(&f);
}

static void test_last_error_is_per_thread(void);

typedef struct thread_result {
  int ok;
  char message[256];
} thread_result;

static void *last_error_thread(void *p) {
  thread_result *r = p;
  r->ok = bgcopy_last_error_message()[0] == 0; /* a new thread: no failure yet */
  r->ok &= bgcopy_job_suspend(NULL) == BGCOPY_E_INVALIDARG;
  snprintf(r->message, sizeof r->message, "%s", bgcopy_last_error_message());
  return NULL;
}

static void test_last_error_is_per_thread(void) {
  fx f;
  CHECK(fx_open(&f, "lasterr") == 0);
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "x", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  CHECK_HR(bgcopy_job_resume(j), BGCOPY_E_EMPTY);
  const char *msg = bgcopy_last_error_message();
  CHECK(strncmp(msg, "EMPTY (0x80200003): ", 20) == 0);
  OK(bgcopy_job_suspend(j)); /* a success keeps the last failure's message */
  CHECK(strncmp(bgcopy_last_error_message(), "EMPTY", 5) == 0);
  pthread_t t;
  thread_result r = {0};
  pthread_create(&t, NULL, last_error_thread, &r);
  pthread_join(t, NULL);
  CHECK(r.ok);
  CHECK(strstr(r.message, "INVALID_ARG (0x80070057)") != NULL && strstr(r.message, "NULL"));
  CHECK(strncmp(bgcopy_last_error_message(), "EMPTY", 5) == 0);
  bgcopy_job_release(j);
  fx_done(&f);
}

/* 8 threads share one job handle while it downloads. */
typedef struct shared_job {
  bgcopy_job *job;
  const char *id;
  int index;
  int errors;
  int iterations;
} shared_job;

static void *hammer(void *p) {
  shared_job *s = p;
  bgcopy_job *j = bgcopy_job_add_ref(s->job); /* references from many threads */
  uint64_t last = 0;
  char mine[32];
  snprintf(mine, sizeof mine, "thread %d", s->index);
  for (int i = 0; i < 100000; i++) {
    bgcopy_job_state st;
    bgcopy_job_progress pr;
    bgcopy_job_times t;
    char *str = NULL;
    if (bgcopy_job_get_state(j, &st) != BGCOPY_S_OK) s->errors++;
    if (bgcopy_job_get_progress(j, &pr) != BGCOPY_S_OK || pr.bytes_transferred < last) s->errors++;
    last = pr.bytes_transferred;
    if (bgcopy_job_get_times(j, &t) != BGCOPY_S_OK) s->errors++;
    if (bgcopy_job_set_description(j, mine) != BGCOPY_S_OK) s->errors++;
    if (bgcopy_job_get_description(j, &str) != BGCOPY_S_OK || strncmp(str, "thread ", 7) != 0)
      s->errors++;
    bgcopy_string_free(str);
    str = NULL;
    if (bgcopy_job_get_id(j, &str) != BGCOPY_S_OK || strcmp(str, s->id) != 0) s->errors++;
    bgcopy_string_free(str);
    if (bgcopy_job_set_priority(j, s->index % 2 ? BGCOPY_PRIORITY_HIGH : BGCOPY_PRIORITY_NORMAL) !=
        BGCOPY_S_OK)
      s->errors++;
    bgcopy_file **files = NULL;
    size_t n = 0;
    if (bgcopy_job_enum_files(j, &files, &n) != BGCOPY_S_OK || n != 2) s->errors++;
    bgcopy_file_progress fp;
    if (n && bgcopy_file_get_progress(files[s->index % n], &fp) != BGCOPY_S_OK) s->errors++;
    bgcopy_file_array_free(files, n);
    if (s->index == 0 && bgcopy_job_wait(j, 5, &st) != BGCOPY_S_OK) s->errors++;
    s->iterations++;
    if (st == BGCOPY_JOB_STATE_TRANSFERRED && i >= 20) break;
  }
  bgcopy_job_release(j);
  return NULL;
}

static void test_eight_threads_share_one_job(void) {
  fx f;
  CHECK(fx_open(&f, "threads") == 0);
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "threads", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  char u1[512], u2[512], p1[PATH_MAX], p2[PATH_MAX];
  url(u1, sizeof u1, "threads-a", "size=300000&rate=300000");
  url(u2, sizeof u2, "threads-b", "size=200000&rate=200000");
  path(p1, sizeof p1, &f, "a.bin");
  path(p2, sizeof p2, &f, "b.bin");
  OK(bgcopy_job_add_file(j, u1, p1));
  OK(bgcopy_job_add_file(j, u2, p2));
  char *id = NULL;
  OK(bgcopy_job_get_id(j, &id));
  OK(bgcopy_job_resume(j));
  pthread_t t[8];
  shared_job s[8];
  for (int i = 0; i < 8; i++) {
    s[i] = (shared_job){.job = j, .id = id, .index = i};
    pthread_create(&t[i], NULL, hammer, &s[i]);
  }
  int errors = 0, iterations = 0;
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    errors += s[i].errors;
    iterations += s[i].iterations;
  }
  bgcopy_string_free(id);
  CHECK(errors == 0);
  CHECK(iterations >= 8 * 20);
  bgcopy_job_state st;
  OK(bgcopy_job_wait(j, 30000, &st));
  CHECK(st == BGCOPY_JOB_STATE_TRANSFERRED);
  OK(bgcopy_job_complete(j));
  CHECK(file_is(p1, 300000) && file_is(p2, 200000));
  bgcopy_job_release(j);
  fx_done(&f);
}

/* The event journal, and callbacks in a manager that does not transfer (its own store
 * connection, as another process has): they fire for the engine's changes. */
/* Custom headers (write-only too) and security flags: kept, checked, sent. */
static void test_custom_headers_and_security_flags(void) {
  fx f;
  CHECK(fx_open(&f, "request") == 0);
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "request", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  char u[512], p[PATH_MAX];
  url(u, sizeof u, "c-rq-h", "redirect=1&size=1500");
  path(p, sizeof p, &f, "h.bin");
  OK(bgcopy_job_add_file(j, u, p));
  char **lines = NULL;
  size_t n = 7;
  OK(bgcopy_job_get_custom_headers(j, &lines, &n));
  CHECK(lines == NULL && n == 0);
  const char *set[] = {"X-Token:  c-1 ", "X-Other: 2"};
  OK(bgcopy_job_set_custom_headers(j, set, 2));
  OK(bgcopy_job_get_custom_headers(j, &lines, &n));
  CHECK(n == 2 && strcmp(lines[0], "X-Token: c-1") == 0 && strcmp(lines[1], "X-Other: 2") == 0);
  bgcopy_string_array_free(lines, n);
  /* Bad lines and arguments change nothing. */
  const char *crlf[] = {"X-A: 1\r\nX-B: 2"};
  const char *range[] = {"Range: bytes=0-"};
  CHECK(bgcopy_job_set_custom_headers(j, crlf, 1) == BGCOPY_E_INVALIDARG);
  CHECK(bgcopy_job_set_custom_headers(j, range, 1) == BGCOPY_E_INVALIDARG);
  BAD(bgcopy_job_set_custom_headers(j, NULL, 1));
  BAD(bgcopy_job_get_custom_headers(j, NULL, &n));
  OK(bgcopy_job_make_custom_headers_write_only(j));
  lines = NULL;
  n = 7;
  CHECK(bgcopy_job_get_custom_headers(j, &lines, &n) == BGCOPY_E_ACCESS_DENIED);
  CHECK(lines == NULL && n == 7);
  /* Security flags: the redirect policy reports the final URL. */
  uint32_t flags = 99;
  OK(bgcopy_job_get_security_flags(j, &flags));
  CHECK(flags == 0);
  CHECK(bgcopy_job_set_security_flags(j, 0x0001) == BGCOPY_E_NOTIMPL);
  CHECK(bgcopy_job_set_security_flags(j, 0x0300) == BGCOPY_E_INVALIDARG);
  OK(bgcopy_job_set_security_flags(j, BGCOPY_SECURITY_REDIRECT_ALLOW_REPORT |
                                          BGCOPY_SECURITY_ALLOW_HTTPS_TO_HTTP));
  OK(bgcopy_job_get_security_flags(j, &flags));
  CHECK(flags == (BGCOPY_SECURITY_REDIRECT_ALLOW_REPORT | BGCOPY_SECURITY_ALLOW_HTTPS_TO_HTTP));
  OK(bgcopy_job_resume(j));
  CHECK(wait_for_state(j, BGCOPY_JOB_STATE_TRANSFERRED, 30));
  json_t *st = origin_stats(&O, "c-rq-h");
  CHECK(st != NULL);
  json_t *first = json_array_get(json_object_get(st, "headers"), 0);
  int found = 0;
  for (size_t i = 0; i < json_array_size(first); i++)
    found |= strcmp(json_string_value(json_array_get(first, i)), "x-token: c-1") == 0;
  json_decref(st);
  CHECK(found);
  bgcopy_file **files = NULL;
  size_t nf = 0;
  OK(bgcopy_job_enum_files(j, &files, &nf));
  char *remote = NULL, want[512];
  OK(bgcopy_file_get_remote_name(files[0], &remote));
  url(want, sizeof want, "c-rq-h", "size=1500");
  CHECK(strcmp(remote, want) == 0);
  bgcopy_string_free(remote);
  char *final_url = NULL, *temp = NULL;
  OK(bgcopy_file_get_final_url(files[0], &final_url));
  CHECK(final_url != NULL && strcmp(final_url, want) == 0);
  bgcopy_string_free(final_url);
  OK(bgcopy_file_get_temporary_name(files[0], &temp));
  CHECK(temp != NULL && strstr(temp, ".bgcopy-part") != NULL && file_is(temp, 1500));
  bgcopy_string_free(temp);
  BAD(bgcopy_file_get_final_url(files[0], NULL));
  bgcopy_file_array_free(files, nf);
  OK(bgcopy_job_complete(j));
  CHECK(file_is(p, 1500));
  bgcopy_job_release(j);
  fx_done(&f);
}

/* Credentials (Basic, then removed: 401), a new remote name, a replaced prefix and the
 * maximum download time. */
static void test_credentials_remote_names_and_max_time(void) {
  fx f;
  CHECK(fx_open(&f, "creds") == 0);
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "creds", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  char u[512], p[PATH_MAX];
  url(u, sizeof u, "c-auth", "size=900&auth=basic:cuser:c-pw");
  path(p, sizeof p, &f, "a.bin");
  OK(bgcopy_job_add_file(j, u, p));
  CHECK(bgcopy_job_set_credentials(j, 3, BGCOPY_AUTH_SCHEME_BASIC, "u", "p") == BGCOPY_E_INVALIDARG);
  CHECK(bgcopy_job_set_credentials(j, BGCOPY_AUTH_TARGET_SERVER, 2, "u", "p") == BGCOPY_E_INVALIDARG);
  CHECK(bgcopy_job_set_credentials(j, BGCOPY_AUTH_TARGET_SERVER, BGCOPY_AUTH_SCHEME_BASIC, "a:b",
                                   "p") == BGCOPY_E_INVALIDARG);
  CHECK(strstr(bgcopy_last_error_message(), "c-pw") == NULL);
  BAD(bgcopy_job_set_credentials(j, BGCOPY_AUTH_TARGET_SERVER, BGCOPY_AUTH_SCHEME_BASIC, NULL, "p"));
  OK(bgcopy_job_set_credentials(j, BGCOPY_AUTH_TARGET_SERVER, BGCOPY_AUTH_SCHEME_BASIC, "cuser",
                                "c-pw"));
  OK(bgcopy_job_resume(j));
  CHECK(wait_for_state(j, BGCOPY_JOB_STATE_TRANSFERRED, 30));
  OK(bgcopy_job_complete(j));
  CHECK(file_is(p, 900));
  bgcopy_job_release(j);

  /* Removed: the origin answers 401, an ERROR with HTTP_401. */
  OK(bgcopy_manager_create_job(f.m, "nocreds", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  path(p, sizeof p, &f, "b.bin");
  OK(bgcopy_job_add_file(j, u, p));
  OK(bgcopy_job_set_credentials(j, BGCOPY_AUTH_TARGET_SERVER, BGCOPY_AUTH_SCHEME_BEARER, "", "tok"));
  OK(bgcopy_job_remove_credentials(j, BGCOPY_AUTH_TARGET_SERVER, BGCOPY_AUTH_SCHEME_BEARER));
  OK(bgcopy_job_resume(j));
  CHECK(wait_for_state(j, BGCOPY_JOB_STATE_ERROR, 30));
  bgcopy_error *e = NULL;
  OK(bgcopy_job_get_error(j, &e));
  bgcopy_error_context ctx = 0;
  int32_t code = 0;
  OK(bgcopy_error_get_error(e, &ctx, &code));
  CHECK(code == BGCOPY_E_HTTP(401));
  bgcopy_error_release(e);

  /* A new remote name (and a replaced prefix) lets the same job succeed. */
  bgcopy_file **files = NULL;
  size_t nf = 0;
  OK(bgcopy_job_enum_files(j, &files, &nf));
  char u2[512], got[512];
  url(u2, sizeof u2, "c-auth-gone/x", "size=900");
  CHECK(bgcopy_file_set_remote_name(files[0], "ftp://nowhere/x") == BGCOPY_E_INVALIDARG);
  OK(bgcopy_file_set_remote_name(files[0], u2));
  char old_prefix[512], new_prefix[512];
  snprintf(old_prefix, sizeof old_prefix, "%s/f/c-auth-gone/", O.http_base);
  snprintf(new_prefix, sizeof new_prefix, "%s/f/c-auth-new/", O.http_base);
  uint32_t changed = 9;
  OK(bgcopy_job_replace_remote_prefix(j, old_prefix, new_prefix, &changed));
  CHECK(changed == 1);
  OK(bgcopy_job_replace_remote_prefix(j, "https://none/", new_prefix, NULL));
  char *remote = NULL;
  OK(bgcopy_file_get_remote_name(files[0], &remote));
  url(got, sizeof got, "c-auth-new/x", "size=900");
  CHECK(remote != NULL && strcmp(remote, got) == 0);
  bgcopy_string_free(remote);
  bgcopy_file_array_free(files, nf);
  OK(bgcopy_job_resume(j));
  CHECK(wait_for_state(j, BGCOPY_JOB_STATE_TRANSFERRED, 30));
  OK(bgcopy_job_complete(j));
  CHECK(file_is(p, 900));
  bgcopy_job_release(j);

  /* The maximum download time ends a slow transfer with MAXDOWNLOAD_TIMEOUT. */
  OK(bgcopy_manager_create_job(f.m, "slow", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  url(u, sizeof u, "c-slow", "size=20000000&rate=1000000");
  path(p, sizeof p, &f, "s.bin");
  OK(bgcopy_job_add_file(j, u, p));
  uint32_t secs = 9;
  OK(bgcopy_job_get_maximum_download_time(j, &secs));
  CHECK(secs == 0);
  OK(bgcopy_job_set_maximum_download_time(j, 1));
  OK(bgcopy_job_get_maximum_download_time(j, &secs));
  CHECK(secs == 1);
  BAD(bgcopy_job_get_maximum_download_time(j, NULL));
  OK(bgcopy_job_resume(j));
  CHECK(wait_for_state(j, BGCOPY_JOB_STATE_ERROR, 30));
  OK(bgcopy_job_get_error(j, &e));
  OK(bgcopy_error_get_error(e, &ctx, &code));
  CHECK(code == BGCOPY_E_MAXDOWNLOAD_TIMEOUT);
  bgcopy_error_release(e);
  OK(bgcopy_job_cancel(j));
  bgcopy_job_release(j);
  fx_done(&f);
}

/* Proxy settings through the origin's real HTTP proxy: 407 without credentials, then
 * through with PROXY Basic credentials. */
static void test_proxy_settings(void) {
  fx f;
  CHECK(fx_open(&f, "proxy") == 0);
  json_t *pv = origin_get_json(&O, "/proxy?kind=http&auth=cu:cpw");
  CHECK(pv != NULL && json_integer_value(json_object_get(pv, "port")) > 0);
  char purl[128], logpath[64];
  snprintf(purl, sizeof purl, "http://127.0.0.1:%lld",
           (long long)json_integer_value(json_object_get(pv, "port")));
  snprintf(logpath, sizeof logpath, "/proxylog/%lld",
           (long long)json_integer_value(json_object_get(pv, "id")));
  json_decref(pv);
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "proxied", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  char u[512], p[PATH_MAX];
  url(u, sizeof u, "c-px", "size=4000");
  path(p, sizeof p, &f, "p.bin");
  OK(bgcopy_job_add_file(j, u, p));
  bgcopy_proxy_usage usage = 9;
  char *proxy = (char *)1, *bypass = (char *)1;
  OK(bgcopy_job_get_proxy_settings(j, &usage, &proxy, &bypass));
  CHECK(usage == BGCOPY_PROXY_USAGE_PRECONFIG && proxy == NULL && bypass == NULL);
  CHECK(bgcopy_job_set_proxy_settings(j, 7, NULL, NULL) == BGCOPY_E_INVALIDARG);
  CHECK(bgcopy_job_set_proxy_settings(j, BGCOPY_PROXY_USAGE_NO_PROXY, purl, NULL) ==
        BGCOPY_E_INVALIDARG);
  CHECK(bgcopy_job_set_credentials(j, BGCOPY_AUTH_TARGET_PROXY, BGCOPY_AUTH_SCHEME_BEARER, "",
                                   "t") == BGCOPY_E_NOTIMPL);
  BAD(bgcopy_job_get_proxy_settings(j, &usage, NULL, &bypass));
  OK(bgcopy_job_set_proxy_settings(j, BGCOPY_PROXY_USAGE_OVERRIDE, purl, "example.com"));
  OK(bgcopy_job_get_proxy_settings(j, &usage, &proxy, &bypass));
  CHECK(usage == BGCOPY_PROXY_USAGE_OVERRIDE && proxy && strcmp(proxy, purl) == 0 && bypass &&
        strcmp(bypass, "example.com") == 0);
  bgcopy_string_free(proxy);
  bgcopy_string_free(bypass);
  OK(bgcopy_job_resume(j));
  CHECK(wait_for_state(j, BGCOPY_JOB_STATE_ERROR, 30));
  bgcopy_error *e = NULL;
  OK(bgcopy_job_get_error(j, &e));
  bgcopy_error_context ctx = 0;
  int32_t code = 0;
  OK(bgcopy_error_get_error(e, &ctx, &code));
  CHECK(code == BGCOPY_E_HTTP(407) && ctx == BGCOPY_ERROR_CONTEXT_GENERAL_TRANSPORT);
  bgcopy_error_release(e);
  OK(bgcopy_job_set_credentials(j, BGCOPY_AUTH_TARGET_PROXY, BGCOPY_AUTH_SCHEME_BASIC, "cu",
                                "cpw"));
  OK(bgcopy_job_resume(j));
  CHECK(wait_for_state(j, BGCOPY_JOB_STATE_TRANSFERRED, 30));
  OK(bgcopy_job_complete(j));
  CHECK(file_is(p, 4000));
  json_t *log = origin_get_json(&O, logpath);
  CHECK(log != NULL && json_integer_value(json_object_get(log, "established")) == 1);
  json_decref(log);
  bgcopy_job_release(j);
  fx_done(&f);
}

/* A client certificate opens the origin's port that requires one. */
static void test_client_certificate(void) {
  fx f;
  memset(&f, 0, sizeof f);
  CHECK(make_temp_dir(f.dir, sizeof f.dir, "mtls") == 0);
  snprintf(f.state, sizeof f.state, "%s/state", f.dir);
  bgcopy_manager_options o;
  bgcopy_manager_options_init(&o);
  const char *roots[] = {O.cert};
  o.tls_root_certs = roots;
  o.tls_root_certs_count = 1;
  OK(bgcopy_manager_open_with(f.state, &o, &f.m));
  bgcopy_job *j = NULL;
  OK(bgcopy_manager_create_job(f.m, "mtls", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  char u[512], p[PATH_MAX];
  snprintf(u, sizeof u, "https://localhost:%d/f/c-mt?size=5000", O.mtls);
  path(p, sizeof p, &f, "m.bin");
  OK(bgcopy_job_add_file(j, u, p));
  CHECK(bgcopy_job_set_client_certificate(j, O.client_key, O.client_key) == BGCOPY_E_INVALIDARG);
  CHECK(bgcopy_job_set_client_certificate(j, "/nonexistent.pem", O.client_key) ==
        BGCOPY_E_INVALIDARG);
  BAD(bgcopy_job_set_client_certificate(j, NULL, O.client_key));
  OK(bgcopy_job_set_client_certificate(j, O.client_cert, O.client_key));
  OK(bgcopy_job_resume(j));
  CHECK(wait_for_state(j, BGCOPY_JOB_STATE_TRANSFERRED, 30));
  OK(bgcopy_job_complete(j));
  CHECK(file_is(p, 5000));
  bgcopy_job_release(j);
  OK(bgcopy_manager_create_job(f.m, "nocert", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  path(p, sizeof p, &f, "n.bin");
  OK(bgcopy_job_add_file(j, u, p));
  OK(bgcopy_job_set_client_certificate(j, O.client_cert, O.client_key));
  OK(bgcopy_job_remove_client_certificate(j));
  OK(bgcopy_job_resume(j));
  CHECK(wait_for_state(j, BGCOPY_JOB_STATE_ERROR, 30));
  bgcopy_error *e = NULL;
  bgcopy_error_context ctx = 0;
  int32_t code = 0;
  OK(bgcopy_job_get_error(j, &e));
  OK(bgcopy_error_get_error(e, &ctx, &code));
  CHECK(code == BGCOPY_E_SECURE_FAILURE);
  bgcopy_error_release(e);
  OK(bgcopy_job_cancel(j));
  bgcopy_job_release(j);
  fx_done(&f);
}

/* `unit --engine STATE`: a process that only holds a manager that transfers (the
 * engine of STATE) until its standard input closes. */
static int run_engine(const char *state) {
  bgcopy_manager *m = NULL;
  if (bgcopy_manager_open(state, &m) != BGCOPY_S_OK) {
    fprintf(stderr, "engine: %s\n", bgcopy_last_error_message());
    return 1;
  }
  char buf[64];
  while (read(STDIN_FILENO, buf, sizeof buf) > 0) {
  }
  bgcopy_manager_release(m);
  return 0;
}

static const char *SELF; /* argv[0] */

/* Start `SELF --engine state`; `*feed` is the write end of its standard input. */
static pid_t spawn_engine(const char *state, int *feed) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
  char *argv[] = {(char *)SELF, "--engine", (char *)state, NULL};
  pid_t pid = -1;
  extern char **environ;
  if (posix_spawn(&pid, SELF, &fa, NULL, argv, environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  close(fds[0]);
  if (pid < 0) {
    close(fds[1]);
    return -1;
  }
  *feed = fds[1];
  return pid;
}

/* The engine is another process (this binary with --engine); every manager here is a
 * client (start_transfers = false), so every transfer, callback cause and the notify
 * command happen over there. */
static void test_event_journal_and_callbacks_in_a_client(void) {
  fx f;
  memset(&f, 0, sizeof f);
  CHECK(make_temp_dir(f.dir, sizeof f.dir, "journal") == 0);
  snprintf(f.state, sizeof f.state, "%s/state", f.dir);
  int feed = -1;
  pid_t engine = spawn_engine(f.state, &feed);
  CHECK(engine > 0);
  bgcopy_manager_options o;
  bgcopy_manager_options_init(&o);
  o.notify_interval_ms = 50;
  o.start_transfers = false;
  bgcopy_manager *client = NULL;
  OK(bgcopy_manager_open_with(f.state, &o, &client));
  OK(bgcopy_manager_open_with(f.state, &o, &f.m));
  static ctx c;
  ctx_init(&c);
  bgcopy_job *j = NULL, *bad = NULL;
  OK(bgcopy_manager_create_job(client, "journal", BGCOPY_JOB_TYPE_DOWNLOAD, &j));
  OK(bgcopy_manager_create_job(client, "missing", BGCOPY_JOB_TYPE_DOWNLOAD, &bad));
  char u1[512], u2[512], u3[512], p1[PATH_MAX], p2[PATH_MAX], p3[PATH_MAX];
  url(u1, sizeof u1, "jr-a", "size=20000");
  url(u2, sizeof u2, "jr-b", "size=30000");
  url(u3, sizeof u3, "jr-404", "status=404");
  path(p1, sizeof p1, &f, "a.bin");
  path(p2, sizeof p2, &f, "b.bin");
  path(p3, sizeof p3, &f, "c.bin");
  OK(bgcopy_job_add_file(j, u1, p1));
  OK(bgcopy_job_add_file(j, u2, p2));
  OK(bgcopy_job_add_file(bad, u3, p3));
  uint32_t flags = BGCOPY_NOTIFY_JOB_TRANSFERRED | BGCOPY_NOTIFY_JOB_ERROR |
                   BGCOPY_NOTIFY_JOB_MODIFICATION | BGCOPY_NOTIFY_FILE_TRANSFERRED;
  OK(bgcopy_job_set_notify_flags(j, flags));
  OK(bgcopy_job_set_notify_flags(bad, flags));
  bgcopy_callback cb = callback_for(&c);
  OK(bgcopy_job_set_notify_interface(j, &cb));
  OK(bgcopy_job_set_notify_interface(bad, &cb));
  /* The notify command line: checked, kept, and run by the engine (another manager). */
  char out[PATH_MAX], script[PATH_MAX + 64];
  path(out, sizeof out, &f, "cmd.log");
  snprintf(script, sizeof script, "echo \"$BGCOPY_JOB_ID $1\" >> '%s'", out);
  const char *cmd_args[] = {"-c", script, "sh", "done"};
  CHECK(bgcopy_job_set_notify_cmd_line(j, "sh", cmd_args, 4) == BGCOPY_E_INVALIDARG);
  BAD(bgcopy_job_set_notify_cmd_line(j, "/bin/sh", NULL, 2));
  OK(bgcopy_job_set_notify_cmd_line(j, "/bin/sh", cmd_args, 4));
  {
    char *prog = NULL, **args = NULL;
    size_t nargs = 0;
    OK(bgcopy_job_get_notify_cmd_line(j, &prog, &args, &nargs));
    CHECK(prog && strcmp(prog, "/bin/sh") == 0 && nargs == 4);
    CHECK(nargs == 4 && strcmp(args[1], script) == 0 && strcmp(args[3], "done") == 0);
    bgcopy_string_free(prog);
    bgcopy_string_array_free(args, nargs);
    OK(bgcopy_job_get_notify_cmd_line(bad, &prog, &args, &nargs));
    CHECK(prog == NULL && args == NULL && nargs == 0);
    bgcopy_string_array_free(NULL, 0);
  }
  OK(bgcopy_job_resume(j));
  OK(bgcopy_job_resume(bad));
  CHECK(wait_for_state(j, BGCOPY_JOB_STATE_TRANSFERRED, 30));
  CHECK(wait_for_state(bad, BGCOPY_JOB_STATE_ERROR, 30));
  CHECK(wait_for_count(&c.transferred, 1, 10));
  CHECK(wait_for_count(&c.file, 2, 10));
  CHECK(wait_for_count(&c.error, 1, 10));

  {
    char *jid = NULL, want[128], got[256] = "";
    OK(bgcopy_job_get_id(j, &jid));
    snprintf(want, sizeof want, "%s done\n", jid);
    for (int i = 0; i < 300 && strcmp(got, want) != 0; i++) {
      FILE *fp = fopen(out, "r");
      if (fp) {
        size_t n = fread(got, 1, sizeof got - 1, fp);
        got[n] = 0;
        fclose(fp);
      }
      if (strcmp(got, want) != 0) sleep_ms(100);
    }
    CHECK(strcmp(got, want) == 0);
    bgcopy_string_free(jid);
  }
  /* Both managers read the same journal. */
  bgcopy_event *mine = NULL, *theirs = NULL;
  size_t n = 0, n2 = 0;
  OK(bgcopy_manager_events_since(client, 0, 10000, &mine, &n));
  OK(bgcopy_manager_events_since(f.m, 0, 10000, &theirs, &n2));
  CHECK(n == n2 && n >= 8);
  int files = 0, transferred = 0, errors = 0;
  char *id = NULL;
  OK(bgcopy_job_get_id(j, &id));
  for (size_t i = 0; i < n && i < n2; i++) {
    CHECK(mine[i].seq == theirs[i].seq && mine[i].kind == theirs[i].kind);
    CHECK(strcmp(mine[i].job_id, theirs[i].job_id) == 0);
    if (i > 0) CHECK(mine[i].seq > mine[i - 1].seq);
    if (mine[i].kind == BGCOPY_EVENT_KIND_FILE_TRANSFERRED) {
      files++;
      CHECK(strcmp(mine[i].job_id, id) == 0 && mine[i].file_index >= 0);
    }
    if (mine[i].kind == BGCOPY_EVENT_KIND_STATE_CHANGED &&
        mine[i].state == BGCOPY_JOB_STATE_TRANSFERRED)
      transferred++;
    if (mine[i].kind == BGCOPY_EVENT_KIND_ERROR) {
      errors++;
      CHECK(mine[i].error_code == BGCOPY_E_HTTP(404));
      CHECK(mine[i].error_context == BGCOPY_ERROR_CONTEXT_REMOTE_FILE);
      CHECK(mine[i].error_description != NULL && strstr(mine[i].error_description, "404"));
    } else {
      CHECK(mine[i].error_code == 0 && mine[i].error_description == NULL);
    }
  }
  CHECK(files == 2 && transferred == 1 && errors == 1);
  /* A cursor: the rest after the first. */
  bgcopy_event *rest = NULL;
  size_t nr = 0;
  OK(bgcopy_manager_events_since(client, mine[0].seq, 10000, &rest, &nr));
  CHECK(nr == n - 1 && rest[0].seq == mine[1].seq);
  bgcopy_event_array_free(rest, nr);
  bgcopy_event_array_free(mine, n);
  bgcopy_event_array_free(theirs, n2);
  bgcopy_event_array_free(NULL, 0);
  /* Bad arguments. */
  CHECK(bgcopy_manager_events_since(client, 0, 0, &rest, &nr) == BGCOPY_E_INVALIDARG);
  BAD(bgcopy_manager_events_since(client, 0, 10, NULL, &nr));
  BAD(bgcopy_manager_events_since(NULL, 0, 10, &rest, &nr));
  bgcopy_string_free(id);
  OK(bgcopy_job_complete(j));
  CHECK(file_is(p1, 20000) && file_is(p2, 30000));
  OK(bgcopy_job_cancel(bad));
  bgcopy_job_release(j);
  bgcopy_job_release(bad);
  bgcopy_manager_release(client);
  /* The engine closes and exits when its input ends. */
  close(feed);
  int status = -1;
  CHECK(waitpid(engine, &status, 0) == engine);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  fx_done(&f);
}

typedef struct test {
  const char *name;
  void (*run)(void);
} test;

#define T(f) {#f, f}
static const test TESTS[] = {
    T(test_version_codes_and_macros),
    T(test_enum_names),
    T(test_release_null_is_a_noop),
    T(test_options),
    T(test_open_and_lock),
    T(test_null_handles),
    T(test_null_out_pointers),
    T(test_bad_strings),
    T(test_bad_input_spec5),
    T(test_invalid_state_rules),
    T(test_download_complete_and_getters),
    T(test_callbacks_from_library_threads),
    T(test_error_callback_and_error_object),
    T(test_callback_replace_clear_and_close),
    T(test_close_and_last_release_inside_a_callback),
    T(test_close_inside_release),
    T(test_release_of_last_manager_reference_closes),
    T(test_enum_properties_and_reopen),
    T(test_last_error_is_per_thread),
    T(test_eight_threads_share_one_job),
    T(test_event_journal_and_callbacks_in_a_client),
    T(test_custom_headers_and_security_flags),
    T(test_credentials_remote_names_and_max_time),
    T(test_proxy_settings),
    T(test_client_certificate),
};

int main(int argc, char **argv) {
  SELF = argv[0];
  if (argc == 3 && strcmp(argv[1], "--engine") == 0) return run_engine(argv[2]);
  if (origin_start(&O) != 0) {
    printf("RESULT passed=0 failed=1\n");
    return 1;
  }
  int passed = 0, failed = 0;
  for (size_t i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++) {
    if (argc > 1) {
      int want = 0;
      for (int k = 1; k < argc; k++) want |= strcmp(argv[k], TESTS[i].name) == 0;
      if (!want) continue;
    }
    int before = failed_checks;
    double start = now_s();
    TESTS[i].run();
    int ok = failed_checks == before;
    printf("test %s ... %s (%.1fs)\n", TESTS[i].name, ok ? "ok" : "FAILED", now_s() - start);
    fflush(stdout);
    ok ? passed++ : failed++;
  }
  origin_stop(&O);
  printf("RESULT passed=%d failed=%d\n", passed, failed);
  return failed ? 1 : 0;
}
