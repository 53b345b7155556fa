"""Threads: eight Python threads sharing jobs while they transfer; wait() releases the
GIL so other threads (and callbacks) run."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import List

import bgcopy
from origin import Origin


def test_eight_threads_share_jobs(tmp_path: Path, origin: Origin) -> None:
    with bgcopy.CopyManager.open(tmp_path / "state", notify_interval=0.02) as m:
        jobs = []
        for i in range(4):
            j = m.create_job(f"shared {i}")
            j.add_file(origin.url(f"thr-{i}", "size=400000&rate=2000000"),
                       str(tmp_path / f"t{i}.bin"))
            j.set_notify_flags(0x1B)
            jobs.append(j)
        errors: List[BaseException] = []
        deliveries = [0]

        class Count:
            def job_modification(self, job: bgcopy.CopyJob) -> None:
                job.get_progress()
                deliveries[0] += 1

        for j in jobs:
            j.set_notify_interface(Count())
            j.resume()
        stop = time.monotonic() + 2.0

        def worker(n: int) -> None:
            rnd = random.Random(n)
            try:
                while time.monotonic() < stop:
                    j = rnd.choice(jobs)
                    op = rnd.randrange(9)
                    if op == 0:
                        j.set_description(f"thread {n}")
                    elif op == 1:
                        j.set_priority(rnd.choice(list(bgcopy.Priority)[1:]))
                    elif op == 2:
                        j.suspend()
                    elif op == 3:
                        j.resume()
                    elif op == 4:
                        assert j.get_progress().files_total == 1
                    elif op == 5:
                        j.enum_files()[0].get_progress()
                    elif op == 6:
                        assert m.get_job(j.id) == j
                    elif op == 7:
                        j.wait(0.01)
                    else:
                        assert len(m.enum_jobs()) == 4
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert not errors, errors
        for j in jobs:
            j.set_priority(bgcopy.Priority.FOREGROUND)
            j.resume()
        for j in jobs:
            assert j.wait(60) is bgcopy.JobState.TRANSFERRED
            assert j.complete() is bgcopy.Completion.ALL
        assert deliveries[0] > 0
        for i in range(4):
            assert (tmp_path / f"t{i}.bin").stat().st_size == 400000


def test_wait_releases_the_gil(tmp_path: Path) -> None:
    with bgcopy.CopyManager.open(tmp_path / "state") as m:
        job = m.create_job("idle")
        counter = [0]
        done = threading.Event()

        def spin() -> None:
            while not done.is_set():
                counter[0] += 1

        t = threading.Thread(target=spin)
        t.start()
        try:
            job.wait(0.5)
        finally:
            done.set()
            t.join()
        assert counter[0] > 10000
