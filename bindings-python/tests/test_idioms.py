"""The Python idioms: job.watch() / job.events(), bgcopy.download() / download_async(),
typed exceptions by kind."""

from __future__ import annotations

import asyncio
import gc
import pickle
import threading
import tracemalloc
import weakref
import time
from pathlib import Path
from typing import Iterator, List

import pytest

import bgcopy
from origin import Origin, content


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[bgcopy.CopyManager]:
    with bgcopy.CopyManager.open(tmp_path / "state") as m:
        yield m


def _threads() -> int:
    return threading.active_count()


def test_watch_runs_from_the_state_now_to_transferred(manager: bgcopy.CopyManager,
                                                       origin: Origin, tmp_path: Path) -> None:
    job = manager.create_job("watch")
    job.set_max_connections_per_file(1)
    job.add_file(origin.url("w-a", "size=300000&rate=1000000"), str(tmp_path / "a"))
    job.add_file(origin.url("w-b", "size=100"), str(tmp_path / "b"))
    events = job.watch()
    job.resume()
    seen = list(events)
    assert events.ended
    assert seen[0].kind is bgcopy.JobEventKind.STATE_CHANGED
    assert seen[0].state is bgcopy.JobState.SUSPENDED
    assert seen[-1].state is bgcopy.JobState.TRANSFERRED
    assert seen[-1].progress.files_transferred == 2
    assert sorted(e.file_index for e in seen
                  if e.kind is bgcopy.JobEventKind.FILE_TRANSFERRED) == [0, 1]
    progress = [e.progress.bytes_transferred for e in seen
                if e.kind is bgcopy.JobEventKind.PROGRESS]
    assert progress and progress == sorted(progress)
    assert str(seen[0].kind) == "STATE_CHANGED"
    assert "STATE_CHANGED" in repr(seen[0])
    job.complete()


def test_watch_ends_with_a_typed_http_error(manager: bgcopy.CopyManager, origin: Origin,
                                            tmp_path: Path) -> None:
    job = manager.create_job("404")
    job.add_file(origin.url("w-gone", "status=404"), str(tmp_path / "x"))
    job.resume()
    with job.watch() as events:
        last = list(events)[-1]
    assert last.kind is bgcopy.JobEventKind.ERROR
    assert last.state is bgcopy.JobState.ERROR
    err = last.error
    assert isinstance(err, bgcopy.HttpError) and isinstance(err, bgcopy.BgCopyError)
    assert (err.status, err.kind, err.symbol) == (404, "HTTP", "HTTP_404")
    assert str(err).startswith("HTTP_404 (0x80190194): ")
    # Pickled with its kind and status (multiprocessing).
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.status, again.kind) == (bgcopy.HttpError, 404, "HTTP")
    job.cancel()


def test_a_closed_watch_releases_its_stream(manager: bgcopy.CopyManager, origin: Origin,
                                            tmp_path: Path) -> None:
    job = manager.create_job("closed")
    job.add_file(origin.url("w-slow", "size=1000000&rate=100000"), str(tmp_path / "s"))
    job.resume()
    events = job.watch()
    assert next(events).kind is bgcopy.JobEventKind.STATE_CHANGED
    events.close()
    assert events.ended
    assert events.next_event(0) is None
    with pytest.raises(StopIteration):
        next(events)
    job.cancel()


def test_async_events_end_and_stop_on_break(manager: bgcopy.CopyManager, origin: Origin,
                                            tmp_path: Path) -> None:
    job = manager.create_job("aevents")
    job.add_file(origin.url("ae", "size=200000&rate=1000000"), str(tmp_path / "a"))

    async def main() -> List[bgcopy.JobEventKind]:
        kinds = []
        job.resume()
        async for ev in job.events():
            kinds.append(ev.kind)
        return kinds

    kinds = asyncio.run(main())
    assert kinds[0] is bgcopy.JobEventKind.STATE_CHANGED
    assert job.get_state() is bgcopy.JobState.TRANSFERRED
    job.complete()

    job2 = manager.create_job("abreak")
    job2.add_file(origin.url("ab", "size=2000000&rate=100000"), str(tmp_path / "b"))
    before = _threads()

    async def breaks() -> None:
        job2.resume()
        async for _ev in job2.events():
            break

    asyncio.run(breaks())
    gc.collect()
    assert _threads() <= before + 1
    job2.cancel()


def test_download_one_url_many_urls_and_the_typed_error(origin: Origin,
                                                       tmp_path: Path) -> None:
    state = tmp_path / "state"
    got = bgcopy.download(origin.url("d1.bin", "size=1000"), tmp_path / "one.bin",
                          state_dir=state)
    assert got == [tmp_path / "one.bin"] and isinstance(got[0], Path)
    assert got[0].read_bytes() == content(1000)
    kinds: List[bgcopy.JobEventKind] = []
    got = bgcopy.download([origin.url("x/d2.bin", "size=10"), origin.url("y/d3.bin", "size=20")],
                          tmp_path / "out", state_dir=state,
                          progress=lambda ev: kinds.append(ev.kind))
    assert got == [tmp_path / "out" / "d2.bin", tmp_path / "out" / "d3.bin"]
    assert got[1].read_bytes() == content(20)
    assert bgcopy.JobEventKind.FILE_TRANSFERRED in kinds
    with pytest.raises(bgcopy.HttpError) as e:
        bgcopy.download(origin.url("d-gone", "status=404"), tmp_path / "gone", state_dir=state)
    assert e.value.status == 404
    assert not (tmp_path / "gone").exists()
    with bgcopy.CopyManager.open(state) as m:
        assert m.enum_jobs() == [], "the failed job was cancelled"
    with pytest.raises(bgcopy.InvalidArgError):
        bgcopy.download([], tmp_path, state_dir=state)


def test_download_raises_what_the_progress_callback_raises_and_cancels(
        origin: Origin, tmp_path: Path) -> None:
    state = tmp_path / "state"

    def boom(ev: bgcopy.JobEvent) -> None:
        raise KeyError("stop here")

    with pytest.raises(KeyError):
        bgcopy.download(origin.url("d-slow", "size=2000000&rate=200000"), tmp_path / "s",
                        state_dir=state, progress=boom)
    with bgcopy.CopyManager.open(state) as m:
        assert m.enum_jobs() == []


def test_download_async_and_its_cancellation(origin: Origin, tmp_path: Path) -> None:
    state = tmp_path / "state"

    async def main() -> None:
        seen: List[bgcopy.JobEvent] = []
        paths = await bgcopy.download_async(origin.url("da.bin", "size=5000"), tmp_path / "da",
                                            state_dir=state, progress=seen.append)
        assert paths[0].read_bytes() == content(5000)
        await asyncio.sleep(0.05)
        assert seen and seen[0].kind is bgcopy.JobEventKind.STATE_CHANGED
        task = asyncio.create_task(bgcopy.download_async(
            origin.url("da-slow", "size=5000000&rate=100000"), tmp_path / "slow",
            state_dir=state))
        await asyncio.sleep(0.5)
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - start < 5

    asyncio.run(main())
    with bgcopy.CopyManager.open(state) as m:
        assert m.enum_jobs() == []
    assert not any(p.name.startswith(".slow") for p in tmp_path.iterdir())


def test_download_async_progress_that_raises_cancels_the_job(origin: Origin,
                                                              tmp_path: Path) -> None:
    state = tmp_path / "state"

    def progress(ev: bgcopy.JobEvent) -> None:
        raise KeyError("stop here")

    async def main() -> None:
        before = threading.active_count()
        with pytest.raises(KeyError, match="stop here"):
            await bgcopy.download_async(origin.url("da-raise", "size=5000000&rate=100000"),
                                        tmp_path / "raise", state_dir=state, progress=progress)
        # Its thread is gone, and the loop's executor was never used.
        deadline = time.monotonic() + 5
        while threading.active_count() > before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert threading.active_count() <= before

    asyncio.run(main())
    with bgcopy.CopyManager.open(state) as m:
        assert m.enum_jobs() == []
    # Cancelled, not completed: nothing at the path, no temporary file left.
    assert not (tmp_path / "raise").exists()
    assert not list(tmp_path.glob(".*bgcopy-part"))


def test_exceptions_by_kind() -> None:
    c = bgcopy.codes
    assert bgcopy.BgCopyError("x", c.TIMEOUT).kind == "NETWORK"
    assert isinstance(bgcopy._types._make_error(c.TIMEOUT, "TIMEOUT", "t", False, "NETWORK"),
                      bgcopy.NetworkError)
    e = bgcopy._types._make_error(0x80190000 + 503, "HTTP_503", "busy", False, "HTTP", 503)
    assert isinstance(e, bgcopy.HttpError) and e.status == 503
    assert bgcopy.BgCopyError("y", 0x80190000 + 404).status == 404
    assert isinstance(bgcopy._types._make_error(c.VALIDATION_FAILED, "VALIDATION_FAILED", "v",
                                                False, "VALIDATION"), bgcopy.ValidationError)
    assert isinstance(bgcopy._types._make_error(c.REDIRECT_FAILED, "REDIRECT_FAILED", "r",
                                                False, "SERVER"), bgcopy.ServerError)
    # A code the exceptions name keeps its class.
    assert type(bgcopy._types._make_error(c.DISK_FULL, "DISK_FULL", "d", False,
                                          "LOCAL")) is bgcopy.LocalFileError


def test_create_job_sets_the_job_up_in_one_call(manager: bgcopy.CopyManager,
                                                 origin: Origin, tmp_path: Path) -> None:
    job = manager.create_job("setup", files=[(origin.url("s-a", "size=1000"), tmp_path / "a")],
                             priority=bgcopy.Priority.HIGH, description="one call")
    assert (job.display_name, job.priority, job.description) == ("setup", bgcopy.Priority.HIGH, "one call")
    assert job.state is bgcopy.JobState.SUSPENDED
    assert [f.local_name for f in job.files] == [tmp_path / "a"]
    assert str(job.uuid) == job.id and manager.get_job(job.uuid) == job
    job.resume()
    assert job.wait(30) is bgcopy.JobState.TRANSFERRED
    job.complete()
    assert (tmp_path / "a").read_bytes() == content(1000)
    # All or nothing: a refused file leaves no job behind and raises the typed error.
    before = len(manager.enum_jobs())
    with pytest.raises(bgcopy.InvalidArgError):
        manager.create_job("bad", files=[(origin.url("s-b", "size=10"), "relative/b")],
                           priority=bgcopy.Priority.LOW)
    with pytest.raises(bgcopy.StringTooLongError):
        manager.create_job("long", description="x" * 1025)
    with pytest.raises(TypeError):
        manager.create_job("typed", files="http://x/not-pairs")
    assert len(manager.enum_jobs()) == before
    # The keywords are keywords only; the second positional stays the job type.
    with pytest.raises(TypeError):
        manager.create_job("pos", bgcopy.JobType.DOWNLOAD, [])  # type: ignore[misc]


def test_abandoned_streams_release_their_objects_and_memory(manager: bgcopy.CopyManager,
                                                            origin: Origin, tmp_path: Path) -> None:
    """A stream left after its first event (break, or simply dropped) is freed: no
    object stays alive and memory does not grow with the number of streams opened."""
    job = manager.create_job("leaks", files=[(origin.url("lk", "size=5000000&rate=100000"),
                                              tmp_path / "lk")])
    job.resume()

    def open_and_leave() -> "weakref.ref[bgcopy.JobEvents]":
        events = job.watch()
        assert next(events).kind is bgcopy.JobEventKind.STATE_CHANGED
        return weakref.ref(events)

    async def async_break() -> None:
        async for _ev in job.events():
            break

    for _ in range(20):  # warm up caches and the allocator
        open_and_leave()
        asyncio.run(async_break())
    gc.collect()
    threads = _threads()
    tracemalloc.start()
    try:
        refs = [open_and_leave() for _ in range(200)]
        for _ in range(50):
            asyncio.run(async_break())
        gc.collect()
        assert all(r() is None for r in refs)
        current, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 250 streams: Python objects kept by each (a few hundred bytes) would pass 64 KiB;
    # the weakrefs show that no stream object itself stays alive.
    assert current < 64 * 1024, current
    assert _threads() <= threads + 1
    job.cancel()
