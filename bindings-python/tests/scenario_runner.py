"""Runs one shared scenario (tests/scenarios/*.json, the step language of
tests/scenarios/README.md) through the Python module, like core/tests/scenarios.rs."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import bgcopy
from origin import Origin, content_byte


class StepFailed(AssertionError):
    pass


class Recorder:
    """The runner's recording callback: counts deliveries, can fail the first N, can
    complete the job from inside, and calls getters re-entrantly in every callback."""

    def __init__(self, fail_first: int = 0, complete_in_callback: bool = False) -> None:
        self.lock = threading.Lock()
        self.counts: Dict[str, int] = {}
        self.fail_first = fail_first
        self.complete_in_callback = complete_in_callback
        self.inner_results: List[str] = []

    def _hit(self, kind: str) -> None:
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if self.fail_first > 0:
                self.fail_first -= 1
                raise RuntimeError(f"recorder fails this {kind} on purpose")

    def count(self, kind: str) -> int:
        with self.lock:
            return self.counts.get(kind, 0)

    def job_transferred(self, job: bgcopy.CopyJob) -> None:
        self._hit("transferred")
        if self.complete_in_callback:
            try:
                out = job.complete().symbol
            except bgcopy.BgCopyError as e:
                out = e.symbol
            with self.lock:
                self.inner_results.append(out)

    def job_error(self, job: bgcopy.CopyJob, error: bgcopy.CopyError) -> None:
        job.get_state()
        job.get_progress()
        error.get_error()
        try:
            job.get_error()
        except bgcopy.BgCopyError:
            pass
        self._hit("error")

    def job_modification(self, job: bgcopy.CopyJob) -> None:
        job.get_progress()
        self._hit("modification")

    def file_transferred(self, job: bgcopy.CopyJob, file: bgcopy.CopyFile) -> None:
        file.get_progress()
        self._hit("file_transferred")


def _bytes(n: int) -> Any:
    return "UNKNOWN" if n == bgcopy.BYTES_UNKNOWN else n


def _long(v: Any) -> Any:
    if isinstance(v, dict):
        return str(v.get("repeat", "x")) * int(v.get("count", 0))
    return v


def count_matches(spec: Any, n: int) -> bool:
    s = str(spec).strip()
    if s.startswith(">="):
        return n >= int(s[2:])
    if s.startswith("<="):
        return n <= int(s[2:])
    return n == int(s)


def matches(want: Any, got: Any) -> bool:
    """``want`` matches ``got``: "any" matches anything, {"contains": s} a string
    containing s, objects key by key (extra keys ignored), arrays element-wise."""
    if want == "any":
        return True
    if isinstance(want, dict) and "contains" in want and isinstance(got, str):
        return str(want["contains"]) in got
    if isinstance(want, dict) and isinstance(got, dict):
        return all(matches(v, got.get(k)) for k, v in want.items())
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(matches(a, b) for a, b in zip(want, got))
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got
    return bool(want == got)


def temp_files(d: Path) -> List[str]:
    return sorted(str(p) for p in d.rglob("*.bgcopy-part"))


class Run:
    def __init__(self, origin: Origin, spec: Dict[str, Any], directory: Path) -> None:
        self.origin = origin
        self.dir = directory
        self.opts = self._options(spec.get("manager") or {})
        self.manager: Optional[bgcopy.CopyManager] = None
        self.jobs: Dict[str, bgcopy.CopyJob] = {}
        self.recorders: Dict[str, Recorder] = {}

    def _options(self, m: Dict[str, Any]) -> Dict[str, Any]:
        o: Dict[str, Any] = {}
        for key in ("background_slots", "connections_per_job", "checkpoint_bytes",
                    "max_redirects", "background_bandwidth_limit"):
            if key in m:
                o[key] = m[key]
        for key, name in (("read_timeout_ms", "read_timeout"),
                          ("notify_interval_ms", "notify_interval"),
                          ("time_slice_ms", "time_slice"),
                          ("checkpoint_interval_ms", "checkpoint_interval")):
            if key in m:
                o[name] = m[key] / 1000.0
        if m.get("trust_origin_cert") is True:
            o["tls_root_certs"] = [self.origin.cert]
        return o

    def open(self) -> None:
        self.manager = bgcopy.CopyManager.open(self.dir / "state", **self.opts)

    def close(self) -> None:
        if self.manager is not None:
            self.manager.close()
            self.manager = None

    def subst(self, v: Any) -> Any:
        if isinstance(v, str):
            s = (v.replace("{http}", self.origin.http_base)
                 .replace("{https}", self.origin.https_base)
                 .replace("{dir}", str(self.dir)))
            while "{job:" in s:
                i = s.index("{job:")
                end = s.find("}", i)
                end = len(s) - 1 if end < 0 else end
                alias = s[i + 5:end]
                job = self.jobs.get(alias)
                s = s[:i] + (job.get_id() if job else "") + s[end + 1:]
            return s
        if isinstance(v, list):
            return [self.subst(x) for x in v]
        if isinstance(v, dict):
            return {k: self.subst(x) for k, x in v.items()}
        return v

    def mgr(self) -> bgcopy.CopyManager:
        if self.manager is None:
            raise StepFailed("manager is closed")
        return self.manager

    def job(self, step: Dict[str, Any]) -> bgcopy.CopyJob:
        alias = step.get("job")
        if alias not in self.jobs:
            raise StepFailed(f"unknown job alias {alias}")
        return self.jobs[alias]

    def step(self, raw: Dict[str, Any]) -> None:
        step = self.subst(raw)
        op = step["op"]
        expect = step.get("expect", "OK")
        args = step.get("args") or []
        timeout = step.get("timeout_ms", 30000) / 1000.0
        if op == "create":
            alias = step["job"]
            ty = getattr(bgcopy.JobType, step.get("type", "DOWNLOAD"))
            job = check(lambda: self.mgr().create_job(step.get("name", alias), ty), expect, "create")
            if job is not None:
                self.jobs[alias] = job
        elif op == "call":
            job = self.job(step)
            method = step["method"]
            finish(lambda: self.call(job, method, args, step), expect, step.get("result"), method)
        elif op == "manager":
            method = step["method"]
            finish(lambda: self.manager_call(method, args), expect, step.get("result"), method)
        elif op == "wait_state":
            job = self.job(step)
            want = step["state"]
            start = time.monotonic()
            while True:
                s = job.get_state()
                if s.name == want:
                    return
                if time.monotonic() - start > timeout:
                    err = job.error
                    raise StepFailed(f"state {s.name} after {timeout}s, wanted {want} "
                                     f"({err.description if err else ''})")
                time.sleep(0.01)
        elif op == "wait_bytes":
            job = self.job(step)
            want = step["at_least"]
            start = time.monotonic()
            while True:
                p = job.get_progress()
                if p.bytes_transferred >= want:
                    return
                if time.monotonic() - start > timeout:
                    raise StepFailed(f"{p.bytes_transferred} bytes after {timeout}s, wanted "
                                     f"{want} (state {job.get_state().name})")
                time.sleep(0.005)
        elif op == "expect_file":
            path = Path(step["path"])
            exists = step.get("exists", True)
            if path.exists() != exists:
                raise StepFailed(f"{path} exists: {not exists}, wanted {exists}")
            if "size" in step:
                data = path.read_bytes()
                size = step["size"]
                if len(data) != size:
                    raise StepFailed(f"{path} has {len(data)} bytes, wanted {size}")
                version = step.get("version", 0)
                expected = bytes(content_byte(i, version) for i in range(min(size, 251)))
                for off in range(0, size, 251):
                    chunk = data[off:off + 251]
                    if chunk != expected[:len(chunk)]:
                        i = next(k for k in range(len(chunk)) if chunk[k] != expected[k])
                        raise StepFailed(f"{path} differs at byte {off + i}")
        elif op == "expect_temp_files":
            want = step.get("count", 0)
            got = temp_files(self.dir)
            if len(got) != want:
                raise StepFailed(f"{len(got)} temp files, wanted {want}: {got}")
        elif op == "expect_notifications":
            alias = step["job"]
            rec = self.recorders.get(alias)
            if rec is None:
                raise StepFailed("no recorder on that job")
            start = time.monotonic()
            while True:
                bad = None
                for kind in ("transferred", "error", "modification", "file_transferred"):
                    if kind in step:
                        n = rec.count(kind)
                        if not count_matches(step[kind], n):
                            bad = f"{kind}: {n}, wanted {step[kind]}"
                if "inner_results" in step:
                    with rec.lock:
                        got_inner = list(rec.inner_results)
                    if got_inner != step["inner_results"]:
                        bad = f"inner results {got_inner}, wanted {step['inner_results']}"
                if bad is None:
                    return
                if time.monotonic() - start > timeout:
                    raise StepFailed(bad)
                time.sleep(0.02)
        elif op == "expect_origin":
            name = step["name"]
            stats = self.origin.stats(name)
            if "requests" in step and stats["requests"] != step["requests"]:
                raise StepFailed(f"origin {name}: {stats}, wanted {step['requests']} requests")
            if "bytes_sent_max" in step and stats["bytes_sent"] > step["bytes_sent_max"]:
                raise StepFailed(f"origin {name}: {stats}, wanted at most "
                                 f"{step['bytes_sent_max']} bytes sent")
            if "range_requests" in step:
                n = sum(1 for r in stats["ranges"] if r)
                if n != step["range_requests"]:
                    raise StepFailed(f"origin {name}: {stats}, wanted "
                                     f"{step['range_requests']} range requests")
        elif op == "sleep":
            time.sleep(step.get("ms", 0) / 1000.0)
        else:
            raise StepFailed(f"unknown op {op}")

    def manager_call(self, method: str, args: List[Any]) -> Any:
        if method == "get_job":
            return self.mgr().get_job(args[0] if args else "").get_id()
        if method == "enum_jobs":
            out = []
            for j in self.mgr().enum_jobs():
                alias = next((k for k, v in self.jobs.items() if v.get_id() == j.get_id()), None)
                out.append(alias if alias is not None else j.get_id())
            return out
        if method == "close":
            m = self.mgr()
            self.manager = None
            m.close()
            return None
        if method == "reopen":
            self.close()
            self.open()
            for alias, job in list(self.jobs.items()):
                try:
                    self.jobs[alias] = self.mgr().get_job(job.get_id())
                except bgcopy.BgCopyError:
                    pass
            return None
        raise StepFailed(f"unknown manager method {method}")

    def call(self, job: bgcopy.CopyJob, method: str, args: List[Any], step: Dict[str, Any]) -> Any:
        if method == "add_file":
            return job.add_file(args[0], args[1])
        if method == "add_file_set":
            return job.add_file_set([(p[0], p[1]) for p in args[0]])
        if method == "enum_files":
            out = []
            for f in job.enum_files():
                p = f.get_progress()
                out.append({
                    "remote_name": f.get_remote_name(),
                    "local_name": f.get_local_name(),
                    "bytes_total": _bytes(p.bytes_total),
                    "bytes_transferred": p.bytes_transferred,
                    "completed": p.completed,
                })
            return out
        if method in ("suspend", "resume", "cancel"):
            return getattr(job, method)()
        if method == "complete":
            return job.complete().symbol
        if method == "get_id":
            return job.get_id()
        if method in ("get_type", "get_state", "get_priority"):
            return getattr(job, method)().name
        if method == "get_progress":
            jp = job.get_progress()
            return {
                "bytes_total": _bytes(jp.bytes_total),
                "bytes_transferred": jp.bytes_transferred,
                "files_total": jp.files_total,
                "files_transferred": jp.files_transferred,
            }
        if method == "get_times":
            t = job.get_times()
            for v in (t.creation_time, t.modification_time, t.transfer_completion_time):
                assert v is None or v.tzinfo is not None, "times must be aware datetimes"
            return {
                "creation_time": "set",
                "modification_time": "set" if t.modification_time >= t.creation_time
                else "before creation",
                "transfer_completion_time": None if t.transfer_completion_time is None else "set",
            }
        if method == "get_error":
            e = job.get_error()
            ctx, code = e.get_error()
            try:
                protocol: Optional[str] = e.get_protocol()
            except bgcopy.ProtocolNotAvailableError:
                protocol = None
            try:
                file: Optional[int] = e.get_file().index
            except bgcopy.FileNotAvailableError:
                file = None
            return {
                "context": ctx.name,
                "code": bgcopy.codes.symbol(code),
                "protocol": protocol,
                "file": file,
                "description": e.get_error_description(),
                "context_description": e.get_error_context_description(),
            }
        if method in ("get_display_name", "get_description", "get_notify_flags",
                      "get_no_progress_timeout", "get_minimum_retry_delay", "get_error_count"):
            v = getattr(job, method)()
            return int(v) if method == "get_notify_flags" else v
        if method in ("set_display_name", "set_description"):
            return getattr(job, method)(_long(args[0]))
        if method == "set_priority":
            return job.set_priority(bgcopy.Priority[args[0]])
        if method in ("set_notify_flags", "set_no_progress_timeout", "set_minimum_retry_delay"):
            return getattr(job, method)(args[0])
        if method == "get_notify_interface":
            return None if job.get_notify_interface() is None else "set"
        if method == "set_notify_interface":
            o = args[0] if args else None
            if isinstance(o, dict):
                rec = Recorder(int(o.get("fail_first", 0)), bool(o.get("complete_in_callback", False)))
                self.recorders[step["job"]] = rec
                job.set_notify_interface(rec)
                assert job.get_notify_interface() is rec
            else:
                job.set_notify_interface(None)
            return None
        if method == "wait":
            ms = args[0] if args else 30000
            return job.wait(ms / 1000.0).name
        raise StepFailed(f"unknown job method {method}")


def check(f: Any, expect: str, what: str) -> Any:
    try:
        v = f()
    except bgcopy.BgCopyError as e:
        if e.symbol == expect:
            return None
        raise StepFailed(f"{what}: failed with {e}, wanted {expect}") from e
    if expect != "OK":
        raise StepFailed(f"{what}: succeeded, wanted {expect}")
    return v


def finish(f: Any, expect: str, want: Any, what: str) -> None:
    try:
        v = f()
    except bgcopy.BgCopyError as e:
        if e.symbol == expect:
            return
        raise StepFailed(f"{what}: failed with {e}, wanted {expect}") from e
    if expect != "OK":
        raise StepFailed(f"{what}: succeeded, wanted {expect}")
    if want is not None and not matches(want, v):
        raise StepFailed(f"{what} returned {v!r}, wanted {want!r}")


def run_scenario(origin: Origin, path: Path) -> float:
    """Run one scenario file; raise StepFailed naming the failing step. Returns seconds."""
    start = time.monotonic()
    spec = json.loads(path.read_text())
    directory = Path(tempfile.mkdtemp(prefix=f"bgcopy-py-scn-{path.stem}-"))
    run = Run(origin, spec, directory)
    try:
        run.open()
        for i, step in enumerate(spec["steps"]):
            try:
                run.step(step)
            except StepFailed as e:
                raise StepFailed(f"step {i + 1} {json.dumps(step)}: {e}") from None
    finally:
        try:
            run.close()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    return time.monotonic() - start


def scenario_paths() -> List[Path]:
    root = Path(__file__).resolve().parents[2] / "tests" / "scenarios"
    only = os.environ.get("BGCOPY_SCENARIO")
    return sorted(p for p in root.glob("*.json") if not only or p.stem == only)
