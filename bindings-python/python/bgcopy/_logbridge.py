"""The core's log records in Python's ``logging``.

The library logs state changes and retries at INFO and each request and answer at
DEBUG, under the logger ``bgcopy`` (children ``bgcopy.job``, ``bgcopy.http``,
``bgcopy.transfer``, ``bgcopy.engine``). URLs appear without their query and
password; header values and credentials never do. Nothing is produced below the
level the ``bgcopy`` logger is set to (WARNING by default, like every logger), so::

    logging.basicConfig()
    logging.getLogger("bgcopy").setLevel(logging.DEBUG)

shows every request. A level change takes effect within half a second. A daemon
thread (``bgcopy-log``) moves the records: the core never waits for the GIL; if
Python falls more than 10000 records behind, the rest are dropped and a WARNING says
how many.
"""

import logging
import threading
from typing import Optional

from . import _bgcopy

_LOGGER = logging.getLogger("bgcopy")
_stop = threading.Event()
_thread: Optional[threading.Thread] = None


def _run() -> None:
    level = None
    while not _stop.is_set():
        wanted = _LOGGER.getEffectiveLevel()
        if wanted != level:
            level = wanted
            _bgcopy._log_level(level)
        taken = _bgcopy._log_take(0.5)
        if taken is None:
            return  # another Rust logger owns this process's records
        lines, dropped = taken
        for lvl, area, message in lines:
            logger = _LOGGER.getChild(area) if area and area != "bgcopy" else _LOGGER
            if logger.isEnabledFor(lvl):
                logger.log(lvl, "%s", message)
        if dropped:
            _LOGGER.warning("%d log records were dropped (Python fell behind)", dropped)


def start() -> None:
    """Start the thread (once; ``import bgcopy`` does)."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_run, name="bgcopy-log", daemon=True)
        _thread.start()


def stop() -> None:
    """Stop the thread (at interpreter exit), delivering what is waiting."""
    _stop.set()
    if _thread is not None and _thread is not threading.current_thread():
        _thread.join(timeout=2)
