"""bgcopy: durable background HTTP(S) downloads with the Windows BITS job model.

Open a ``CopyManager`` on a state directory, create a ``CopyJob``, add files (a URL and
a local path each), ``resume()`` it and the library transfers it in the background
with priorities, progress, retries and notifications. Jobs survive crashes and
restarts; nothing appears at a local path until ``complete()``.

    import bgcopy

    with bgcopy.CopyManager.open("/tmp/bgcopy-state") as manager:
        job = manager.create_job("example")
        job.add_file("https://example.com/a.iso", "/tmp/a.iso")
        job.resume()
        if job.wait() == bgcopy.JobState.TRANSFERRED:
            job.complete()

For the common case one call does it all (it opens the manager, makes a job, waits,
completes, and on failure cancels the job and raises the typed error):

    paths = bgcopy.download(["https://example.com/a.iso"], "/tmp/downloads")

and ``for ev in job.watch()`` / ``async for ev in job.events()`` follow a job.

Every failure raises ``BgCopyError`` (``.code``, ``.symbol``, ``.kind``, ``.status``) or
one of its subclasses (``HttpError``, ``NetworkError``, ``LocalFileError``, …). The method names are the contract's (``get_state()``, ``set_priority()``);
properties (``job.state``, ``job.priority``) are extras on top.
"""

import atexit as _atexit

from ._types import (
    AuthScheme,
    AuthTarget,
    BYTES_UNKNOWN,
    BgCopyError,
    Completion,
    CopyCallback,
    EmptyError,
    ErrorContext,
    ErrorInformationUnavailableError,
    EventKind,
    FileNotAvailableError,
    HttpError,
    InvalidArgError,
    InvalidArgTypeError,
    InvalidStateError,
    JobEventKind,
    JobState,
    JobType,
    LocalFileError,
    LockedError,
    NetworkError,
    NotFoundError,
    NotifyFlags,
    ProxyUsage,
    SecurityFlags,
    Priority,
    ProtocolNotAvailableError,
    ServerError,
    StoreError,
    StringTooLongError,
    UnexpectedError,
    UnsupportedError,
    ValidationError,
    codes,
)
from ._bgcopy import (
    CopyError,
    CopyFile,
    CopyJob,
    CopyManager,
    Event,
    FileProgress,
    JobEvent,
    JobEvents,
    JobProgress,
    JobTimes,
    __version__,
    _close_all,
    default_state_dir,
)

from ._idioms import download, download_async

# Close every manager before the interpreter shuts down, so that no library thread
# calls into Python while it finalizes (and every state directory is flushed).
# The core's log records go to the `logging` logger "bgcopy" (see _logbridge); the
# bridge stops after the managers are closed (atexit runs handlers last-in first-out).
from . import _logbridge

_logbridge.start()
_atexit.register(_logbridge.stop)
_atexit.register(_close_all)

__all__ = [
    "AuthScheme",
    "AuthTarget",
    "BYTES_UNKNOWN",
    "BgCopyError",
    "Completion",
    "CopyCallback",
    "CopyError",
    "CopyFile",
    "CopyJob",
    "CopyManager",
    "EmptyError",
    "ErrorContext",
    "ErrorInformationUnavailableError",
    "Event",
    "EventKind",
    "FileNotAvailableError",
    "FileProgress",
    "HttpError",
    "InvalidArgError",
    "InvalidArgTypeError",
    "InvalidStateError",
    "JobEvent",
    "JobEventKind",
    "JobEvents",
    "JobProgress",
    "JobState",
    "JobTimes",
    "JobType",
    "LocalFileError",
    "LockedError",
    "NetworkError",
    "NotFoundError",
    "NotifyFlags",
    "Priority",
    "ProtocolNotAvailableError",
    "ProxyUsage",
    "SecurityFlags",
    "ServerError",
    "StoreError",
    "StringTooLongError",
    "UnexpectedError",
    "UnsupportedError",
    "ValidationError",
    "codes",
    "default_state_dir",
    "download",
    "download_async",
    "__version__",
]
