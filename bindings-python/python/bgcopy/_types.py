"""The pure-Python half of bgcopy: enums, exceptions and result codes (the BITS
values and HRESULT codes listed in docs/spec.md).

The extension module (``bgcopy._bgcopy``) imports this module to build the values it
returns, so everything here is plain Python with no import of the extension at load
time.
"""

from __future__ import annotations

import datetime as _dt
import enum
import importlib
from typing import Any, Dict, Optional, Tuple, Type

__all__ = [
    "BYTES_UNKNOWN",
    "BgCopyError",
    "Completion",
    "CopyCallback",
    "EmptyError",
    "ErrorContext",
    "ErrorInformationUnavailableError",
    "EventKind",
    "FileNotAvailableError",
    "InvalidArgError",
    "InvalidArgTypeError",
    "InvalidStateError",
    "JobState",
    "JobType",
    "LocalFileError",
    "LockedError",
    "NotFoundError",
    "NotifyFlags",
    "Priority",
    "ProtocolNotAvailableError",
    "StoreError",
    "StringTooLongError",
    "UnexpectedError",
    "UnsupportedError",
    "codes",
]

#: ``JobProgress.bytes_total`` / ``FileProgress.bytes_total`` while a size is not yet
#: known (``u64::MAX``, BG_SIZE_UNKNOWN).
BYTES_UNKNOWN: int = 0xFFFF_FFFF_FFFF_FFFF


class _Named(enum.IntEnum):
    """An IntEnum that prints as its name: ``str(JobState.TRANSFERRED)`` and
    ``f"{state}"`` give ``"TRANSFERRED"`` (plain IntEnums print their number from
    Python 3.11 on); with a format spec (``f"{state:d}"``) it formats the number."""

    def __str__(self) -> str:
        """The member's name."""
        return self.name

    def __format__(self, spec: str) -> str:
        """The name, or the number when a format spec is given."""
        return self.name if not spec else int.__format__(int(self), spec)


class JobState(_Named):
    """The state of a job (BG_JOB_STATE)."""

    QUEUED = 0
    CONNECTING = 1
    TRANSFERRING = 2
    SUSPENDED = 3
    ERROR = 4
    TRANSIENT_ERROR = 5
    TRANSFERRED = 6
    ACKNOWLEDGED = 7
    CANCELLED = 8

    @property
    def is_final(self) -> bool:
        """ACKNOWLEDGED or CANCELLED: the job is gone from the queue."""
        return self in (JobState.ACKNOWLEDGED, JobState.CANCELLED)

    @property
    def ends_wait(self) -> bool:
        """A state that ``CopyJob.wait()`` returns on (TRANSFERRED, ERROR or final)."""
        return self in (
            JobState.TRANSFERRED,
            JobState.ERROR,
            JobState.ACKNOWLEDGED,
            JobState.CANCELLED,
        )


class Priority(_Named):
    """The priority of a job (BG_JOB_PRIORITY); lower values run first."""

    FOREGROUND = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


class JobType(_Named):
    """The kind of transfer (BG_JOB_TYPE). Only DOWNLOAD is built."""

    DOWNLOAD = 0
    UPLOAD = 1
    UPLOAD_REPLY = 2


class ErrorContext(_Named):
    """Where an error came from (BG_ERROR_CONTEXT)."""

    NONE = 0
    UNKNOWN = 1
    GENERAL_QUEUE_MANAGER = 2
    QUEUE_MANAGER_NOTIFICATION = 3
    LOCAL_FILE = 4
    REMOTE_FILE = 5
    GENERAL_TRANSPORT = 6
    REMOTE_APPLICATION = 7


class EventKind(_Named):
    """What an entry of the event journal records (``CopyManager.events_since``)."""

    #: The job entered the state the event carries (also at creation: SUSPENDED).
    STATE_CHANGED = 0
    #: Every byte of the file the event names is transferred.
    FILE_TRANSFERRED = 1
    #: The job hit an error (ERROR or TRANSIENT_ERROR); the event carries it.
    ERROR = 2
    #: A call changed the job without changing its state (properties, files).
    MODIFIED = 3


class NotifyFlags(enum.IntFlag):
    """Which notifications a job delivers (BG_NOTIFY_*), combined with ``|``."""

    JOB_TRANSFERRED = 0x01
    JOB_ERROR = 0x02
    DISABLE = 0x04
    JOB_MODIFICATION = 0x08
    FILE_TRANSFERRED = 0x10
    #: The default of a new job: JOB_TRANSFERRED | JOB_ERROR.
    DEFAULT = 0x03


class AuthTarget(_Named):
    """Whom credentials are for (BG_AUTH_TARGET)."""

    SERVER = 1
    PROXY = 2


class AuthScheme(_Named):
    """How credentials are sent: BITS's BASIC, and BEARER (a token), which bgcopy adds."""

    BASIC = 1
    BEARER = 6


class ProxyUsage(_Named):
    """Which proxy a job's requests use (BG_JOB_PROXY_USAGE)."""

    #: The environment's: https_proxy / http_proxy / all_proxy, bypassed by no_proxy.
    PRECONFIG = 0
    #: None: straight to every server.
    NO_PROXY = 1
    #: The job's own proxy URL and bypass list.
    OVERRIDE = 2


class SecurityFlags(enum.IntFlag):
    """A job's security flags (BITS values): one redirect policy, and whether a
    redirect from https to http is followed."""

    #: Follow redirects; the file keeps its remote name (the default).
    REDIRECT_ALLOW_SILENT = 0x0000
    #: Follow redirects; the final URL becomes the file's remote name.
    REDIRECT_ALLOW_REPORT = 0x0100
    #: A redirect puts the job in ERROR with the redirect's HTTP status.
    REDIRECT_DISALLOW = 0x0200
    #: The bits that hold the redirect policy.
    REDIRECT_POLICY_MASK = 0x0700
    #: Follow a redirect from https to http.
    ALLOW_HTTPS_TO_HTTP = 0x0800


class codes:
    """The numeric result codes (the BITS HRESULT values, unsigned; the table is in
    docs/spec.md#codes) and their names.

    ``BgCopyError.code`` and ``CopyError.code`` hold these values; ``symbol(code)``
    gives the symbolic name (``"INVALID_STATE"``, ``"HTTP_404"``, ...).
    """

    S_OK = 0x0000_0000
    PARTIAL_COMPLETE = 0x0020_0017
    NOT_FOUND = 0x8020_0001
    INVALID_STATE = 0x8020_0002
    EMPTY = 0x8020_0003
    FILE_NOT_AVAILABLE = 0x8020_0004
    PROTOCOL_NOT_AVAILABLE = 0x8020_0005
    ERROR_INFORMATION_UNAVAILABLE = 0x8020_000F
    MISSING_FILE_SIZE = 0x8020_0011
    INSUFFICIENT_RANGE_SUPPORT = 0x8020_0013
    INVALID_SERVER_RESPONSE = 0x8020_001B
    STRING_TOO_LONG = 0x8020_0021
    NO_PROGRESS = 0x8020_0024
    CONNECT_FAILURE = 0x8020_002D
    CONNECTION_CLOSED = 0x8020_002E
    VALIDATION_FAILED = 0x8020_0053
    MAXDOWNLOAD_TIMEOUT = 0x8020_0054
    REMOTE_FILE_CHANGED = 0x8020_0073
    E_INVALIDARG = 0x8007_0057
    E_NOTIMPL = 0x8000_4001
    E_UNEXPECTED = 0x8000_FFFF
    ACCESS_DENIED = 0x8007_0005
    PATH_NOT_FOUND = 0x8007_0003
    DISK_FULL = 0x8007_0070
    IO_ERROR = 0x8007_001F
    LOCKED = 0x8007_0021
    STORE_CORRUPT = 0x8007_0570
    STORE_TOO_NEW = 0x8007_051A
    TIMEOUT = 0x8007_2EE2
    SECURE_FAILURE = 0x8007_2F8F
    REDIRECT_FAILED = 0x8007_2EFA
    NAME_NOT_RESOLVED = 0x8007_2EE7
    #: HTTP status ``n`` is ``HTTP_BASE + n``.
    HTTP_BASE = 0x8019_0000

    @staticmethod
    def http(status: int) -> int:
        """The code for HTTP status ``status`` (``0x80190000 + status``)."""
        return codes.HTTP_BASE + status

    @staticmethod
    def symbol(code: int) -> str:
        """The symbolic name of ``code``: ``"HTTP_404"`` for HTTP statuses,
        ``"INVALID_ARG"``, ``"NOT_IMPLEMENTED"``, ``"UNEXPECTED"`` for the E_ codes,
        ``"OK"`` for S_OK, else ``"0x%08X"`` (the core's ``codes::symbol``)."""
        return str(_extension()._code_symbol(code & 0xFFFF_FFFF))

    @staticmethod
    def from_symbol(name: str) -> Optional[int]:
        """The code for a symbolic name (the inverse of ``symbol``), or None."""
        found = _extension()._code_from_symbol(name)
        return None if found is None else int(found)


def _extension() -> Any:
    """The compiled module, looked up at call time (this module loads before it)."""
    return importlib.import_module("bgcopy._bgcopy")


class Completion(_Named):
    """How ``CopyJob.complete()`` ended: every file is in place (S_OK), or some were
    not transferred and were deleted (PARTIAL_COMPLETE, a success code). Always true:
    ``complete()`` succeeded either way (``ALL`` is 0, and ``if job.complete():`` must
    not read as a failure); compare with ``Completion.PARTIAL`` to tell them apart."""

    ALL = codes.S_OK
    PARTIAL = codes.PARTIAL_COMPLETE

    def __bool__(self) -> bool:
        """True: both members are successes."""
        return True

    @property
    def symbol(self) -> str:
        """``"OK"`` or ``"PARTIAL_COMPLETE"``."""
        return codes.symbol(int(self))


class CopyCallback:
    """A base class for notification objects (IBackgroundCopyCallback); subclass it and
    override what you need, or pass any object with some of these methods to
    ``CopyJob.set_notify_interface``. The methods run on a library thread; raising
    counts as a failed delivery (TRANSFERRED and ERROR are delivered again after the
    job's minimum retry delay)."""

    def job_transferred(self, job: Any) -> None:
        """The job reached TRANSFERRED (flag JOB_TRANSFERRED)."""

    def job_error(self, job: Any, error: Any) -> None:
        """The job reached ERROR (flag JOB_ERROR); ``error`` is its ``CopyError``."""

    def job_modification(self, job: Any) -> None:
        """The job changed (flag JOB_MODIFICATION); coalesced, the last is never lost."""

    def file_transferred(self, job: Any, file: Any) -> None:
        """One file's bytes are all transferred (flag FILE_TRANSFERRED)."""


class JobEventKind(enum.Enum):
    """What a ``JobEvent`` reports (the same names in every language)."""

    STATE_CHANGED = "STATE_CHANGED"
    """The job's state changed (a stream's first event is the state it started in)."""
    PROGRESS = "PROGRESS"
    """Bytes moved (at most every 200 ms)."""
    FILE_TRANSFERRED = "FILE_TRANSFERRED"
    """All bytes of one file arrived (``file_index``)."""
    ERROR = "ERROR"
    """An error (``error``): the job went to ERROR (the stream's end) or TRANSIENT_ERROR."""

    def __str__(self) -> str:
        """The name."""
        return self.value


class BgCopyError(Exception):
    """Every failure of a bgcopy call: ``code`` is the BITS HRESULT code (unsigned 32-bit,
    e.g. ``0x80200002``; see docs/spec.md#codes), ``symbol`` its name (``"INVALID_STATE"``),
    ``message`` says what went wrong, ``kind`` what kind of failure it is (``"HTTP"``,
    ``"NETWORK"``, ``"LOCAL"``, ``"INVALID_ARGUMENT"``, …, the same names in every language)
    and ``status`` the HTTP status of an HTTP error (else None). Subclasses name the
    common codes and kinds: catch ``HttpError``, ``NetworkError``, ``LocalFileError``, …"""

    code: int
    symbol: str
    message: str
    kind: str
    status: Optional[int]

    def __init__(self, message: str, code: int = codes.E_UNEXPECTED,
                 symbol: Optional[str] = None, kind: Optional[str] = None,
                 status: Optional[int] = None) -> None:
        """An error with ``message``, ``code`` and its ``symbol`` (derived when None)."""
        super().__init__(message)
        self.message = message
        self.code = code
        self.symbol = symbol if symbol is not None else codes.symbol(code)
        if kind is None or status is None:
            derived_kind, derived_status = _kind_of(code)
            kind = derived_kind if kind is None else kind
            status = derived_status if status is None else status
        self.kind = kind
        self.status = status

    def __str__(self) -> str:
        """``SYMBOL (0xCODE): message``."""
        return f"{self.symbol} (0x{self.code:08X}): {self.message}"

    def __repr__(self) -> str:
        """The class, message, code and symbol."""
        return f"{type(self).__name__}({self.message!r}, code=0x{self.code:08X}, symbol={self.symbol!r})"

    def __reduce__(self) -> Tuple[Any, ...]:
        """Pickles with its code, symbol, kind and status (for multiprocessing)."""
        return (type(self), (self.message, self.code, self.symbol, self.kind, self.status))


def _kind_of(code: int) -> Tuple[str, Optional[int]]:
    """The core's kind of ``code`` and its HTTP status (for an error made in Python)."""
    from . import _bgcopy
    return _bgcopy._error_kind(code)


class InvalidArgError(BgCopyError, ValueError):
    """E_INVALIDARG (0x80070057): a bad argument (see docs/spec.md#bad-input). Also a ``ValueError``."""


class InvalidArgTypeError(InvalidArgError, TypeError):
    """E_INVALIDARG for an argument of the wrong type (``None`` where a value is
    required, a float where an int is). Also a ``TypeError``."""


class StringTooLongError(BgCopyError, ValueError):
    """STRING_TOO_LONG (0x80200021): a display name, description or URL is too long."""


class InvalidStateError(BgCopyError):
    """INVALID_STATE (0x80200002): not allowed in the job's state (a final job), or the
    manager is closed."""


class NotFoundError(BgCopyError, LookupError):
    """NOT_FOUND (0x80200001): no such job (or it is final and gone from the queue)."""


class EmptyError(BgCopyError):
    """EMPTY (0x80200003): ``resume()`` on a job without files."""


class ErrorInformationUnavailableError(BgCopyError):
    """ERROR_INFORMATION_UNAVAILABLE (0x8020000F): ``get_error()`` on a job that is not
    in ERROR or TRANSIENT_ERROR."""


class FileNotAvailableError(BgCopyError):
    """FILE_NOT_AVAILABLE (0x80200004): the error is not about a file."""


class ProtocolNotAvailableError(BgCopyError):
    """PROTOCOL_NOT_AVAILABLE (0x80200005): the error is not about a transfer."""


class LockedError(BgCopyError):
    """LOCKED (0x80070021): retired. Any number of processes may open one state
    directory, so no call raises it any more; the class stays so that code catching it
    keeps working."""


class StoreError(BgCopyError):
    """STORE_CORRUPT (0x80070570) or STORE_TOO_NEW (0x8007051A): the job store cannot
    be used."""


class LocalFileError(BgCopyError):
    """ACCESS_DENIED, PATH_NOT_FOUND, DISK_FULL or IO_ERROR: a local file or directory
    could not be used."""


class UnsupportedError(BgCopyError, NotImplementedError):
    """E_NOTIMPL (0x80004001): not built yet (UPLOAD jobs). Also a
    ``NotImplementedError``."""


class UnexpectedError(BgCopyError):
    """E_UNEXPECTED (0x8000FFFF): an internal failure (a caught panic)."""


class HttpError(BgCopyError):
    """The server answered with an HTTP error status: ``status`` (404, 503, …); the code
    is ``HTTP_<status>``."""


class ServerError(BgCopyError):
    """The server's answer cannot be used: INVALID_SERVER_RESPONSE, REDIRECT_FAILED,
    INSUFFICIENT_RANGE_SUPPORT, REMOTE_FILE_CHANGED, MISSING_FILE_SIZE."""


class NetworkError(BgCopyError):
    """The network failed: NAME_NOT_RESOLVED, CONNECT_FAILURE, CONNECTION_CLOSED, TIMEOUT,
    SECURE_FAILURE (TLS), NO_PROGRESS, MAXDOWNLOAD_TIMEOUT."""


class ValidationError(BgCopyError):
    """VALIDATION_FAILED (0x80200053): the content is not what was expected (a SHA-256
    mismatch, or the app's verdict)."""


_CLASSES: Dict[int, Type[BgCopyError]] = {
    codes.E_INVALIDARG: InvalidArgError,
    codes.STRING_TOO_LONG: StringTooLongError,
    codes.INVALID_STATE: InvalidStateError,
    codes.NOT_FOUND: NotFoundError,
    codes.EMPTY: EmptyError,
    codes.ERROR_INFORMATION_UNAVAILABLE: ErrorInformationUnavailableError,
    codes.FILE_NOT_AVAILABLE: FileNotAvailableError,
    codes.PROTOCOL_NOT_AVAILABLE: ProtocolNotAvailableError,
    codes.LOCKED: LockedError,
    codes.STORE_CORRUPT: StoreError,
    codes.STORE_TOO_NEW: StoreError,
    codes.ACCESS_DENIED: LocalFileError,
    codes.PATH_NOT_FOUND: LocalFileError,
    codes.DISK_FULL: LocalFileError,
    codes.IO_ERROR: LocalFileError,
    codes.E_NOTIMPL: UnsupportedError,
    codes.E_UNEXPECTED: UnexpectedError,
}


_KIND_CLASSES: Dict[str, Type[BgCopyError]] = {
    "HTTP": HttpError,
    "SERVER": ServerError,
    "NETWORK": NetworkError,
    "LOCAL": LocalFileError,
    "VALIDATION": ValidationError,
    "INVALID_ARGUMENT": InvalidArgError,
    "INVALID_STATE": InvalidStateError,
    "NOT_FOUND": NotFoundError,
    "STORE": StoreError,
}


def _make_error(code: int, symbol: str, message: str, type_error: bool = False,
                kind: Optional[str] = None, status: Optional[int] = None) -> BgCopyError:
    """The exception for a code of a kind (used by the extension module): the class of
    the code, else of the kind, else ``BgCopyError``."""
    if type_error and code == codes.E_INVALIDARG:
        return InvalidArgTypeError(message, code, symbol, kind, status)
    cls = _CLASSES.get(code) or _KIND_CLASSES.get(kind or "", BgCopyError)
    return cls(message, code, symbol, kind, status)


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _from_ms(ms: int) -> _dt.datetime:
    """An aware UTC datetime from milliseconds since the Unix epoch (exact)."""
    return _EPOCH + _dt.timedelta(milliseconds=ms)


def _resolve_future(fut: Any, value: Any, error: Optional[BaseException]) -> None:
    """Finish an asyncio future from the loop's thread unless it was cancelled."""
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)
