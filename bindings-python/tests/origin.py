"""The fault-injecting test origin (tests/origin, `bgcopy-test-origin`) as a child
process with a piped stdin: it exits when the pipe closes."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any, Dict, Tuple

ROOT = Path(__file__).resolve().parents[2]


def content_byte(i: int, version: int = 0) -> int:
    """Byte ``i`` of content version ``version`` served by the origin."""
    return ((i % 251) + 7 * version) % 256


def content(size: int, version: int = 0) -> bytes:
    """The first ``size`` bytes of content version ``version``."""
    return bytes(content_byte(i, version) for i in range(size))


def origin_binary() -> Path:
    """``$BGCOPY_TEST_ORIGIN``, else target/debug/bgcopy-test-origin (built if missing)."""
    env = os.environ.get("BGCOPY_TEST_ORIGIN")
    if env:
        return Path(env)
    path = ROOT / "target" / "debug" / "bgcopy-test-origin"
    if not path.exists():
        subprocess.run(["cargo", "build", "-q", "-p", "bgcopy-test-origin"], cwd=ROOT, check=True)
    return path


class Origin:
    """A running origin; ``stop()`` closes its stdin."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([str(origin_binary())], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.http: int = info["http"]
        self.https: int = info["https"]
        self.cert: str = info["cert"]
        #: HTTPS that requires a client certificate; one it accepts and its key.
        self.mtls: int = info["mtls"]
        self.client_cert: str = info["client_cert"]
        self.client_key: str = info["client_key"]

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    @property
    def https_base(self) -> str:
        return f"https://localhost:{self.https}"

    def url(self, name: str, params: str = "size=1024") -> str:
        """The URL of file ``name`` with query ``params``."""
        return f"{self.http_base}/f/{name}?{params}"

    def late(self, ms: int) -> int:
        """A port that refuses connections for ``ms``, then serves (``/late?ms=N``)."""
        with urllib.request.urlopen(f"{self.http_base}/late?ms={ms}", timeout=10) as r:
            return int(json.loads(r.read())["port"])

    def proxy(self, kind: str, auth: str = "") -> Tuple[str, int]:
        """A real proxy the origin starts (``/proxy``): ``"http"`` (tinyproxy) or
        ``"socks5"`` (microsocks), wanting ``auth`` ``"USER:PASS"`` if given; its URL
        and its id for ``proxy_log``."""
        q = f"&auth={auth}" if auth else ""
        with urllib.request.urlopen(f"{self.http_base}/proxy?kind={kind}{q}", timeout=30) as r:
            v = json.loads(r.read())
        scheme = "socks5h" if kind == "socks5" else "http"
        return f"{scheme}://127.0.0.1:{v['port']}", int(v["id"])

    def proxy_log(self, pid: int) -> Dict[str, Any]:
        """What proxy ``pid`` logged: ``{"connections", "established", "targets"}``."""
        with urllib.request.urlopen(f"{self.http_base}/proxylog/{pid}", timeout=10) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def stats(self, name: str) -> Dict[str, Any]:
        """The origin's ``/stats/<name>``."""
        with urllib.request.urlopen(f"{self.http_base}/stats/{name}", timeout=10) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
