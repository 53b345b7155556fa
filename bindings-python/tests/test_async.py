"""`await job.wait_async(timeout)` under asyncio: the event loop keeps running while a
job transfers; timeouts, cancellation and many concurrent waits."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Iterator, List

import pytest

import bgcopy
from origin import Origin


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[bgcopy.CopyManager]:
    with bgcopy.CopyManager.open(tmp_path / "state") as m:
        yield m


def test_wait_async_does_not_block_the_loop(manager: bgcopy.CopyManager, origin: Origin,
                                            tmp_path: Path) -> None:
    job = manager.create_job("async")
    job.add_file(origin.url("aio-slow", "size=200000&rate=400000"), str(tmp_path / "a.bin"))
    job.set_priority(bgcopy.Priority.FOREGROUND)

    async def main() -> List[float]:
        ticks: List[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        t = asyncio.create_task(ticker())
        job.resume()
        state = await job.wait_async(30)
        t.cancel()
        assert state is bgcopy.JobState.TRANSFERRED
        return ticks

    ticks = asyncio.run(main())
    # The transfer took about 0.5 s; the loop ticked all along.
    assert len(ticks) > 20
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 0.25
    assert job.complete() is bgcopy.Completion.ALL


def test_wait_async_timeout_and_final_states(manager: bgcopy.CopyManager) -> None:
    job = manager.create_job("never resumed")

    async def main() -> None:
        start = time.monotonic()
        assert await job.wait_async(0.3) is bgcopy.JobState.SUSPENDED
        assert 0.25 <= time.monotonic() - start < 5
        assert await job.wait_async(0) is bgcopy.JobState.SUSPENDED
        job.cancel()
        assert await job.wait_async() is bgcopy.JobState.CANCELLED

    asyncio.run(main())


def test_wait_async_cancellation(manager: bgcopy.CopyManager) -> None:
    job = manager.create_job("cancelled await")
    before = threading.active_count()

    async def main() -> None:
        task = asyncio.ensure_future(job.wait_async())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The helper thread notices and ends.
        for _ in range(100):
            if threading.active_count() <= before:
                break
            await asyncio.sleep(0.02)

    asyncio.run(main())
    assert job.get_state() is bgcopy.JobState.SUSPENDED


def test_many_concurrent_async_waits(manager: bgcopy.CopyManager, origin: Origin,
                                     tmp_path: Path) -> None:
    jobs = []
    for i in range(20):
        j = manager.create_job(f"aio {i}")
        j.add_file(origin.url(f"aio-many-{i}", "size=2000"), str(tmp_path / f"m{i}.bin"))
        jobs.append(j)

    async def main() -> List[bgcopy.JobState]:
        for j in jobs:
            j.resume()
        return list(await asyncio.gather(*(j.wait_async(60) for j in jobs)))

    assert asyncio.run(main()) == [bgcopy.JobState.TRANSFERRED] * 20
    for j in jobs:
        j.complete()


def test_wait_async_needs_a_running_loop(manager: bgcopy.CopyManager) -> None:
    job = manager.create_job("no loop")
    with pytest.raises(RuntimeError):
        job.wait_async(1)
    with pytest.raises(bgcopy.InvalidArgError):
        asyncio.run(_bad_timeout(job))


async def _bad_timeout(job: bgcopy.CopyJob) -> None:
    await job.wait_async(-1)


def test_wait_async_returns_when_the_manager_closes(tmp_path: Path) -> None:
    m = bgcopy.CopyManager.open(tmp_path / "state")
    job = m.create_job("closing")

    async def main() -> bgcopy.JobState:
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, m.close)
        return await job.wait_async(30)

    start = time.monotonic()
    assert asyncio.run(main()) is bgcopy.JobState.SUSPENDED
    assert time.monotonic() - start < 5
