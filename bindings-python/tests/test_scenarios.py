"""The shared scenarios (tests/scenarios/*.json) through the Python module, in threads
against one origin (like the Rust runner); one test per scenario. At most
``BGCOPY_SCENARIO_JOBS`` (default 4) run at once. ``BGCOPY_SCENARIO=name`` runs one."""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Dict, Iterator

import pytest

from origin import Origin
from scenario_runner import run_scenario, scenario_paths

PATHS = scenario_paths()


@pytest.fixture(scope="module")
def running(origin: Origin) -> Iterator[Dict[str, "Future[float]"]]:
    jobs = int(os.environ.get("BGCOPY_SCENARIO_JOBS", "4"))
    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="scenario")
    futures = {p.stem: pool.submit(run_scenario, origin, p) for p in PATHS}
    try:
        yield futures
    finally:
        pool.shutdown(wait=True)


def test_scenarios_found() -> None:
    assert PATHS, "no scenarios found under tests/scenarios"


@pytest.mark.parametrize("name", [p.stem for p in PATHS])
def test_scenario(running: Dict[str, "Future[float]"], name: str) -> None:
    running[name].result(timeout=600)
