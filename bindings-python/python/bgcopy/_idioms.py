"""The Python idioms over the core: ``download()`` / ``download_async()`` (one call for
the common case) and the async form of a job's event stream (``job.events()``)."""

import asyncio
import atexit
import functools
import os
import threading
import weakref
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterable, List, Optional, Union

from . import _bgcopy
from ._types import Priority

UrlOrUrls = Union[str, Iterable[str]]
PathLike = Union[str, "os.PathLike[str]"]


def _urls(urls: UrlOrUrls) -> List[str]:
    if isinstance(urls, str):
        return [urls]
    return list(urls)


def download(urls: UrlOrUrls, dest: PathLike, *, state_dir: Optional[PathLike] = None,
             priority: Priority = Priority.FOREGROUND,
             progress: Optional[Callable[[Any], None]] = None,
             display_name: Optional[str] = None) -> List[Path]:
    """Download ``urls`` (one URL or several) into ``dest`` and return each file's path.

    ``dest`` is a directory (made if missing; each file named from its URL, like
    ``curl -O``), or, for one URL, the file's own path when it is not an existing
    directory and does not end with ``/``. The manager is opened on ``state_dir`` (None: the default), one job of
    ``priority`` made, followed to its end and completed: the BITS model one level
    down. ``progress`` gets every ``JobEvent`` (state changes, progress, files, errors).
    On failure the job is cancelled and its error raised as the typed exception
    (``HttpError`` with ``status``, ``NetworkError``, …); Ctrl-C (or an exception from
    ``progress``) cancels it too and is raised.
    """
    paths = _bgcopy._download(_urls(urls), dest, state_dir, priority, display_name,
                              progress, None)
    assert paths is not None  # only a stop asked for returns None
    return [Path(p) for p in paths]


# The async downloads' threads and their stop flags: at interpreter exit each is told to
# stop (its job is cancelled) and joined, so that no thread is still inside the library
# while the interpreter finalizes.
_RUNNING: "weakref.WeakKeyDictionary[threading.Thread, threading.Event]" = weakref.WeakKeyDictionary()


def _stop_downloads() -> None:
    running = list(_RUNNING.items())
    for _thread, stop in running:
        stop.set()
    for thread, _stop in running:
        thread.join(timeout=10)


atexit.register(_stop_downloads)


async def download_async(urls: UrlOrUrls, dest: PathLike, *,
                         state_dir: Optional[PathLike] = None,
                         priority: Priority = Priority.FOREGROUND,
                         progress: Optional[Callable[[Any], None]] = None,
                         display_name: Optional[str] = None) -> List[Path]:
    """``download()`` for asyncio: the download runs on a thread of its own (not the
    loop's executor, which it would hold for the whole download), ``progress`` is called
    on the event loop, and cancelling the task cancels the job (the task ends once the
    job is cancelled), as does closing the loop or the interpreter exiting. An exception
    from ``progress`` stops the download (the job is cancelled unless it already
    completed) and is raised."""
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    failed: List[BaseException] = []
    on_event = None
    if progress is not None:
        report = progress

        def deliver(ev: Any) -> None:
            if failed:
                return
            try:
                report(ev)
            except BaseException as e:  # the job is cancelled, the error raised
                failed.append(e)
                stop.set()

        def on_event(ev: Any) -> None:
            loop.call_soon_threadsafe(deliver, ev)
    def stopped() -> bool:
        # Nobody is left to take the answer once the loop is closed.
        return stop.is_set() or loop.is_closed()

    call = functools.partial(_bgcopy._download, _urls(urls), dest, state_dir, priority,
                             display_name, on_event, stopped)
    fut: "asyncio.Future[Optional[List[str]]]" = loop.create_future()

    def settle(result: Optional[List[str]], error: Optional[BaseException]) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)

    def run() -> None:
        try:
            result, error = call(), None
        except BaseException as e:
            result, error = None, e
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    thread = threading.Thread(target=run, name="bgcopy-download", daemon=True)
    _RUNNING[thread] = stop
    thread.start()
    try:
        paths = await asyncio.shield(fut)
    except asyncio.CancelledError:
        stop.set()
        try:
            await fut
        except BaseException:
            pass
        raise
    if failed:
        raise failed[0]
    if paths is None:
        raise asyncio.CancelledError()
    return [Path(p) for p in paths]


async def _aiter_events(stream: Any) -> AsyncIterator[Any]:
    """``job.events()``: the stream's blocking waits on a helper thread, in slices, so
    that breaking out or cancelling releases it within a quarter second."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            ev = await loop.run_in_executor(None, stream.next_event, 0.25)
            if ev is None:
                if stream.ended:
                    return
                continue
            yield ev
    finally:
        await loop.run_in_executor(None, stream.close)
