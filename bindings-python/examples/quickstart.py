"""bgcopy quick start: download two files with progress, handle an error.

    python quickstart.py [URL_A URL_B [OUT_DIR]]
"""

import sys
import tempfile
from pathlib import Path

import bgcopy


class Progress(bgcopy.CopyCallback):
    """Prints progress; called on a library thread."""

    def job_modification(self, job: bgcopy.CopyJob) -> None:
        p = job.get_progress()
        total = "?" if p.bytes_total == bgcopy.BYTES_UNKNOWN else p.bytes_total
        print(f"{job.get_state().name}: {p.bytes_transferred} / {total} bytes", flush=True)


def main() -> int:
    urls = sys.argv[1:3] or ["https://example.com/a.iso", "https://example.com/b.iso"]
    out = Path(sys.argv[3] if len(sys.argv) > 3 else tempfile.gettempdir())
    # None = the platform default ($BGCOPY_STATE_DIR, else ~/.local/share/bgcopy).
    with bgcopy.CopyManager.open(out / "bgcopy-state") as manager:
        job = manager.create_job("my download", priority=bgcopy.Priority.FOREGROUND,
                                 files=[(urls[0], out / "a.iso"), (urls[1], out / "b.iso")])
        job.notify_flags = bgcopy.NotifyFlags.DEFAULT | bgcopy.NotifyFlags.JOB_MODIFICATION
        job.set_notify_interface(Progress())
        job.resume()
        state = job.wait(timeout=3600)  # releases the GIL; or: await job.wait_async()
        if state is bgcopy.JobState.TRANSFERRED:
            job.complete()  # the files appear now, atomically
            print("done:", ", ".join(str(f.local_name) for f in job.enum_files()))
            return 0
        if state is bgcopy.JobState.ERROR:
            error = job.get_error()
            context, code = error.get_error()
            print(f"failed: {error.symbol} (0x{code:08X}, {context.name}): "
                  f"{error.get_error_description()}", file=sys.stderr)
            job.cancel()
            return 1
        print(f"still {state.name}; the job continues on the next open", file=sys.stderr)
        return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bgcopy.BgCopyError as e:  # bad input, a closed manager, a full disk...
        print(f"bgcopy: {e.symbol} (0x{e.code:08X}): {e.message}", file=sys.stderr)
        sys.exit(1)
