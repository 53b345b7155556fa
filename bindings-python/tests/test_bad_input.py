"""docs/spec.md §5: every bad input raises the right BgCopyError (never a crash, hang or
silent success) and changes nothing."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Iterator, Type

import pytest

import bgcopy

INVALID_ARG = "INVALID_ARG"


def raises(f: Callable[[], Any], symbol: str = INVALID_ARG,
           cls: Type[BaseException] = bgcopy.BgCopyError) -> bgcopy.BgCopyError:
    with pytest.raises(cls) as ei:
        f()
    e = ei.value
    assert isinstance(e, bgcopy.BgCopyError), repr(e)
    assert e.symbol == symbol, f"{e!r}: wanted {symbol}"
    assert e.code == bgcopy.codes.from_symbol(symbol)
    return e


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[bgcopy.CopyManager]:
    with bgcopy.CopyManager.open(tmp_path / "state", start_transfers=False) as m:
        yield m


@pytest.fixture
def job(manager: bgcopy.CopyManager) -> bgcopy.CopyJob:
    return manager.create_job("bad input")


URL = "http://127.0.0.1:9/f"


def test_none_where_a_value_is_required(job: bgcopy.CopyJob, manager: bgcopy.CopyManager,
                                        tmp_path: Path) -> None:
    local = str(tmp_path / "a.bin")
    for f in (
        lambda: job.add_file(None, local),  # type: ignore[arg-type]
        lambda: job.add_file(URL, None),  # type: ignore[arg-type]
        lambda: job.add_file_set(None),  # type: ignore[arg-type]
        lambda: job.add_file_set([None]),  # type: ignore[list-item]
        lambda: job.set_display_name(None),  # type: ignore[arg-type]
        lambda: job.set_description(None),  # type: ignore[arg-type]
        lambda: job.set_priority(None),  # type: ignore[arg-type]
        lambda: job.set_notify_flags(None),  # type: ignore[arg-type]
        lambda: job.set_no_progress_timeout(None),  # type: ignore[arg-type]
        lambda: job.set_minimum_retry_delay(None),  # type: ignore[arg-type]
        lambda: manager.create_job(None),  # type: ignore[arg-type]
        lambda: manager.get_job(None),  # type: ignore[arg-type]
    ):
        e = raises(f, cls=bgcopy.InvalidArgTypeError)
        assert isinstance(e, TypeError) and isinstance(e, ValueError)
    assert job.enum_files() == []


def test_wrong_types(job: bgcopy.CopyJob, tmp_path: Path) -> None:
    local = str(tmp_path / "a.bin")
    raises(lambda: job.add_file(b"http://x/y", local))  # type: ignore[arg-type]
    raises(lambda: job.add_file(42, local))  # type: ignore[arg-type]
    raises(lambda: job.add_file(URL, 3.5))  # type: ignore[arg-type]
    raises(lambda: job.add_file_set("not pairs"))  # type: ignore[arg-type]
    raises(lambda: job.add_file_set([(URL,)]))  # type: ignore[list-item]
    raises(lambda: job.add_file_set([(URL, local, "extra")]))  # type: ignore[list-item]
    raises(lambda: job.add_file_set(5))  # type: ignore[arg-type]
    raises(lambda: job.set_priority("HIGH"))  # type: ignore[arg-type]
    raises(lambda: job.set_priority(True))  # type: ignore[arg-type]
    raises(lambda: job.set_priority(1.0))  # type: ignore[arg-type]
    raises(lambda: job.set_minimum_retry_delay(1.5))  # type: ignore[arg-type]
    raises(lambda: job.set_no_progress_timeout("60"))  # type: ignore[arg-type]
    raises(lambda: job.wait("soon"))  # type: ignore[arg-type]
    raises(lambda: job.set_notify_interface(object()))
    raises(lambda: job.set_notify_interface(42))
    assert job.get_priority() is bgcopy.Priority.NORMAL and job.enum_files() == []


def test_strings(job: bgcopy.CopyJob, tmp_path: Path) -> None:
    local = str(tmp_path / "a.bin")
    raises(lambda: job.add_file(URL + "\0x", local))
    raises(lambda: job.add_file(URL, local + "\0"))
    raises(lambda: job.add_file("http://x/\udcff", local))  # lone surrogate: not UTF-8
    raises(lambda: job.add_file(URL, str(tmp_path) + "/\udcff.bin"))
    raises(lambda: job.add_file(URL, b"/tmp/\xff.bin"))
    raises(lambda: job.set_display_name("a\0b"))
    raises(lambda: job.set_description("\udc80"))
    raises(lambda: job.set_display_name("x" * 257), "STRING_TOO_LONG", bgcopy.StringTooLongError)
    raises(lambda: job.set_description("x" * 1025), "STRING_TOO_LONG", ValueError)
    job.set_display_name("x" * 256)
    job.set_description("é" * 1024)
    assert job.get_display_name() == "x" * 256


def test_urls_and_paths(job: bgcopy.CopyJob, tmp_path: Path) -> None:
    local = str(tmp_path / "a.bin")
    for url in ("not a url", "ftp://h/x", "file:///etc/passwd", "http://", "/relative",
                "http://h/x\r\nX-Evil: 1", "http://h/a b", ""):
        raises(lambda: job.add_file(url, local))
    for path in ("relative/a.bin", str(tmp_path / "no" / "such" / "a.bin"), str(tmp_path),
                 str(tmp_path) + "/", ""):
        raises(lambda: job.add_file(URL, path))
    job.add_file(URL, local)
    raises(lambda: job.add_file(URL, local))  # already a file of the job
    raises(lambda: job.add_file_set([(URL, str(tmp_path / "b")), (URL, str(tmp_path / "b"))]))
    raises(lambda: job.add_file_set([(URL, str(tmp_path / "c")), ("gopher://x", str(tmp_path / "d"))]))
    assert len(job.enum_files()) == 1  # all or nothing
    job.add_file_set([])


def test_numbers_out_of_range(job: bgcopy.CopyJob) -> None:
    raises(lambda: job.set_priority(4))  # type: ignore[arg-type]
    raises(lambda: job.set_priority(-1))  # type: ignore[arg-type]
    raises(lambda: job.set_notify_flags(0x20))
    raises(lambda: job.set_notify_flags(-1))
    raises(lambda: job.set_notify_flags(2**40))
    raises(lambda: job.set_no_progress_timeout(-1))
    raises(lambda: job.set_no_progress_timeout(2**32))
    raises(lambda: job.set_minimum_retry_delay(2**64))
    for t in (-1, -0.5, math.nan, float("-inf")):
        raises(lambda: job.wait(t))
    assert job.wait(0) is bgcopy.JobState.SUSPENDED
    job.set_no_progress_timeout(2**32 - 1)
    assert job.get_no_progress_timeout() == 2**32 - 1
    job.set_notify_flags(bgcopy.NotifyFlags.DISABLE)


def test_wrong_state(manager: bgcopy.CopyManager, tmp_path: Path) -> None:
    job = manager.create_job("wrong state")
    raises(lambda: job.resume(), "EMPTY", bgcopy.EmptyError)
    assert job.get_state() is bgcopy.JobState.SUSPENDED
    raises(lambda: job.get_error(), "ERROR_INFORMATION_UNAVAILABLE")
    job.cancel()
    for f in (job.resume, job.suspend, job.cancel, job.complete,
              lambda: job.add_file(URL, str(tmp_path / "z")),
              lambda: job.set_priority(bgcopy.Priority.HIGH),
              lambda: job.set_display_name("x"),
              lambda: job.set_notify_interface(None)):
        raises(f, "INVALID_STATE", bgcopy.InvalidStateError)
    raises(lambda: manager.get_job(job.id), "NOT_FOUND", bgcopy.NotFoundError)


def test_manager_arguments(tmp_path: Path) -> None:
    m = bgcopy.CopyManager
    raises(lambda: m.open(str(tmp_path) + "/a\0b"))
    raises(lambda: m.open(42))  # type: ignore[arg-type]
    raises(lambda: m.open(tmp_path / "s1", background_slots=0))
    raises(lambda: m.open(tmp_path / "s1", connections_per_job=0))
    raises(lambda: m.open(tmp_path / "s1", background_slots=-1))
    raises(lambda: m.open(tmp_path / "s1", read_timeout=-1))
    raises(lambda: m.open(tmp_path / "s1", read_timeout=math.inf))
    raises(lambda: m.open(tmp_path / "s1", notify_interval="fast"))  # type: ignore[arg-type]
    raises(lambda: m.open(tmp_path / "s1", start_transfers=1))  # type: ignore[arg-type]
    raises(lambda: m.open(tmp_path / "s1", tls_root_certs="/a.pem"))  # type: ignore[arg-type]
    raises(lambda: m.open(tmp_path / "s1", tls_root_certs=[str(tmp_path / "missing.pem")]),
           "PATH_NOT_FOUND", bgcopy.LocalFileError)
    raises(lambda: m.open(tmp_path / "s1", background_bandwidth_limit=0))
    raises(lambda: m.open(tmp_path / "s1", user_agent="a\r\nb"))
    with m.open(tmp_path / "s1", start_transfers=False) as mm:
        raises(lambda: mm.get_job("not-a-uuid"))
        raises(lambda: mm.get_job("x\0"))
        raises(lambda: mm.create_job("x", 7))  # type: ignore[arg-type]
        raises(lambda: mm.create_job("up", bgcopy.JobType.UPLOAD), "NOT_IMPLEMENTED",
               NotImplementedError)
        raises(lambda: mm.create_job("x" * 257), "STRING_TOO_LONG")


def test_closed_manager(tmp_path: Path) -> None:
    m = bgcopy.CopyManager.open(tmp_path / "state", start_transfers=False)
    job = m.create_job("before close")
    m.close()
    for f in (lambda: m.create_job("x"), m.enum_jobs, lambda: m.get_job(job.id),
              job.resume, lambda: job.set_description("x")):
        raises(f, "INVALID_STATE", bgcopy.InvalidStateError)
    assert job.get_state() is bgcopy.JobState.SUSPENDED  # getters keep answering
    assert job.wait(0) is bgcopy.JobState.SUSPENDED
