"""The core's log records reach Python's ``logging`` (logger ``bgcopy``)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import List

import bgcopy
from origin import Origin


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_records_reach_logging_at_the_loggers_level(origin: Origin, tmp_path: Path) -> None:
    logger = logging.getLogger("bgcopy")
    keep = Keep()
    logger.addHandler(keep)
    old = logger.level
    try:
        # The default level (WARNING) produces nothing for a good download.
        logger.setLevel(logging.WARNING)
        time.sleep(1.5)  # the bridge reads the level at least every 0.5 s
        with bgcopy.CopyManager.open(tmp_path / "s1") as m:
            job = m.create_job("quiet")
            job.add_file(origin.url("log-w", "size=2000"), str(tmp_path / "w.bin"))
            job.resume()
            assert job.wait(30) == bgcopy.JobState.TRANSFERRED
            job.complete()
        time.sleep(1.5)
        assert [r for r in keep.records if r.levelno < logging.WARNING] == []

        logger.setLevel(logging.DEBUG)
        time.sleep(1.5)
        with bgcopy.CopyManager.open(tmp_path / "s2") as m:
            job = m.create_job("loud")
            url = origin.url("log-d", "size=3000&token=s3cr3t")
            job.add_file(url, str(tmp_path / "d.bin"))
            job.resume()
            assert job.wait(30) == bgcopy.JobState.TRANSFERRED
            job.complete()
            jid = job.id
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(
            "-> TRANSFERRED" in r.getMessage() for r in keep.records
        ):
            time.sleep(0.05)
        by_name = {(r.name, r.levelname) for r in keep.records}
        assert ("bgcopy.job", "INFO") in by_name, by_name
        assert ("bgcopy.http", "DEBUG") in by_name, by_name
        text = "\n".join(r.getMessage() for r in keep.records)
        assert f"job {jid}: " in text and "-> TRANSFERRED" in text, text
        assert "GET http://127.0.0.1:" in text and "/log-d?…" in text, text
        assert "s3cr3t" not in text, "the query is never logged"
    finally:
        logger.setLevel(old)
        logger.removeHandler(keep)
