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
how many. In a child made by ``os.fork()`` the thread is started again.
"""

import logging
import os
import threading
from typing import List, Optional, Tuple

from . import _bgcopy

_LOGGER = logging.getLogger("bgcopy")
_stop = threading.Event()
_thread: Optional[threading.Thread] = None


def _deliver(lines: List[Tuple[int, str, str]], dropped: int) -> None:
    for lvl, area, message in lines:
        logger = _LOGGER.getChild(area) if area and area != "bgcopy" else _LOGGER
        if logger.isEnabledFor(lvl):
            logger.log(lvl, "%s", message)
    if dropped:
        _LOGGER.warning("%d log records were dropped (Python fell behind)", dropped)


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
        _deliver(*taken)
    # What came in before the stop.
    taken = _bgcopy._log_take(0)
    if taken is not None:
        _deliver(*taken)


def start() -> None:
    """Start the thread (once; ``import bgcopy`` does)."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_run, name="bgcopy-log", daemon=True)
        _thread.start()


def stop() -> None:
    """Stop the thread (at interpreter exit), delivering what is waiting."""
    _stop.set()
    _bgcopy._log_close()
    if _thread is not None and _thread is not threading.current_thread():
        _thread.join(timeout=2)


def _after_fork_in_child() -> None:
    # The child has no bridge thread (only the forking thread survives) and maybe a
    # lock its parent's threads held: a fresh queue and a new thread.
    global _thread, _stop
    _bgcopy._log_after_fork()
    _stop = threading.Event()
    _thread = None
    start()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
