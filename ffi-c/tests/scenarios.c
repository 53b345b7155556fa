/* The C runner of the shared scenarios (tests/scenarios/NAME.json, step language in
 * tests/scenarios/README.md), against the test origin, through the C API only.
 *
 * Usage: scenarios [SCENARIO_DIR [NAME...]]   (default dir tests/scenarios; names
 * select scenarios, else $BGCOPY_SCENARIO, comma-separated, else all; names in
 * $BGCOPY_SCENARIO_SKIP, comma-separated, are left out). Every scenario
 * runs on its own thread, in parallel like the Rust runner, at most
 * $BGCOPY_SCENARIO_JOBS (default 4) at once. Keys not listed in
 * tests/scenario_schema.json (next to SCENARIO_DIR) fail the scenario. Prints one line
 * per scenario and ends with "RESULT passed=N failed=N".
 *
 * A string with a NUL inside (JSON "\u0000") cannot be passed through a C string: the
 * step that carries one must expect INVALID_ARG, and is reported as not expressible in
 * C instead of being called (C callers cannot make that mistake). */
#define _GNU_SOURCE
#include "common.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *STATE_NAMES[] = {"QUEUED",      "CONNECTING",      "TRANSFERRING",
                                    "SUSPENDED",   "ERROR",           "TRANSIENT_ERROR",
                                    "TRANSFERRED", "ACKNOWLEDGED",    "CANCELLED"};
static const char *PRIORITY_NAMES[] = {"FOREGROUND", "HIGH", "NORMAL", "LOW"};
static const char *TYPE_NAMES[] = {"DOWNLOAD", "UPLOAD", "UPLOAD_REPLY"};
static const char *CONTEXT_NAMES[] = {"NONE",
                                      "UNKNOWN",
                                      "GENERAL_QUEUE_MANAGER",
                                      "QUEUE_MANAGER_NOTIFICATION",
                                      "LOCAL_FILE",
                                      "REMOTE_FILE",
                                      "GENERAL_TRANSPORT",
                                      "REMOTE_APPLICATION"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char **names, size_t n, uint32_t v) {
  return v < n ? names[v] : "?";
}

static int value_of(const char **names, size_t n, const char *name, uint32_t *out) {
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(names[i], name) == 0) {
      *out = (uint32_t)i;
      return 0;
    }
  return -1;
}

/* ---- the recording callback ---- */

enum { K_TRANSFERRED, K_ERROR, K_MODIFICATION, K_FILE, K_FINAL_MODIFICATION, K_COUNT };
static const char *KIND_NAMES[] = {"transferred", "error", "modification", "file_transferred",
                                   "final_modification"};

typedef struct recorder {
  atomic_int refs; /* the runner's and the library's */
  pthread_mutex_t mu;
  unsigned counts[K_COUNT];
  int fail_first;
  int complete_in_callback;
  json_t *inner_results;
} recorder;

static recorder *recorder_new(int fail_first, int complete_in_callback) {
  recorder *r = calloc(1, sizeof *r);
  atomic_init(&r->refs, 1);
  pthread_mutex_init(&r->mu, NULL);
  r->fail_first = fail_first;
  r->complete_in_callback = complete_in_callback;
  r->inner_results = json_array();
  return r;
}

static void recorder_unref(recorder *r) {
  if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
    json_decref(r->inner_results);
    pthread_mutex_destroy(&r->mu);
    free(r);
  }
}

static unsigned recorder_count(recorder *r, int kind) {
  pthread_mutex_lock(&r->mu);
  unsigned n = r->counts[kind];
  pthread_mutex_unlock(&r->mu);
  return n;
}

/* Count a delivery; fail it (negative return) while fail_first lasts. */
static int32_t hit(recorder *r, int kind) {
  pthread_mutex_lock(&r->mu);
  r->counts[kind]++;
  int fail = r->fail_first > 0;
  if (fail) r->fail_first--;
  pthread_mutex_unlock(&r->mu);
  return fail ? (int32_t)0x80004005 /* E_FAIL */ : BGCOPY_S_OK;
}

static int32_t on_transferred(void *ctx, bgcopy_job *job) {
  recorder *r = ctx;
  int32_t hr = hit(r, K_TRANSFERRED);
  if (hr >= 0 && r->complete_in_callback) {
    int32_t c = bgcopy_job_complete(job); /* re-entrant: complete() from the callback */
    pthread_mutex_lock(&r->mu);
    json_array_append_new(r->inner_results, json_string(symbol_of(c)));
    pthread_mutex_unlock(&r->mu);
  }
  return hr;
}

static int32_t on_error(void *ctx, bgcopy_job *job, bgcopy_error *error) {
  bgcopy_job_state s;
  bgcopy_job_progress p;
  bgcopy_error_context c;
  int32_t code;
  (void)bgcopy_job_get_state(job, &s);
  (void)bgcopy_job_get_progress(job, &p);
  (void)bgcopy_error_get_error(error, &c, &code);
  return hit(ctx, K_ERROR);
}

static int32_t on_modification(void *ctx, bgcopy_job *job) {
  bgcopy_job_progress p;
  (void)bgcopy_job_get_progress(job, &p);
  bgcopy_job_state s;
  if (bgcopy_job_get_state(job, &s) == BGCOPY_S_OK &&
      (s == BGCOPY_JOB_STATE_ACKNOWLEDGED || s == BGCOPY_JOB_STATE_CANCELLED)) {
    recorder *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->counts[K_FINAL_MODIFICATION]++;
    pthread_mutex_unlock(&r->mu);
  }
  return hit(ctx, K_MODIFICATION);
}

static int32_t on_file(void *ctx, bgcopy_job *job, bgcopy_file *file) {
  (void)job;
  bgcopy_file_progress p;
  (void)bgcopy_file_get_progress(file, &p);
  return hit(ctx, K_FILE);
}

static void on_release(void *ctx) { recorder_unref(ctx); }

/* ---- one scenario run ---- */

#define MAX_JOBS 32
#define MAX_SAVED 16

/* Times kept by expect_times "save". */
typedef struct saved_times {
  char name[64];
  int64_t creation, modification, completion;
} saved_times;

typedef struct alias {
  char name[64];
  bgcopy_job *job;
  recorder *rec;
} alias;

typedef struct run {
  const origin *o;
  const char *name;
  char dir[PATH_MAX];
  char state_dir[PATH_MAX + 8];
  bgcopy_manager_options opts;
  const char *certs[1];
  bgcopy_manager *m;
  alias jobs[MAX_JOBS];
  int njobs;
  saved_times saved[MAX_SAVED];
  int nsaved;
  char late[64];  /* {late}: http://127.0.0.1:PORT, or empty */
  char proxy[64]; /* {proxy}: the URL of the proxy a `proxy` step started, or empty */
  long long proxy_id;
  int not_expressible;
  char err[2048];
} run;

static int fail(run *r, const char *fmt, ...);

/* The keys each part of a scenario may have (tests/scenario_schema.json). */
static json_t *SCHEMA;

/* Reject keys the schema does not list for this part (a misspelt expectation). */
static int check_keys(run *r, const char *what, json_t *obj, json_t *allowed1, json_t *allowed2) {
  if (!json_is_object(obj)) return 0;
  const char *k;
  json_t *x;
  json_object_foreach(obj, k, x) {
    int known = 0;
    json_t *lists[2] = {allowed1, allowed2};
    for (int l = 0; l < 2 && !known; l++) {
      size_t i;
      json_t *name;
      if (json_is_array(lists[l]))
        json_array_foreach(lists[l], i, name) if (json_is_string(name) &&
                                                   strcmp(json_string_value(name), k) == 0) known = 1;
    }
    if (!known) return fail(r, "%s: unknown key \"%s\"", what, k);
  }
  return 0;
}

static int fail(run *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, sizeof r->err, fmt, ap);
  va_end(ap);
  return -1;
}

static alias *find_alias(run *r, const char *name) {
  for (int i = 0; i < r->njobs; i++)
    if (strcmp(r->jobs[i].name, name) == 0) return &r->jobs[i];
  return NULL;
}

static char *job_id(bgcopy_job *j) {
  char *id = NULL;
  if (bgcopy_job_get_id(j, &id) != BGCOPY_S_OK) return NULL;
  return id;
}

/* Append bytes to a growing buffer. */
typedef struct buf {
  char *p;
  size_t n, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

/* {http} {https} {dir} {job:ALIAS} in a string that may hold NULs. */
static json_t *subst_string(run *r, const char *s, size_t len) {
  buf b = {0};
  buf_add(&b, "", 0);
  size_t i = 0;
  while (i < len) {
    const char *rest = s + i;
    size_t left = len - i;
#define TOKEN(t) (left >= strlen(t) && memcmp(rest, t, strlen(t)) == 0)
    if (TOKEN("{late}") && r->late[0]) {
      buf_add(&b, r->late, strlen(r->late));
      i += strlen("{late}");
    } else if (TOKEN("{mtls}")) {
      char m[64];
      snprintf(m, sizeof m, "https://localhost:%d", r->o->mtls);
      buf_add(&b, m, strlen(m));
      i += strlen("{mtls}");
    } else if (TOKEN("{client_cert}")) {
      buf_add(&b, r->o->client_cert, strlen(r->o->client_cert));
      i += strlen("{client_cert}");
    } else if (TOKEN("{client_key}")) {
      buf_add(&b, r->o->client_key, strlen(r->o->client_key));
      i += strlen("{client_key}");
    } else if (TOKEN("{proxy}") && r->proxy[0]) {
      buf_add(&b, r->proxy, strlen(r->proxy));
      i += strlen("{proxy}");
    } else if (TOKEN("{https}")) {
      buf_add(&b, r->o->https_base, strlen(r->o->https_base));
      i += strlen("{https}");
    } else if (TOKEN("{http}")) {
      buf_add(&b, r->o->http_base, strlen(r->o->http_base));
      i += strlen("{http}");
    } else if (TOKEN("{dir}")) {
      buf_add(&b, r->dir, strlen(r->dir));
      i += strlen("{dir}");
    } else if (TOKEN("{job:")) {
      const char *end = memchr(rest, '}', left);
      size_t alen = end ? (size_t)(end - rest) - 5 : left - 5;
      char name[64] = {0};
      if (alen < sizeof name) memcpy(name, rest + 5, alen);
      alias *a = find_alias(r, name);
      char *id = a ? job_id(a->job) : NULL;
      if (id) buf_add(&b, id, strlen(id));
      bgcopy_string_free(id);
      i += end ? (size_t)(end - rest) + 1 : left;
    } else {
      buf_add(&b, rest, 1);
      i++;
    }
#undef TOKEN
  }
  json_t *v = json_stringn(b.p, b.n);
  free(b.p);
  return v;
}

static json_t *subst(run *r, json_t *v) {
  if (json_is_string(v)) return subst_string(r, json_string_value(v), json_string_length(v));
  if (json_is_array(v)) {
    json_t *a = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) json_array_append_new(a, subst(r, x));
    return a;
  }
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) json_object_set_new(o, k, subst(r, x));
    return o;
  }
  return json_incref(v);
}

/* Does any string in v carry a NUL? */
static int has_nul(json_t *v) {
  if (json_is_string(v)) return strlen(json_string_value(v)) != json_string_length(v);
  size_t i;
  const char *k;
  json_t *x;
  if (json_is_array(v)) json_array_foreach(v, i, x) if (has_nul(x)) return 1;
  if (json_is_object(v)) json_object_foreach(v, k, x) if (has_nul(x)) return 1;
  return 0;
}

static const char *str_at(json_t *args, size_t i) {
  const char *s = json_string_value(json_array_get(args, i));
  return s ? s : "";
}

static int u32_at(run *r, json_t *args, size_t i, const char *method, uint32_t *out) {
  json_t *v = json_array_get(args, i);
  if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
    return fail(r, "%s: argument %zu must be a u32", method, i);
  *out = (uint32_t)json_integer_value(v);
  return 0;
}

static int u64_at(run *r, json_t *args, size_t i, const char *method, uint64_t *out) {
  json_t *v = json_array_get(args, i);
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return fail(r, "%s: argument %zu must be a u64", method, i);
  *out = (uint64_t)json_integer_value(v);
  return 0;
}

/* {"repeat": s, "count": n} builds long strings. */
static char *long_string(json_t *v) {
  if (json_is_object(v)) {
    const char *s = json_string_value(json_object_get(v, "repeat"));
    if (!s) s = "x";
    size_t count = (size_t)json_integer_value(json_object_get(v, "count"));
    size_t n = strlen(s);
    char *out = malloc(n * count + 1);
    for (size_t i = 0; i < count; i++) memcpy(out + i * n, s, n);
    out[n * count] = 0;
    return out;
  }
  return strdup(json_string_value(v) ? json_string_value(v) : "");
}

static json_t *bytes_value(uint64_t n) {
  return n == BGCOPY_BYTES_UNKNOWN ? json_string("UNKNOWN") : json_integer((json_int_t)n);
}

static json_t *string_result(char *s) {
  json_t *v = json_string(s ? s : "");
  bgcopy_string_free(s);
  return v;
}

/* want matches got: see "Matching" in tests/scenarios/README.md. */
static int matches(json_t *want, json_t *got) {
  if (json_is_string(want) && strcmp(json_string_value(want), "any") == 0) return 1;
  if (json_is_object(want) && json_is_string(got) && json_object_get(want, "contains")) {
    const char *needle = json_string_value(json_object_get(want, "contains"));
    return strstr(json_string_value(got), needle ? needle : "") != NULL;
  }
  if (json_is_object(want) && json_is_string(got) && json_object_get(want, "lacks")) {
    const char *needle = json_string_value(json_object_get(want, "lacks"));
    return strstr(json_string_value(got), needle ? needle : "") == NULL;
  }
  if (json_is_object(want) && json_is_object(got)) {
    const char *k;
    json_t *w;
    json_object_foreach(want, k, w) {
      json_t *g = json_object_get(got, k);
      if (!matches(w, g ? g : json_null())) return 0;
    }
    return 1;
  }
  if (json_is_array(want) && json_is_array(got)) {
    if (json_array_size(want) != json_array_size(got)) return 0;
    for (size_t i = 0; i < json_array_size(want); i++)
      if (!matches(json_array_get(want, i), json_array_get(got, i))) return 0;
    return 1;
  }
  if (!got) return json_is_null(want);
  return json_equal(want, got);
}

static char *dump(json_t *v) {
  return v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : strdup("null");
}

/* Check a call's HRESULT against "expect" and its value against "result". Takes v. */
static int finish(run *r, const char *what, int32_t hr, json_t *v, const char *expect,
                  json_t *want) {
  int rc = 0;
  if (BGCOPY_SUCCEEDED(hr)) {
    if (strcmp(expect, "OK") != 0) {
      rc = fail(r, "%s: succeeded, wanted %s", what, expect);
    } else if (want && !matches(want, v)) { /* "result": null checks for null */
      char *g = dump(v), *w = dump(want);
      rc = fail(r, "%s returned %s, wanted %s", what, g, w);
      free(g);
      free(w);
    }
  } else if (strcmp(symbol_of(hr), expect) != 0) {
    rc = fail(r, "%s: failed with %s (%s), wanted %s", what, symbol_of(hr),
              bgcopy_last_error_message(), expect);
  }
  json_decref(v);
  return rc;
}

static json_t *error_value(bgcopy_error *e) {
  bgcopy_error_context ctx = 0;
  int32_t code = 0;
  bgcopy_error_get_error(e, &ctx, &code);
  json_t *o = json_object();
  json_object_set_new(o, "context", json_string(name_of(CONTEXT_NAMES, COUNT(CONTEXT_NAMES), ctx)));
  json_object_set_new(o, "code", json_string(symbol_of(code)));
  char *s = NULL;
  json_object_set_new(o, "protocol",
                      bgcopy_error_get_protocol(e, &s) == BGCOPY_S_OK ? string_result(s) : json_null());
  bgcopy_file *f = NULL;
  size_t idx = 0;
  if (bgcopy_error_get_file(e, &f) == BGCOPY_S_OK && bgcopy_file_get_index(f, &idx) == BGCOPY_S_OK)
    json_object_set_new(o, "file", json_integer((json_int_t)idx));
  else
    json_object_set_new(o, "file", json_null());
  bgcopy_file_release(f);
  s = NULL;
  bgcopy_error_get_error_description(e, &s);
  json_object_set_new(o, "description", string_result(s));
  s = NULL;
  bgcopy_error_get_error_context_description(e, &s);
  json_object_set_new(o, "context_description", string_result(s));
  return o;
}

/* A docs/spec.md §1 job method: *hr and *v (NULL for no value). -1 for a runner error. */
static int call(run *r, alias *a, const char *method, json_t *args, json_t *step, int32_t *hr,
                json_t **v) {
  bgcopy_job *j = a->job;
  *v = NULL;
  uint32_t n = 0;
  char *s = NULL;
  if (strcmp(method, "add_file") == 0) {
    *hr = bgcopy_job_add_file(j, str_at(args, 0), str_at(args, 1));
  } else if (strcmp(method, "add_file_set") == 0) {
    json_t *set = json_array_get(args, 0);
    if (!json_is_array(set)) return fail(r, "add_file_set takes [[url, local], ...]");
    size_t count = json_array_size(set);
    bgcopy_file_info *files = calloc(count ? count : 1, sizeof *files);
    for (size_t i = 0; i < count; i++) {
      files[i].remote_name = str_at(json_array_get(set, i), 0);
      files[i].local_name = str_at(json_array_get(set, i), 1);
    }
    *hr = bgcopy_job_add_file_set(j, files, count);
    free(files);
  } else if (strcmp(method, "enum_files") == 0) {
    bgcopy_file **files = NULL;
    size_t count = 0;
    *hr = bgcopy_job_enum_files(j, &files, &count);
    if (*hr == BGCOPY_S_OK) {
      *v = json_array();
      for (size_t i = 0; i < count; i++) {
        json_t *o = json_object();
        bgcopy_file_progress p = {0};
        bgcopy_file_get_progress(files[i], &p);
        s = NULL;
        bgcopy_file_get_remote_name(files[i], &s);
        json_object_set_new(o, "remote_name", string_result(s));
        s = NULL;
        bgcopy_file_get_local_name(files[i], &s);
        json_object_set_new(o, "local_name", string_result(s));
        json_object_set_new(o, "bytes_total", bytes_value(p.bytes_total));
        json_object_set_new(o, "bytes_transferred", json_integer((json_int_t)p.bytes_transferred));
        json_object_set_new(o, "completed", json_boolean(p.completed));
        json_array_append_new(*v, o);
      }
      bgcopy_file_array_free(files, count);
    }
  } else if (strcmp(method, "suspend") == 0) {
    *hr = bgcopy_job_suspend(j);
  } else if (strcmp(method, "resume") == 0) {
    *hr = bgcopy_job_resume(j);
  } else if (strcmp(method, "cancel") == 0) {
    *hr = bgcopy_job_cancel(j);
  } else if (strcmp(method, "complete") == 0) {
    *hr = bgcopy_job_complete(j);
    if (BGCOPY_SUCCEEDED(*hr)) *v = json_string(symbol_of(*hr));
  } else if (strcmp(method, "get_id") == 0) {
    *hr = bgcopy_job_get_id(j, &s);
    if (*hr == BGCOPY_S_OK) *v = string_result(s);
  } else if (strcmp(method, "get_type") == 0) {
    bgcopy_job_type t;
    *hr = bgcopy_job_get_type(j, &t);
    if (*hr == BGCOPY_S_OK) *v = json_string(name_of(TYPE_NAMES, COUNT(TYPE_NAMES), t));
  } else if (strcmp(method, "get_state") == 0) {
    bgcopy_job_state st;
    *hr = bgcopy_job_get_state(j, &st);
    if (*hr == BGCOPY_S_OK) *v = json_string(name_of(STATE_NAMES, COUNT(STATE_NAMES), st));
  } else if (strcmp(method, "get_priority") == 0) {
    bgcopy_priority p;
    *hr = bgcopy_job_get_priority(j, &p);
    if (*hr == BGCOPY_S_OK) *v = json_string(name_of(PRIORITY_NAMES, COUNT(PRIORITY_NAMES), p));
  } else if (strcmp(method, "get_progress") == 0) {
    bgcopy_job_progress p;
    *hr = bgcopy_job_get_progress(j, &p);
    if (*hr == BGCOPY_S_OK) {
      *v = json_object();
      json_object_set_new(*v, "bytes_total", bytes_value(p.bytes_total));
      json_object_set_new(*v, "bytes_transferred", json_integer((json_int_t)p.bytes_transferred));
      json_object_set_new(*v, "files_total", json_integer(p.files_total));
      json_object_set_new(*v, "files_transferred", json_integer(p.files_transferred));
    }
  } else if (strcmp(method, "get_times") == 0) {
    bgcopy_job_times t;
    *hr = bgcopy_job_get_times(j, &t);
    if (*hr == BGCOPY_S_OK) {
      *v = json_object();
      json_object_set_new(*v, "creation_time", json_integer((json_int_t)t.creation_time));
      json_object_set_new(*v, "modification_time", json_integer((json_int_t)t.modification_time));
      json_object_set_new(*v, "transfer_completion_time",
                          t.transfer_completion_time
                              ? json_integer((json_int_t)t.transfer_completion_time)
                              : json_null());
    }
  } else if (strcmp(method, "get_error") == 0) {
    bgcopy_error *e = NULL;
    *hr = bgcopy_job_get_error(j, &e);
    if (*hr == BGCOPY_S_OK) *v = error_value(e);
    bgcopy_error_release(e);
  } else if (strcmp(method, "get_display_name") == 0) {
    *hr = bgcopy_job_get_display_name(j, &s);
    if (*hr == BGCOPY_S_OK) *v = string_result(s);
  } else if (strcmp(method, "get_description") == 0) {
    *hr = bgcopy_job_get_description(j, &s);
    if (*hr == BGCOPY_S_OK) *v = string_result(s);
  } else if (strcmp(method, "set_display_name") == 0 || strcmp(method, "set_description") == 0) {
    char *text = long_string(json_array_get(args, 0));
    *hr = strcmp(method, "set_display_name") == 0 ? bgcopy_job_set_display_name(j, text)
                                                   : bgcopy_job_set_description(j, text);
    free(text);
  } else if (strcmp(method, "set_priority") == 0) {
    if (value_of(PRIORITY_NAMES, COUNT(PRIORITY_NAMES), str_at(args, 0), &n) != 0)
      return fail(r, "bad priority name");
    *hr = bgcopy_job_set_priority(j, n);
  } else if (strcmp(method, "get_notify_flags") == 0) {
    *hr = bgcopy_job_get_notify_flags(j, &n);
    if (*hr == BGCOPY_S_OK) *v = json_integer(n);
  } else if (strcmp(method, "set_notify_flags") == 0) {
    if (u32_at(r, args, 0, method, &n)) return -1;
    *hr = bgcopy_job_set_notify_flags(j, n);
  } else if (strcmp(method, "get_notify_interface") == 0) {
    bgcopy_callback cb;
    *hr = bgcopy_job_get_notify_interface(j, &cb);
    if (*hr == BGCOPY_S_OK) *v = cb.context || cb.job_transferred ? json_string("set") : json_null();
  } else if (strcmp(method, "set_notify_interface") == 0) {
    json_t *o = json_array_get(args, 0);
    if (json_is_object(o)) {
      recorder *rec = recorder_new((int)json_integer_value(json_object_get(o, "fail_first")),
                                   json_is_true(json_object_get(o, "complete_in_callback")));
      atomic_fetch_add(&rec->refs, 1); /* the library's reference, dropped by release */
      bgcopy_callback cb = {.context = rec,
                            .job_transferred = on_transferred,
                            .job_error = on_error,
                            .job_modification = on_modification,
                            .file_transferred = on_file,
                            .release = on_release};
      *hr = bgcopy_job_set_notify_interface(j, &cb);
      if (*hr != BGCOPY_S_OK) recorder_unref(rec); /* not taken: release is not called */
      recorder_unref(a->rec);
      a->rec = rec;
    } else {
      *hr = bgcopy_job_set_notify_interface(j, NULL);
    }
  } else if (strcmp(method, "get_no_progress_timeout") == 0) {
    *hr = bgcopy_job_get_no_progress_timeout(j, &n);
    if (*hr == BGCOPY_S_OK) *v = json_integer(n);
  } else if (strcmp(method, "set_no_progress_timeout") == 0) {
    if (u32_at(r, args, 0, method, &n)) return -1;
    *hr = bgcopy_job_set_no_progress_timeout(j, n);
  } else if (strcmp(method, "get_minimum_retry_delay") == 0) {
    *hr = bgcopy_job_get_minimum_retry_delay(j, &n);
    if (*hr == BGCOPY_S_OK) *v = json_integer(n);
  } else if (strcmp(method, "set_minimum_retry_delay") == 0) {
    if (u32_at(r, args, 0, method, &n)) return -1;
    *hr = bgcopy_job_set_minimum_retry_delay(j, n);
  } else if (strcmp(method, "get_error_count") == 0) {
    *hr = bgcopy_job_get_error_count(j, &n);
    if (*hr == BGCOPY_S_OK) *v = json_integer(n);
  } else if (strcmp(method, "set_credentials") == 0 || strcmp(method, "remove_credentials") == 0) {
    const char *t = str_at(args, 0), *sc = str_at(args, 1);
    uint32_t target = strcmp(t, "SERVER") == 0 ? BGCOPY_AUTH_TARGET_SERVER
                      : strcmp(t, "PROXY") == 0 ? BGCOPY_AUTH_TARGET_PROXY
                                                : 0;
    uint32_t scheme = strcmp(sc, "BASIC") == 0 ? BGCOPY_AUTH_SCHEME_BASIC
                      : strcmp(sc, "BEARER") == 0 ? BGCOPY_AUTH_SCHEME_BEARER
                                                  : 0;
    if (!target || !scheme) return fail(r, "bad target or scheme name");
    *hr = strcmp(method, "set_credentials") == 0
              ? bgcopy_job_set_credentials(j, target, scheme, str_at(args, 2), str_at(args, 3))
              : bgcopy_job_remove_credentials(j, target, scheme);
  } else if (strcmp(method, "get_maximum_download_time") == 0) {
    *hr = bgcopy_job_get_maximum_download_time(j, &n);
    if (*hr == BGCOPY_S_OK) *v = json_integer(n);
  } else if (strcmp(method, "set_maximum_download_time") == 0) {
    if (u32_at(r, args, 0, method, &n)) return -1;
    *hr = bgcopy_job_set_maximum_download_time(j, n);
  } else if (strcmp(method, "get_max_connections_per_file") == 0) {
    *hr = bgcopy_job_get_max_connections_per_file(j, &n);
    if (*hr == BGCOPY_S_OK) *v = json_integer(n);
  } else if (strcmp(method, "set_max_connections_per_file") == 0) {
    if (u32_at(r, args, 0, method, &n)) return -1;
    *hr = bgcopy_job_set_max_connections_per_file(j, n);
  } else if (strcmp(method, "get_bandwidth_limit") == 0) {
    uint64_t limit = 0;
    *hr = bgcopy_job_get_bandwidth_limit(j, &limit);
    if (*hr == BGCOPY_S_OK) *v = json_integer((json_int_t)limit);
  } else if (strcmp(method, "set_bandwidth_limit") == 0) {
    uint64_t limit = 0;
    if (u64_at(r, args, 0, method, &limit)) return -1;
    *hr = bgcopy_job_set_bandwidth_limit(j, limit);
  } else if (strcmp(method, "replace_remote_prefix") == 0) {
    *hr = bgcopy_job_replace_remote_prefix(j, str_at(args, 0), str_at(args, 1), &n);
    if (*hr == BGCOPY_S_OK) *v = json_integer(n);
  } else if (strcmp(method, "set_client_certificate") == 0) {
    *hr = bgcopy_job_set_client_certificate(j, str_at(args, 0), str_at(args, 1));
  } else if (strcmp(method, "remove_client_certificate") == 0) {
    *hr = bgcopy_job_remove_client_certificate(j);
  } else if (strcmp(method, "set_custom_headers") == 0) {
    json_t *list = json_array_get(args, 0);
    size_t nl = json_array_size(list);
    const char *lines[64];
    if (nl > 64) return fail(r, "too many header lines for the runner");
    for (size_t k = 0; k < nl; k++) lines[k] = json_string_value(json_array_get(list, k));
    *hr = bgcopy_job_set_custom_headers(j, nl ? lines : NULL, nl);
  } else if (strcmp(method, "get_custom_headers") == 0) {
    char **lines = NULL;
    size_t nl = 0;
    *hr = bgcopy_job_get_custom_headers(j, &lines, &nl);
    if (*hr == BGCOPY_S_OK) {
      *v = json_array();
      for (size_t k = 0; k < nl; k++) json_array_append_new(*v, json_string(lines[k]));
      bgcopy_string_array_free(lines, nl);
    }
  } else if (strcmp(method, "make_custom_headers_write_only") == 0) {
    *hr = bgcopy_job_make_custom_headers_write_only(j);
  } else if (strcmp(method, "set_security_flags") == 0) {
    if (u32_at(r, args, 0, method, &n)) return -1;
    *hr = bgcopy_job_set_security_flags(j, n);
  } else if (strcmp(method, "get_security_flags") == 0) {
    *hr = bgcopy_job_get_security_flags(j, &n);
    if (*hr == BGCOPY_S_OK) *v = json_integer(n);
  } else if (strcmp(method, "set_proxy_settings") == 0) {
    const char *u = str_at(args, 0);
    uint32_t usage = strcmp(u, "PRECONFIG") == 0  ? BGCOPY_PROXY_USAGE_PRECONFIG
                     : strcmp(u, "NO_PROXY") == 0 ? BGCOPY_PROXY_USAGE_NO_PROXY
                     : strcmp(u, "OVERRIDE") == 0 ? BGCOPY_PROXY_USAGE_OVERRIDE
                                                  : 99;
    if (usage == 99) return fail(r, "bad proxy usage name");
    *hr = bgcopy_job_set_proxy_settings(j, usage, str_at(args, 1), str_at(args, 2));
  } else if (strcmp(method, "get_proxy_settings") == 0) {
    bgcopy_proxy_usage usage;
    char *proxy = NULL, *bypass = NULL;
    *hr = bgcopy_job_get_proxy_settings(j, &usage, &proxy, &bypass);
    if (*hr == BGCOPY_S_OK) {
      static const char *USAGES[] = {"PRECONFIG", "NO_PROXY", "OVERRIDE"};
      *v = json_pack("{s:s, s:s, s:s}", "usage", usage < 3 ? USAGES[usage] : "?", "proxy",
                     proxy ? proxy : "", "bypass", bypass ? bypass : "");
      bgcopy_string_free(proxy);
      bgcopy_string_free(bypass);
    }
  } else if (strcmp(method, "set_remote_name") == 0 || strcmp(method, "set_expected_hash") == 0 ||
             strcmp(method, "get_final_url") == 0 || strcmp(method, "get_temporary_name") == 0 ||
             strcmp(method, "get_expected_hash") == 0 ||
             strcmp(method, "set_validation_state") == 0 ||
             strcmp(method, "get_validation_state") == 0 ||
             strcmp(method, "get_response_headers") == 0) {
    if (u32_at(r, args, 0, method, &n)) return -1;
    bgcopy_file **files = NULL;
    size_t nf = 0;
    *hr = bgcopy_job_enum_files(j, &files, &nf);
    if (*hr == BGCOPY_S_OK) {
      if (n >= nf) {
        bgcopy_file_array_free(files, nf);
        return fail(r, "no file %u", n);
      }
      bgcopy_file *f = files[n];
      if (strcmp(method, "set_remote_name") == 0) {
        *hr = bgcopy_file_set_remote_name(f, str_at(args, 1));
      } else if (strcmp(method, "get_final_url") == 0 || strcmp(method, "get_temporary_name") == 0) {
        char *s = NULL;
        *hr = strcmp(method, "get_final_url") == 0 ? bgcopy_file_get_final_url(f, &s)
                                                   : bgcopy_file_get_temporary_name(f, &s);
        if (*hr == BGCOPY_S_OK) *v = s ? json_string(s) : json_null();
        bgcopy_string_free(s);
      } else if (strcmp(method, "set_expected_hash") == 0) {
        *hr = bgcopy_file_set_expected_hash(f, str_at(args, 1), str_at(args, 2));
      } else if (strcmp(method, "get_expected_hash") == 0) {
        char *algo = NULL, *hex = NULL;
        *hr = bgcopy_file_get_expected_hash(f, &algo, &hex);
        if (*hr == BGCOPY_S_OK) *v = algo ? json_pack("[s, s]", algo, hex) : json_null();
        bgcopy_string_free(algo);
        bgcopy_string_free(hex);
      } else if (strcmp(method, "set_validation_state") == 0) {
        *hr = bgcopy_file_set_validation_state(f, json_is_true(json_array_get(args, 1)));
      } else if (strcmp(method, "get_validation_state") == 0) {
        int valid = 0;
        *hr = bgcopy_file_get_validation_state(f, &valid);
        if (*hr == BGCOPY_S_OK) *v = json_boolean(valid);
      } else {
        char **lines = NULL;
        size_t nl = 0;
        *hr = bgcopy_file_get_response_headers(f, &lines, &nl);
        if (*hr == BGCOPY_S_OK) {
          size_t len = 1;
          for (size_t k = 0; k < nl; k++) len += strlen(lines[k]) + 1;
          char *joined = calloc(len, 1);
          for (size_t k = 0; k < nl; k++) {
            if (k) strcat(joined, "\n");
            strcat(joined, lines[k]);
          }
          *v = json_string(joined);
          free(joined);
          bgcopy_string_array_free(lines, nl);
        }
      }
      bgcopy_file_array_free(files, nf);
    }
  } else if (strcmp(method, "wait") == 0) {
    json_t *t = json_array_get(args, 0);
    uint32_t ms = json_is_integer(t) ? (uint32_t)json_integer_value(t) : 30000;
    bgcopy_job_state st;
    *hr = bgcopy_job_wait(j, ms, &st);
    if (*hr == BGCOPY_S_OK) *v = json_string(name_of(STATE_NAMES, COUNT(STATE_NAMES), st));
  } else {
    return fail(r, "unknown job method %s", method);
  }
  (void)step;
  return 0;
}

static int open_manager(run *r) {
  int32_t hr = bgcopy_manager_open_with(r->state_dir, &r->opts, &r->m);
  if (hr != BGCOPY_S_OK) return fail(r, "open: %s", bgcopy_last_error_message());
  return 0;
}

static void close_manager(run *r) {
  if (r->m) {
    bgcopy_manager_close(r->m);
    bgcopy_manager_release(r->m);
    r->m = NULL;
  }
}

static int count_matches(json_t *spec, unsigned n) {
  if (json_is_integer(spec)) return (json_int_t)n == json_integer_value(spec);
  const char *s = json_string_value(spec);
  if (!s) return 0;
  if (strncmp(s, ">=", 2) == 0) return n >= (unsigned)atoi(s + 2);
  if (strncmp(s, "<=", 2) == 0) return n <= (unsigned)atoi(s + 2);
  return n == (unsigned)atoi(s);
}

static int expect_file(run *r, json_t *step) {
  const char *path = json_string_value(json_object_get(step, "path"));
  if (!path) return fail(r, "expect_file needs path");
  json_t *ex = json_object_get(step, "exists");
  int want = ex ? json_is_true(ex) : 1;
  struct stat st;
  int exists = stat(path, &st) == 0;
  if (exists != want) return fail(r, "%s exists: %d, wanted %d", path, exists, want);
  json_t *size = json_object_get(step, "size");
  if (!json_is_integer(size)) return 0;
  uint64_t n = (uint64_t)json_integer_value(size);
  unsigned version = (unsigned)json_integer_value(json_object_get(step, "version"));
  if ((uint64_t)st.st_size != n)
    return fail(r, "%s has %lld bytes, wanted %llu", path, (long long)st.st_size,
                (unsigned long long)n);
  FILE *f = fopen(path, "rb");
  if (!f) return fail(r, "open %s", path);
  unsigned char chunk[65536];
  uint64_t off = 0;
  size_t got;
  int rc = 0;
  while (rc == 0 && (got = fread(chunk, 1, sizeof chunk, f)) > 0) {
    for (size_t i = 0; i < got; i++, off++)
      if (chunk[i] != content_byte(off, version)) {
        rc = fail(r, "%s differs at byte %llu", path, (unsigned long long)off);
        break;
      }
  }
  fclose(f);
  return rc;
}

static int expect_origin(run *r, json_t *step) {
  const char *name = json_string_value(json_object_get(step, "name"));
  if (!name) return fail(r, "expect_origin needs name");
  json_t *stats = origin_stats(r->o, name);
  if (!stats) return fail(r, "origin stats for %s failed", name);
  int rc = 0;
  char *text = dump(stats);
  json_t *req = json_object_get(step, "requests");
  json_t *max = json_object_get(step, "bytes_sent_max");
  json_t *ranges = json_object_get(step, "range_requests");
  if (json_is_integer(req) &&
      json_integer_value(json_object_get(stats, "requests")) != json_integer_value(req))
    rc = fail(r, "origin %s: %s, wanted %lld requests", name, text, json_integer_value(req));
  else if (json_is_integer(max) &&
           json_integer_value(json_object_get(stats, "bytes_sent")) > json_integer_value(max))
    rc = fail(r, "origin %s: %s, wanted at most %lld bytes sent", name, text,
              json_integer_value(max));
  else if (json_is_integer(ranges)) {
    json_int_t k = 0;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(stats, "ranges"), i, x) if (json_string_length(x) > 0) k++;
    if (k != json_integer_value(ranges))
      rc = fail(r, "origin %s: %s, wanted %lld range requests", name, text,
                json_integer_value(ranges));
  }
  json_t *min_ranges = json_object_get(step, "min_range_requests");
  if (rc == 0 && json_is_integer(min_ranges)) {
    json_int_t k = 0;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(stats, "ranges"), i, x) if (json_string_length(x) > 0) k++;
    if (k < json_integer_value(min_ranges))
      rc = fail(r, "origin %s: %s, wanted at least %lld range requests", name, text,
                json_integer_value(min_ranges));
  }
  json_t *want_headers = json_object_get(step, "headers");
  if (rc == 0 && want_headers) {
    /* Each counted request's header lines, joined with "\n". */
    json_t *got = json_array();
    size_t i;
    json_t *req;
    json_array_foreach(json_object_get(stats, "headers"), i, req) {
      size_t len = 1, k;
      json_t *line;
      json_array_foreach(req, k, line) len += json_string_length(line) + 1;
      char *joined = calloc(len, 1);
      json_array_foreach(req, k, line) {
        if (k) strcat(joined, "\n");
        strcat(joined, json_string_value(line));
      }
      json_array_append_new(got, json_string(joined));
      free(joined);
    }
    if (!matches(want_headers, got)) rc = fail(r, "origin %s: %s, wanted these headers", name, text);
    json_decref(got);
  }
  json_t *if_ranges = json_object_get(step, "if_ranges");
  if (rc == 0 && if_ranges && !matches(if_ranges, json_object_get(stats, "if_ranges")))
    rc = fail(r, "origin %s: %s, wanted these If-Range values", name, text);
  json_t *from = json_object_get(step, "range_from_min");
  if (rc == 0 && json_is_integer(from)) {
    size_t i, k = 0;
    json_t *x;
    json_array_foreach(json_object_get(stats, "range_starts"), i, x) {
      if (!json_is_integer(x)) continue;
      k++;
      if (json_integer_value(x) < json_integer_value(from)) k = (size_t)-1;
      if (k == (size_t)-1) break;
    }
    if (k == 0 || k == (size_t)-1)
      rc = fail(r, "origin %s: %s, wanted ranges starting at >= %lld", name, text,
                json_integer_value(from));
  }
  json_t *gap = json_object_get(step, "min_gap_ms");
  if (rc == 0 && json_is_integer(gap)) {
    json_t *at = json_object_get(stats, "at_ms");
    for (size_t i = 1; i < json_array_size(at) && rc == 0; i++) {
      json_int_t d = json_integer_value(json_array_get(at, i)) -
                     json_integer_value(json_array_get(at, i - 1));
      if (d < json_integer_value(gap))
        rc = fail(r, "origin %s: requests %lld ms apart, wanted >= %lld", name, d,
                  json_integer_value(gap));
    }
  }
  free(text);
  json_decref(stats);
  return rc;
}

/* The first count (or inner result) that does not match, into bad; 0 when all do. */
static int notification_mismatch(recorder *rec, json_t *step, char *bad, size_t size) {
  bad[0] = 0;
  for (int k = 0; k < K_COUNT; k++) {
    json_t *spec = json_object_get(step, KIND_NAMES[k]);
    if (!spec) continue;
    unsigned n = recorder_count(rec, k);
    if (!count_matches(spec, n)) {
      char *want = dump(spec);
      snprintf(bad, size, "%s: %u, wanted %s", KIND_NAMES[k], n, want);
      free(want);
      return 1;
    }
  }
  json_t *inner = json_object_get(step, "inner_results");
  if (inner) {
    pthread_mutex_lock(&rec->mu);
    if (!json_equal(inner, rec->inner_results)) {
      char *g = dump(rec->inner_results), *w = dump(inner);
      snprintf(bad, size, "inner results %s, wanted %s", g, w);
      free(g);
      free(w);
    }
    pthread_mutex_unlock(&rec->mu);
  }
  return bad[0] != 0;
}

static int expect_notifications(run *r, json_t *step, double timeout) {
  const char *name = json_string_value(json_object_get(step, "job"));
  alias *a = name ? find_alias(r, name) : NULL;
  if (!a || !a->rec) return fail(r, "no recorder on job %s", name ? name : "?");
  double start = now_s();
  char bad[512];
  while (notification_mismatch(a->rec, step, bad, sizeof bad)) {
    if (now_s() - start > timeout) return fail(r, "%s", bad);
    sleep_ms(20);
  }
  /* Exact counts must also stay put: an extra delivery shows up within a coalescing
   * interval. */
  int exact = 0;
  for (int k = 0; k < K_COUNT; k++) {
    json_t *spec = json_object_get(step, KIND_NAMES[k]);
    if (json_is_integer(spec) ||
        (json_is_string(spec) && strncmp(json_string_value(spec), ">=", 2) != 0 &&
         strncmp(json_string_value(spec), "<=", 2) != 0))
      exact = 1;
  }
  if (exact) {
    json_t *st = json_object_get(step, "stable_ms");
    unsigned stable = json_is_integer(st) ? (unsigned)json_integer_value(st) : 600;
    sleep_ms(stable);
    if (notification_mismatch(a->rec, step, bad, sizeof bad))
      return fail(r, "%s (%u ms after the counts matched)", bad, stable);
  }
  return 0;
}

static saved_times *find_saved(run *r, json_t *name) {
  const char *n = json_string_value(name);
  for (int i = 0; n && i < r->nsaved; i++)
    if (strcmp(r->saved[i].name, n) == 0) return &r->saved[i];
  return NULL;
}

static int expect_times(run *r, alias *a, json_t *step) {
  if (!a) return fail(r, "expect_times needs a job");
  bgcopy_job_times t;
  if (bgcopy_job_get_times(a->job, &t) != BGCOPY_S_OK)
    return fail(r, "get_times: %s", bgcopy_last_error_message());
  char got[160];
  snprintf(got, sizeof got, "creation %lld, modification %lld, completion %lld",
           (long long)t.creation_time, (long long)t.modification_time,
           (long long)t.transfer_completion_time);
  json_t *v;
  if (json_is_integer(v = json_object_get(step, "creation_within_ms")) &&
      llabs((long long)(wall_ms() - t.creation_time)) > json_integer_value(v))
    return fail(r, "%s: creation not within %lld ms of now", got, json_integer_value(v));
  if ((v = json_object_get(step, "modification_after"))) {
    saved_times *s = find_saved(r, v);
    if (!s) return fail(r, "no times saved under that name");
    if (t.modification_time <= s->modification)
      return fail(r, "%s: modification not after %lld", got, (long long)s->modification);
  }
  if ((v = json_object_get(step, "completion"))) {
    if (json_is_null(v) && t.transfer_completion_time != 0)
      return fail(r, "%s: completion set, wanted unset", got);
    if (json_is_string(v) && t.transfer_completion_time == 0)
      return fail(r, "%s: completion unset, wanted set", got);
  }
  if ((v = json_object_get(step, "completion_after"))) {
    saved_times *s = find_saved(r, v);
    if (!s) return fail(r, "no times saved under that name");
    if (t.transfer_completion_time == 0 || t.transfer_completion_time <= s->modification)
      return fail(r, "%s: completion not after %lld", got, (long long)s->modification);
  }
  if (json_is_true(json_object_get(step, "completion_is_modification")) &&
      t.transfer_completion_time != t.modification_time)
    return fail(r, "%s: completion is not the modification time", got);
  if ((v = json_object_get(step, "save"))) {
    saved_times *s = find_saved(r, v);
    if (!s) {
      if (r->nsaved == MAX_SAVED) return fail(r, "too many saved times");
      s = &r->saved[r->nsaved++];
      snprintf(s->name, sizeof s->name, "%s", json_string_value(v));
    }
    s->creation = t.creation_time;
    s->modification = t.modification_time;
    s->completion = t.transfer_completion_time;
  }
  return 0;
}

static int manager_step(run *r, json_t *step, json_t *args, const char *expect) {
  const char *method = json_string_value(json_object_get(step, "method"));
  if (!method) return fail(r, "manager needs \"method\"");
  if (!r->m) return fail(r, "manager is closed");
  json_t *want = json_object_get(step, "result");
  int32_t hr;
  json_t *v = NULL;
  if (strcmp(method, "get_job") == 0) {
    bgcopy_job *j = NULL;
    hr = bgcopy_manager_get_job(r->m, str_at(args, 0), &j);
    if (hr == BGCOPY_S_OK) {
      char *id = job_id(j);
      v = string_result(id);
      bgcopy_job_release(j);
    }
  } else if (strcmp(method, "enum_jobs") == 0) {
    bgcopy_job **jobs = NULL;
    size_t count = 0;
    hr = bgcopy_manager_enum_jobs(r->m, &jobs, &count);
    if (hr == BGCOPY_S_OK) {
      v = json_array();
      for (size_t i = 0; i < count; i++) {
        char *id = job_id(jobs[i]);
        const char *label = id;
        for (int k = 0; k < r->njobs; k++) {
          char *other = job_id(r->jobs[k].job);
          if (other && id && strcmp(other, id) == 0) label = r->jobs[k].name;
          bgcopy_string_free(other);
        }
        json_array_append_new(v, json_string(label ? label : ""));
        bgcopy_string_free(id);
      }
      bgcopy_job_array_free(jobs, count);
    }
  } else if (strcmp(method, "close") == 0) {
    hr = bgcopy_manager_close(r->m);
    bgcopy_manager_release(r->m);
    r->m = NULL;
  } else if (strcmp(method, "set_background_bandwidth_limit") == 0) {
    uint64_t limit = 0;
    if (u64_at(r, args, 0, method, &limit)) return -1;
    hr = bgcopy_manager_set_background_bandwidth_limit(r->m, limit);
  } else if (strcmp(method, "get_background_bandwidth_limit") == 0) {
    uint64_t limit = 0;
    hr = bgcopy_manager_get_background_bandwidth_limit(r->m, &limit);
    if (hr == BGCOPY_S_OK) v = json_integer((json_int_t)limit);
  } else if (strcmp(method, "reopen") == 0) {
    close_manager(r);
    if (open_manager(r)) return -1;
    /* Fresh handles for every job the new manager still knows. */
    for (int k = 0; k < r->njobs; k++) {
      char *id = job_id(r->jobs[k].job);
      bgcopy_job *fresh = NULL;
      if (id && bgcopy_manager_get_job(r->m, id, &fresh) == BGCOPY_S_OK) {
        bgcopy_job_release(r->jobs[k].job);
        r->jobs[k].job = fresh;
      }
      bgcopy_string_free(id);
    }
    hr = BGCOPY_S_OK;
  } else {
    return fail(r, "unknown manager method %s", method);
  }
  return finish(r, method, hr, v, expect, want);
}

static int step(run *r, json_t *raw) {
  if (has_nul(raw)) {
    /* Not expressible through NUL-terminated C strings (see the top of this file). */
    const char *expect = json_string_value(json_object_get(raw, "expect"));
    if (!expect || strcmp(expect, "INVALID_ARG") != 0)
      return fail(r, "a string with a NUL inside cannot be passed in C, and the step does not expect INVALID_ARG");
    r->not_expressible++;
    return 0;
  }
  json_t *st = subst(r, raw);
  int rc = 0;
  const char *op = json_string_value(json_object_get(st, "op"));
  json_t *op_keys = op ? json_object_get(json_object_get(SCHEMA, "ops"), op) : NULL;
  if (op && !op_keys) {
    json_decref(st);
    return fail(r, "unknown op %s", op);
  }
  if (op && check_keys(r, op, st, json_object_get(SCHEMA, "step"), op_keys)) {
    json_decref(st);
    return -1;
  }
  const char *expect = json_string_value(json_object_get(st, "expect"));
  if (!expect) expect = "OK";
  json_t *args = json_object_get(st, "args");
  json_t *t = json_object_get(st, "timeout_ms");
  double timeout = json_is_integer(t) ? (double)json_integer_value(t) / 1000.0 : 30.0;
  const char *job = json_string_value(json_object_get(st, "job"));
  alias *a = job ? find_alias(r, job) : NULL;
  if (!op) {
    rc = fail(r, "step needs \"op\"");
  } else if (strcmp(op, "create") == 0) {
    const char *name = json_string_value(json_object_get(st, "name"));
    const char *type = json_string_value(json_object_get(st, "type"));
    uint32_t ty = 0;
    bgcopy_job *j = NULL;
    if (!job) {
      rc = fail(r, "create needs \"job\"");
    } else if (value_of(TYPE_NAMES, COUNT(TYPE_NAMES), type ? type : "DOWNLOAD", &ty) != 0) {
      rc = fail(r, "bad type");
    } else if (!r->m) {
      rc = fail(r, "manager is closed");
    } else {
      int32_t hr = bgcopy_manager_create_job(r->m, name ? name : job, ty, &j);
      rc = finish(r, "create", hr, NULL, expect, NULL);
      if (hr == BGCOPY_S_OK) {
        if (!a && r->njobs < MAX_JOBS) {
          a = &r->jobs[r->njobs++];
          snprintf(a->name, sizeof a->name, "%s", job);
        }
        if (a) {
          bgcopy_job_release(a->job);
          a->job = j;
        } else {
          bgcopy_job_release(j);
          rc = fail(r, "too many jobs");
        }
      }
    }
  } else if (strcmp(op, "call") == 0) {
    const char *method = json_string_value(json_object_get(st, "method"));
    int32_t hr = 0;
    json_t *v = NULL;
    if (!a) rc = fail(r, "unknown job alias %s", job ? job : "(none)");
    else if (!method) rc = fail(r, "call needs \"method\"");
    else if ((rc = call(r, a, method, args, st, &hr, &v)) == 0)
      rc = finish(r, method, hr, v, expect, json_object_get(st, "result"));
  } else if (strcmp(op, "manager") == 0) {
    rc = manager_step(r, st, args, expect);
  } else if (strcmp(op, "wait_state") == 0) {
    const char *want = json_string_value(json_object_get(st, "state"));
    double start = now_s();
    if (!a || !want) rc = fail(r, "wait_state needs job and state");
    while (rc == 0) {
      bgcopy_job_state s;
      if (bgcopy_job_get_state(a->job, &s) != BGCOPY_S_OK) {
        rc = fail(r, "get_state: %s", bgcopy_last_error_message());
        break;
      }
      if (strcmp(name_of(STATE_NAMES, COUNT(STATE_NAMES), s), want) == 0) break;
      if (now_s() - start > timeout) {
        bgcopy_error *e = NULL;
        char *d = NULL;
        if (bgcopy_job_get_error(a->job, &e) == BGCOPY_S_OK) bgcopy_error_get_error_description(e, &d);
        rc = fail(r, "state %s after %.1fs, wanted %s (%s)", name_of(STATE_NAMES, COUNT(STATE_NAMES), s),
                  timeout, want, d ? d : "");
        bgcopy_string_free(d);
        bgcopy_error_release(e);
        break;
      }
      sleep_ms(10);
    }
  } else if (strcmp(op, "wait_bytes") == 0) {
    json_t *least = json_object_get(st, "at_least");
    double start = now_s();
    if (!a || !json_is_integer(least)) rc = fail(r, "wait_bytes needs job and at_least");
    while (rc == 0) {
      bgcopy_job_progress p;
      if (bgcopy_job_get_progress(a->job, &p) != BGCOPY_S_OK) {
        rc = fail(r, "get_progress: %s", bgcopy_last_error_message());
        break;
      }
      if (p.bytes_transferred >= (uint64_t)json_integer_value(least)) break;
      if (now_s() - start > timeout) {
        rc = fail(r, "%llu bytes after %.1fs, wanted %lld", (unsigned long long)p.bytes_transferred,
                  timeout, json_integer_value(least));
        break;
      }
      sleep_ms(5);
    }
  } else if (strcmp(op, "expect_file") == 0) {
    rc = expect_file(r, st);
  } else if (strcmp(op, "expect_temp_files") == 0) {
    int want = (int)json_integer_value(json_object_get(st, "count"));
    int n = count_temp_files(r->dir);
    if (n != want) rc = fail(r, "%d temp files, wanted %d", n, want);
  } else if (strcmp(op, "expect_notifications") == 0) {
    rc = expect_notifications(r, st, timeout);
  } else if (strcmp(op, "expect_origin") == 0) {
    rc = expect_origin(r, st);
  } else if (strcmp(op, "measure_bytes") == 0) {
    bgcopy_job_progress p1, p2;
    json_int_t lo = json_integer_value(json_object_get(st, "min"));
    json_int_t hi = json_integer_value(json_object_get(st, "max"));
    unsigned ms = (unsigned)json_integer_value(json_object_get(st, "ms"));
    if (!a) {
      rc = fail(r, "measure_bytes needs a job");
    } else if (bgcopy_job_get_progress(a->job, &p1) != BGCOPY_S_OK) {
      rc = fail(r, "get_progress: %s", bgcopy_last_error_message());
    } else {
      sleep_ms(ms);
      if (bgcopy_job_get_progress(a->job, &p2) != BGCOPY_S_OK) {
        rc = fail(r, "get_progress: %s", bgcopy_last_error_message());
      } else {
        json_int_t moved = (json_int_t)(p2.bytes_transferred - p1.bytes_transferred);
        if (moved < lo || moved > hi)
          rc = fail(r, "%lld bytes in %u ms, wanted %lld..%lld", moved, ms, lo, hi);
      }
    }
  } else if (strcmp(op, "expect_times") == 0) {
    rc = expect_times(r, a, st);
  } else if (strcmp(op, "proxy") == 0) {
    const char *kind = json_string_value(json_object_get(st, "kind"));
    const char *auth = json_string_value(json_object_get(st, "auth"));
    kind = kind ? kind : "http";
    char target[256];
    snprintf(target, sizeof target, "/proxy?kind=%s%s%s", kind, auth ? "&auth=" : "",
             auth ? auth : "");
    json_t *v = origin_get_json(r->o, target);
    json_int_t port = v ? json_integer_value(json_object_get(v, "port")) : 0;
    if (port <= 0) {
      rc = fail(r, "the origin started no %s proxy", kind);
    } else {
      snprintf(r->proxy, sizeof r->proxy, "%s://127.0.0.1:%lld",
               strcmp(kind, "socks5") == 0 ? "socks5h" : "http", (long long)port);
      r->proxy_id = (long long)json_integer_value(json_object_get(v, "id"));
    }
    json_decref(v);
  } else if (strcmp(op, "expect_proxy") == 0) {
    char target[64];
    snprintf(target, sizeof target, "/proxylog/%lld", r->proxy_id);
    json_t *log = r->proxy[0] ? origin_get_json(r->o, target) : NULL;
    if (!log) {
      rc = fail(r, "expect_proxy: no proxy log");
    } else {
      const char *keys[] = {"connections", "established"};
      for (size_t k = 0; k < 2 && rc == 0; k++) {
        json_t *want = json_object_get(st, keys[k]);
        json_int_t got = json_integer_value(json_object_get(log, keys[k]));
        if (json_is_integer(want) && json_integer_value(want) != got)
          rc = fail(r, "proxy %s: %lld, wanted %lld", keys[k], (long long)got,
                    (long long)json_integer_value(want));
      }
      json_decref(log);
    }
  } else if (strcmp(op, "late_origin") == 0) {
    json_t *ms = json_object_get(st, "ms");
    int port = origin_late(r->o, json_is_integer(ms) ? (unsigned)json_integer_value(ms) : 2000);
    if (port < 0) rc = fail(r, "the origin gave no late port");
    else snprintf(r->late, sizeof r->late, "http://127.0.0.1:%d", port);
  } else if (strcmp(op, "mkdir") == 0) {
    const char *path = json_string_value(json_object_get(st, "path"));
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path ? path : "");
    if (!path || strchr(path, '\'') || system(cmd) != 0) rc = fail(r, "mkdir %s failed", path);
  } else if (strcmp(op, "remove") == 0) {
    const char *path = json_string_value(json_object_get(st, "path"));
    struct stat sb;
    if (!path || lstat(path, &sb) != 0) rc = fail(r, "remove: %s does not exist", path);
    else remove_tree(path);
  } else if (strcmp(op, "sleep") == 0) {
    sleep_ms((unsigned)json_integer_value(json_object_get(st, "ms")));
  } else {
    rc = fail(r, "unknown op %s", op);
  }
  json_decref(st);
  return rc;
}

static void options_from(run *r, json_t *spec) {
  bgcopy_manager_options_init(&r->opts);
  json_t *v;
#define U32(key, field) \
  if (json_is_integer(v = json_object_get(spec, key))) r->opts.field = (uint32_t)json_integer_value(v)
#define U64(key, field) \
  if (json_is_integer(v = json_object_get(spec, key))) r->opts.field = (uint64_t)json_integer_value(v)
  U32("background_slots", background_slots);
  U32("connections_per_job", connections_per_job);
  U32("max_connections_per_file", max_connections_per_file);
  U32("connections_per_host", connections_per_host);
  U32("read_timeout_ms", read_timeout_ms);
  U32("notify_interval_ms", notify_interval_ms);
  U32("time_slice_ms", time_slice_ms);
  U32("checkpoint_interval_ms", checkpoint_interval_ms);
  U64("checkpoint_bytes", checkpoint_bytes);
  U32("max_redirects", max_redirects);
  U64("background_bandwidth_limit", background_bandwidth_limit);
#undef U32
#undef U64
  if (json_is_true(json_object_get(spec, "trust_origin_cert"))) {
    r->certs[0] = r->o->cert;
    r->opts.tls_root_certs = r->certs;
    r->opts.tls_root_certs_count = 1;
  }
}

typedef struct job_spec {
  const origin *o;
  char path[PATH_MAX];
  char name[256];
  int ok;
  double took;
  char err[2600];
  int not_expressible;
} job_spec;

/* At most $BGCOPY_SCENARIO_JOBS scenarios at once (default 4). */
static pthread_mutex_t slots_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slots_cv = PTHREAD_COND_INITIALIZER;
static int slots_free = 4;

static void *run_scenario(void *arg) {
  job_spec *js = arg;
  pthread_mutex_lock(&slots_mu);
  while (slots_free == 0) pthread_cond_wait(&slots_cv, &slots_mu);
  slots_free--;
  pthread_mutex_unlock(&slots_mu);
  double start = now_s();
  json_error_t jerr;
  json_t *sc = json_load_file(js->path, JSON_ALLOW_NUL, &jerr);
  if (!sc) {
    snprintf(js->err, sizeof js->err, "bad JSON: %s (line %d)", jerr.text, jerr.line);
    return NULL;
  }
  run *r = calloc(1, sizeof *r);
  r->o = js->o;
  r->name = js->name;
  if (make_temp_dir(r->dir, sizeof r->dir, js->name) != 0) {
    snprintf(js->err, sizeof js->err, "cannot make a temporary directory");
  } else {
    snprintf(r->state_dir, sizeof r->state_dir, "%s/state", r->dir);
    options_from(r, json_object_get(sc, "manager"));
    json_t *steps = json_object_get(sc, "steps");
    if (check_keys(r, "scenario", sc, json_object_get(SCHEMA, "scenario"), NULL) ||
        check_keys(r, "manager", json_object_get(sc, "manager"), json_object_get(SCHEMA, "manager"),
                   NULL)) {
      snprintf(js->err, sizeof js->err, "%s", r->err);
    } else if (!json_is_array(steps)) {
      snprintf(js->err, sizeof js->err, "scenario needs \"steps\"");
    } else if (open_manager(r) != 0) {
      snprintf(js->err, sizeof js->err, "%s", r->err);
    } else {
      js->ok = 1;
      size_t i;
      json_t *s;
      json_array_foreach(steps, i, s) {
        if (step(r, s) != 0) {
          char *text = dump(s);
          snprintf(js->err, sizeof js->err, "step %zu %.300s: %s", i + 1, text, r->err);
          free(text);
          js->ok = 0;
          break;
        }
      }
    }
    close_manager(r);
    for (int k = 0; k < r->njobs; k++) {
      bgcopy_job_release(r->jobs[k].job);
      recorder_unref(r->jobs[k].rec);
    }
    js->not_expressible = r->not_expressible;
    remove_tree(r->dir);
  }
  free(r);
  json_decref(sc);
  js->took = now_s() - start;
  pthread_mutex_lock(&slots_mu);
  slots_free++;
  pthread_cond_signal(&slots_cv);
  pthread_mutex_unlock(&slots_mu);
  return NULL;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int in_list(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; p && *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && strncmp(p, name, n) == 0) return 1;
    p = end ? end + 1 : NULL;
  }
  return 0;
}

static int selected(const char *name, int argc, char **argv) {
  const char *skip = getenv("BGCOPY_SCENARIO_SKIP");
  if (skip && in_list(skip, name)) return 0;
  if (argc > 2) {
    for (int i = 2; i < argc; i++)
      if (strcmp(argv[i], name) == 0) return 1;
    return 0;
  }
  const char *env = getenv("BGCOPY_SCENARIO");
  return !env || !*env || in_list(env, name);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "tests/scenarios";
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "cannot open %s\n", dir);
    return 2;
  }
  char *names[256];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 256) {
    size_t len = strlen(e->d_name);
    if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) {
      char *name = strndup(e->d_name, len - 5);
      if (selected(name, argc, argv)) names[n++] = name;
      else free(name);
    }
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof names[0], by_name);
  if (n == 0) {
    fprintf(stderr, "no scenarios selected in %s\n", dir);
    printf("RESULT passed=0 failed=1\n");
    return 1;
  }
  const char *jobs = getenv("BGCOPY_SCENARIO_JOBS");
  if (jobs && atoi(jobs) > 0) slots_free = atoi(jobs);
  char schema_path[PATH_MAX];
  snprintf(schema_path, sizeof schema_path, "%s/../scenario_schema.json", dir);
  json_error_t serr;
  SCHEMA = json_load_file(schema_path, 0, &serr);
  if (!SCHEMA) {
    fprintf(stderr, "cannot read %s: %s\n", schema_path, serr.text);
    printf("RESULT passed=0 failed=%d\n", n);
    return 1;
  }
  origin o;
  if (origin_start(&o) != 0) {
    printf("RESULT passed=0 failed=%d\n", n);
    return 1;
  }
  job_spec *specs = calloc((size_t)n, sizeof *specs);
  pthread_t *threads = calloc((size_t)n, sizeof *threads);
  for (int i = 0; i < n; i++) {
    specs[i].o = &o;
    snprintf(specs[i].path, sizeof specs[i].path, "%s/%s.json", dir, names[i]);
    snprintf(specs[i].name, sizeof specs[i].name, "%s", names[i]);
    pthread_create(&threads[i], NULL, run_scenario, &specs[i]);
  }
  int passed = 0, failed = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(threads[i], NULL);
    if (specs[i].ok) {
      passed++;
      printf("scenario %s ... ok (%.1fs)", names[i], specs[i].took);
      if (specs[i].not_expressible)
        printf(" [%d step(s) with a NUL inside a string: not expressible in C]",
               specs[i].not_expressible);
      printf("\n");
    } else {
      failed++;
      printf("scenario %s ... FAILED (%.1fs): %s\n", names[i], specs[i].took, specs[i].err);
    }
    free(names[i]);
  }
  origin_stop(&o);
  json_decref(SCHEMA);
  free(specs);
  free(threads);
  printf("RESULT passed=%d failed=%d\n", passed, failed);
  return failed ? 1 : 0;
}
