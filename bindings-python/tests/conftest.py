"""Shared fixtures: one test origin per session, a fresh directory per test."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from origin import Origin  # noqa: E402


@pytest.fixture(scope="session")
def origin() -> Iterator[Origin]:
    o = Origin()
    try:
        yield o
    finally:
        o.stop()
