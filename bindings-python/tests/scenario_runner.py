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
from typing import Any, Dict, List, Optional, Tuple

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
        if job.get_state() in (bgcopy.JobState.ACKNOWLEDGED, bgcopy.JobState.CANCELLED):
            with self.lock:
                self.counts["final_modification"] = self.counts.get("final_modification", 0) + 1
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
    if isinstance(want, dict) and "lacks" in want and isinstance(got, str):
        return str(want["lacks"]) not in got
    if isinstance(want, dict) and isinstance(got, dict):
        return all(matches(v, got.get(k)) for k, v in want.items())
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(matches(a, b) for a, b in zip(want, got))
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got
    return bool(want == got)


_MISSING = object()
ROOT = Path(__file__).resolve().parents[2]
SCHEMA: Dict[str, Any] = json.loads((ROOT / "tests" / "scenario_schema.json").read_text())


def check_keys(what: str, obj: Any, *allowed: List[str]) -> None:
    """Reject keys tests/scenario_schema.json does not list (a misspelt expectation)."""
    if not isinstance(obj, dict):
        return
    known = set().union(*allowed)
    for k in obj:
        if k not in known:
            raise StepFailed(f"{what}: unknown key {k!r}")


def ms_of(t: Any) -> Optional[int]:
    """An aware datetime as milliseconds since the epoch (None stays None)."""
    if t is None:
        return None
    assert t.tzinfo is not None, "times must be aware datetimes"
    return round(t.timestamp() * 1000)


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
        self.times: Dict[str, Any] = {}
        self.late: Optional[str] = None
        self.proxy: Optional[Tuple[str, int]] = None

    def _options(self, m: Dict[str, Any]) -> Dict[str, Any]:
        """The keyword options of CopyManager.open (names checked by the core's
        option table): ``name_ms`` keys are durations in seconds for ``name``."""
        o: Dict[str, Any] = {}
        for key, value in m.items():
            if key == "trust_origin_cert":
                if value is True:
                    o["tls_root_certs"] = [self.origin.cert]
            elif key.endswith("_ms"):
                o[key[: -len("_ms")]] = value / 1000.0
            else:
                o[key] = value
        return o

    def open(self) -> None:
        self.manager = bgcopy.CopyManager.open(self.dir / "state", **self.opts)

    def close(self) -> None:
        if self.manager is not None:
            self.manager.close()
            self.manager = None

    def subst(self, v: Any) -> Any:
        if isinstance(v, str):
            if self.late is not None:
                v = v.replace("{late}", self.late)
            v = (
                v.replace("{mtls}", f"https://localhost:{self.origin.mtls}")
                .replace("{client_cert}", self.origin.client_cert)
                .replace("{client_key}", self.origin.client_key)
            )
            if self.proxy is not None:
                v = v.replace("{proxy}", self.proxy[0])
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
        if op not in SCHEMA["ops"]:
            raise StepFailed(f"unknown op {op}")
        check_keys(op, step, SCHEMA["step"], SCHEMA["ops"][op])
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
            finish(lambda: self.call(job, method, args, step), expect,
                   step.get("result", _MISSING), method)
        elif op == "manager":
            method = step["method"]
            finish(lambda: self.manager_call(method, args), expect,
                   step.get("result", _MISSING), method)
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
        elif op == "measure_bytes":
            job = self.job(step)
            lo, hi = step["min"], step["max"]
            first = job.get_progress().bytes_transferred
            time.sleep(step["ms"] / 1000.0)
            moved = job.get_progress().bytes_transferred - first
            if not lo <= moved <= hi:
                raise StepFailed(f"{moved} bytes in {step['ms']} ms, wanted {lo}..{hi}")
        elif op == "expect_times":
            self.expect_times(step)
        elif op == "proxy":
            self.proxy = self.origin.proxy(step.get("kind", "http"), step.get("auth", ""))
        elif op == "expect_proxy":
            assert self.proxy is not None, "expect_proxy before proxy"
            log = self.origin.proxy_log(self.proxy[1])
            for key in ("connections", "established"):
                if key in step and log[key] != step[key]:
                    raise StepFailed(f"proxy: {log}, wanted {key} {step[key]}")
        elif op == "late_origin":
            self.late = f"http://127.0.0.1:{self.origin.late(step.get('ms', 2000))}"
        elif op == "mkdir":
            Path(step["path"]).mkdir(parents=True, exist_ok=True)
        elif op == "remove":
            p = Path(step["path"])
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
        elif op == "expect_notifications":
            alias = step["job"]
            rec = self.recorders.get(alias)
            if rec is None:
                raise StepFailed("no recorder on that job")
            kinds = [k for k in ("transferred", "error", "modification", "file_transferred",
                                 "final_modification") if k in step]

            def mismatch() -> Optional[str]:
                for kind in kinds:
                    n = rec.count(kind)
                    if not count_matches(step[kind], n):
                        return f"{kind}: {n}, wanted {step[kind]}"
                if "inner_results" in step:
                    with rec.lock:
                        got_inner = list(rec.inner_results)
                    if got_inner != step["inner_results"]:
                        return f"inner results {got_inner}, wanted {step['inner_results']}"
                return None

            start = time.monotonic()
            while True:
                bad = mismatch()
                if bad is None:
                    break
                if time.monotonic() - start > timeout:
                    raise StepFailed(bad)
                time.sleep(0.02)
            # Exact counts must also stay put: an extra delivery shows up within a
            # coalescing interval.
            if any(not str(step[k]).strip().startswith((">=", "<=")) for k in kinds):
                stable = step.get("stable_ms", 600)
                time.sleep(stable / 1000.0)
                bad = mismatch()
                if bad is not None:
                    raise StepFailed(f"{bad} ({stable} ms after the counts matched)")
        elif op == "expect_origin":
            name = step["name"]
            stats = self.origin.stats(name)
            if "requests" in step and stats["requests"] != step["requests"]:
                raise StepFailed(f"origin {name}: {stats}, wanted {step['requests']} requests")
            if "bytes_sent_max" in step and stats["bytes_sent"] > step["bytes_sent_max"]:
                raise StepFailed(f"origin {name}: {stats}, wanted at most "
                                 f"{step['bytes_sent_max']} bytes sent")
            if "headers" in step:
                got_h = ["\n".join(h) for h in stats["headers"]]
                if not matches(step["headers"], got_h):
                    raise StepFailed(f"origin {step['name']}: headers {got_h}, wanted {step['headers']}")
            if "if_ranges" in step and not matches(step["if_ranges"], stats["if_ranges"]):
                raise StepFailed(f"origin {name}: {stats}, wanted If-Range {step['if_ranges']}")
            if "range_from_min" in step:
                starts = [a for a in stats["range_starts"] if a is not None]
                if not starts or any(a < step["range_from_min"] for a in starts):
                    raise StepFailed(f"origin {name}: {stats}, wanted ranges starting at >= "
                                     f"{step['range_from_min']}")
            if "min_gap_ms" in step:
                at = stats["at_ms"]
                for a, b in zip(at, at[1:]):
                    if b - a < step["min_gap_ms"]:
                        raise StepFailed(f"origin {name}: requests {b - a} ms apart, wanted "
                                         f">= {step['min_gap_ms']}")
            range_requests = sum(1 for r in stats["ranges"] if r)
            if "range_requests" in step and range_requests != step["range_requests"]:
                raise StepFailed(f"origin {name}: {stats}, wanted "
                                 f"{step['range_requests']} range requests")
            if "min_range_requests" in step and range_requests < step["min_range_requests"]:
                raise StepFailed(f"origin {name}: {stats}, wanted at least "
                                 f"{step['min_range_requests']} range requests")
        elif op == "sleep":
            time.sleep(step.get("ms", 0) / 1000.0)
        else:
            raise StepFailed(f"unknown op {op}")

    def expect_times(self, step: Dict[str, Any]) -> None:
        t = self.job(step).get_times()
        c, m, done = ms_of(t.creation_time), ms_of(t.modification_time), \
            ms_of(t.transfer_completion_time)
        got = f"creation {c}, modification {m}, completion {done}"

        def saved(key: str) -> Any:
            name = step[key]
            if name not in self.times:
                raise StepFailed(f"no times saved as {name}")
            return self.times[name]

        if "creation_within_ms" in step and abs(time.time() * 1000 - c) > step["creation_within_ms"]:
            raise StepFailed(f"{got}: creation not within {step['creation_within_ms']} ms of now")
        if "modification_after" in step and m <= saved("modification_after")[1]:
            raise StepFailed(f"{got}: modification not after {saved('modification_after')[1]}")
        if "completion" in step:
            if step["completion"] is None and done is not None:
                raise StepFailed(f"{got}: completion set, wanted unset")
            if step["completion"] == "set" and done is None:
                raise StepFailed(f"{got}: completion unset, wanted set")
        if "completion_after" in step:
            before = saved("completion_after")[1]
            if done is None or done <= before:
                raise StepFailed(f"{got}: completion not after {before}")
        if step.get("completion_is_modification") is True and done != m:
            raise StepFailed(f"{got}: completion is not the modification time")
        if "save" in step:
            self.times[step["save"]] = (c, m, done)

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
        if method in ("set_background_bandwidth_limit", "get_background_bandwidth_limit"):
            return getattr(self.mgr(), method)(*args)
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
            return {
                "creation_time": ms_of(t.creation_time),
                "modification_time": ms_of(t.modification_time),
                "transfer_completion_time": ms_of(t.transfer_completion_time),
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
        if method == "set_credentials":
            return job.set_credentials(
                bgcopy.AuthTarget[args[0]], bgcopy.AuthScheme[args[1]], args[2], args[3]
            )
        if method == "remove_credentials":
            return job.remove_credentials(bgcopy.AuthTarget[args[0]], bgcopy.AuthScheme[args[1]])
        if method in ("get_maximum_download_time", "set_maximum_download_time",
                      "get_max_connections_per_file", "set_max_connections_per_file",
                      "get_bandwidth_limit", "set_bandwidth_limit", "replace_remote_prefix"):
            return getattr(job, method)(*args)
        if method == "set_client_certificate":
            return job.set_client_certificate(args[0], args[1])
        if method == "remove_client_certificate":
            return job.remove_client_certificate()
        if method in ("set_custom_headers", "set_security_flags"):
            return getattr(job, method)(args[0])
        if method in ("get_custom_headers", "get_security_flags", "make_custom_headers_write_only"):
            v = getattr(job, method)()
            return int(v) if method == "get_security_flags" else v
        if method in ("get_final_url", "get_temporary_name"):
            return getattr(job.enum_files()[args[0]], method)()
        if method == "set_proxy_settings":
            return job.set_proxy_settings(bgcopy.ProxyUsage[args[0]], args[1], args[2])
        if method == "get_proxy_settings":
            usage, proxy, bypass = job.get_proxy_settings()
            return {"usage": usage.name, "proxy": proxy, "bypass": bypass}
        if method == "set_remote_name":
            return job.enum_files()[args[0]].set_remote_name(args[1])
        if method in ("set_expected_hash", "set_validation_state"):
            return getattr(job.enum_files()[args[0]], method)(*args[1:])
        if method == "get_expected_hash":
            h = job.enum_files()[args[0]].get_expected_hash()
            return None if h is None else list(h)
        if method == "get_validation_state":
            return job.enum_files()[args[0]].get_validation_state()
        if method == "get_response_headers":
            return "\n".join(job.enum_files()[args[0]].get_response_headers())
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
    # No "result" key: not checked; "result": null checks for None.
    if want is not _MISSING and not matches(want, v):
        raise StepFailed(f"{what} returned {v!r}, wanted {want!r}")


def run_scenario(origin: Origin, path: Path) -> float:
    """Run one scenario file; raise StepFailed naming the failing step. Returns seconds."""
    start = time.monotonic()
    spec = json.loads(path.read_text())
    check_keys("scenario", spec, SCHEMA["scenario"])
    check_keys("manager", spec.get("manager") or {}, SCHEMA["manager"])
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
    root = ROOT / "tests" / "scenarios"
    only = os.environ.get("BGCOPY_SCENARIO")
    return sorted(p for p in root.glob("*.json") if not only or p.stem == only)
