/* download.c - download files with bgcopy from C.
 *
 *   download [-s STATE_DIR] URL LOCAL_PATH [URL LOCAL_PATH ...]
 *
 * Creates a job, adds every (URL, absolute local path) pair, resumes it as a
 * FOREGROUND job, waits for it while printing its progress, and completes it (the
 * files appear then, atomically). Exit status 0 on success.
 * A job interrupted by Ctrl-C or a crash stays in the state directory and continues
 * on the next bgcopy_manager_open of that directory.
 *
 * Build: gcc -Wall -o download download.c $(pkg-config --cflags --libs bgcopy) */
#include <bgcopy.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, int32_t hr) {
  fprintf(stderr, "%s failed: 0x%08" PRIX32 ": %s\n", what, (uint32_t)hr,
          bgcopy_last_error_message());
  return 1;
}

static void print_progress(bgcopy_job *job) {
  bgcopy_job_progress p;
  if (bgcopy_job_get_progress(job, &p) != BGCOPY_S_OK) return;
  if (p.bytes_total == BGCOPY_BYTES_UNKNOWN)
    fprintf(stderr, "\r%" PRIu64 " bytes", p.bytes_transferred);
  else
    fprintf(stderr, "\r%" PRIu64 " / %" PRIu64 " bytes", p.bytes_transferred, p.bytes_total);
}

int main(int argc, char **argv) {
  const char *state_dir = NULL; /* NULL: the platform default */
  int first = 1;
  if (argc > 2 && strcmp(argv[1], "-s") == 0) {
    state_dir = argv[2];
    first = 3;
  }
  if (argc - first < 2 || (argc - first) % 2 != 0) {
    fprintf(stderr, "usage: %s [-s STATE_DIR] URL LOCAL_PATH [URL LOCAL_PATH ...]\n", argv[0]);
    return 2;
  }

  bgcopy_manager *manager = NULL;
  bgcopy_job *job = NULL;
  int32_t hr = bgcopy_manager_open(state_dir, &manager);
  if (BGCOPY_FAILED(hr)) return fail("bgcopy_manager_open", hr);
  hr = bgcopy_manager_create_job(manager, "download.c", BGCOPY_JOB_TYPE_DOWNLOAD, &job);
  if (BGCOPY_FAILED(hr)) {
    bgcopy_manager_release(manager);
    return fail("bgcopy_manager_create_job", hr);
  }

  int status = 1;
  for (int i = first; i + 1 < argc; i += 2) {
    hr = bgcopy_job_add_file(job, argv[i], argv[i + 1]);
    if (BGCOPY_FAILED(hr)) {
      fail("bgcopy_job_add_file", hr);
      bgcopy_job_cancel(job);
      goto done;
    }
  }

  if (BGCOPY_FAILED(hr = bgcopy_job_set_priority(job, BGCOPY_PRIORITY_FOREGROUND)) ||
      BGCOPY_FAILED(hr = bgcopy_job_resume(job))) {
    fail("starting the job", hr);
    goto done;
  }

  /* wait() returns at TRANSFERRED, ERROR, ACKNOWLEDGED or CANCELLED, or after the
   * timeout with the current state (TRANSIENT_ERROR jobs retry by themselves). */
  bgcopy_job_state state;
  do {
    hr = bgcopy_job_wait(job, 250, &state);
    print_progress(job);
  } while (BGCOPY_SUCCEEDED(hr) && state != BGCOPY_JOB_STATE_TRANSFERRED &&
           state != BGCOPY_JOB_STATE_ERROR && state != BGCOPY_JOB_STATE_ACKNOWLEDGED &&
           state != BGCOPY_JOB_STATE_CANCELLED);
  fprintf(stderr, "\n");
  if (BGCOPY_FAILED(hr)) {
    fail("bgcopy_job_wait", hr);
  } else if (state == BGCOPY_JOB_STATE_TRANSFERRED) {
    hr = bgcopy_job_complete(job); /* BGCOPY_S_OK, or BGCOPY_S_PARTIAL_COMPLETE */
    if (BGCOPY_FAILED(hr)) {
      fail("bgcopy_job_complete", hr);
    } else {
      char *id = NULL;
      bgcopy_job_get_id(job, &id);
      printf("job %s complete: %d file(s)\n", id ? id : "?", (argc - first) / 2);
      bgcopy_string_free(id);
      status = 0;
    }
  } else if (state == BGCOPY_JOB_STATE_ERROR) {
    bgcopy_error *error = NULL;
    bgcopy_error_context context;
    int32_t code;
    char *text = NULL;
    if (bgcopy_job_get_error(job, &error) == BGCOPY_S_OK &&
        bgcopy_error_get_error(error, &context, &code) == BGCOPY_S_OK &&
        bgcopy_error_get_error_description(error, &text) == BGCOPY_S_OK)
      fprintf(stderr, "transfer failed: 0x%08" PRIX32 ": %s\n", (uint32_t)code, text);
    bgcopy_string_free(text);
    bgcopy_error_release(error);
    bgcopy_job_cancel(job);
  } else {
    fprintf(stderr, "the job ended in state %u\n", state);
  }

done:
  bgcopy_job_release(job);
  bgcopy_manager_release(manager); /* closes the manager: its threads stop */
  return status;
}
