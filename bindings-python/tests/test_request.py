"""What a job adds to its requests (custom headers, write-only, security flags),
against the test origin, whose /stats shows the headers each request carried."""

from __future__ import annotations

from pathlib import Path

import pytest

import bgcopy
from origin import Origin, content


def test_custom_headers_reach_the_origin_and_can_be_made_write_only(
    origin: Origin, tmp_path: Path
) -> None:
    with bgcopy.CopyManager.open(tmp_path / "state") as m:
        job = m.create_job("headers", bgcopy.JobType.DOWNLOAD)
        job.add_file(origin.url("py-rq-h", "size=3000"), str(tmp_path / "h.bin"))
        assert job.get_custom_headers() == []
        job.set_custom_headers(["X-Token:  py-1 ", "X-Other: 2"])
        assert job.get_custom_headers() == ["X-Token: py-1", "X-Other: 2"]
        job.make_custom_headers_write_only()
        with pytest.raises(bgcopy.BgCopyError) as e:
            job.get_custom_headers()
        assert e.value.code == bgcopy.codes.ACCESS_DENIED
        assert "py-1" not in str(e.value)
        job.resume()
        assert job.wait(60) == bgcopy.JobState.TRANSFERRED
        assert "x-token: py-1" in origin.stats("py-rq-h")["headers"][0]
        job.complete()
        assert (tmp_path / "h.bin").read_bytes() == content(3000)

        bad = m.create_job("bad", bgcopy.JobType.DOWNLOAD)
        for lines in (["X-A: 1\r\nX-B: 2"], ["Range: bytes=0-"], ["no colon"]):
            with pytest.raises(bgcopy.InvalidArgError):
                bad.set_custom_headers(lines)
        with pytest.raises(bgcopy.InvalidArgError):
            bad.set_custom_headers("X-A: 1")  # a str is not a list of lines
        bad.cancel()


def test_security_flags_redirect_policy(origin: Origin, tmp_path: Path) -> None:
    F = bgcopy.SecurityFlags
    with bgcopy.CopyManager.open(tmp_path / "state") as m:
        job = m.create_job("report", bgcopy.JobType.DOWNLOAD)
        job.add_file(origin.url("py-rq-p", "redirect=1&size=100"), str(tmp_path / "r.bin"))
        assert job.get_security_flags() == 0
        f = job.enum_files()[0]
        assert f.get_final_url() is None
        assert f.get_temporary_name().endswith(".bgcopy-part")
        assert Path(f.get_temporary_name()).parent == tmp_path
        job.set_security_flags(F.REDIRECT_ALLOW_REPORT | F.ALLOW_HTTPS_TO_HTTP)
        assert job.get_security_flags() == F.REDIRECT_ALLOW_REPORT | F.ALLOW_HTTPS_TO_HTTP
        job.resume()
        assert job.wait(60) == bgcopy.JobState.TRANSFERRED
        assert job.enum_files()[0].get_remote_name() == origin.url("py-rq-p", "size=100")
        assert f.get_final_url() == origin.url("py-rq-p", "size=100")
        assert Path(f.get_temporary_name()).read_bytes() == content(100)
        job.complete()

        job = m.create_job("disallow", bgcopy.JobType.DOWNLOAD)
        job.add_file(origin.url("py-rq-p", "redirect=1&size=100"), str(tmp_path / "d.bin"))
        job.set_security_flags(F.REDIRECT_DISALLOW)
        job.resume()
        assert job.wait(60) == bgcopy.JobState.ERROR
        assert job.get_error().get_error()[1] == bgcopy.codes.http(302)
        with pytest.raises(bgcopy.BgCopyError) as e:
            job.set_security_flags(0x0004)
        assert e.value.code == bgcopy.codes.E_NOTIMPL
        with pytest.raises(bgcopy.InvalidArgError):
            job.set_security_flags(0x0300)
        job.cancel()


def test_credentials_new_remote_names_and_max_download_time(
    origin: Origin, tmp_path: Path
) -> None:
    T, S = bgcopy.AuthTarget, bgcopy.AuthScheme
    with bgcopy.CopyManager.open(tmp_path / "state") as m:
        # Bearer credentials reach the origin, which requires them.
        job = m.create_job("creds", bgcopy.JobType.DOWNLOAD)
        job.add_file(origin.url("py-auth", "size=800&auth=bearer:py.tok"), str(tmp_path / "a.bin"))
        job.set_credentials(T.SERVER, S.BEARER, "", "py.tok")
        job.resume()
        assert job.wait(60) == bgcopy.JobState.TRANSFERRED
        assert "authorization: Bearer py.tok" in origin.stats("py-auth")["headers"][0]
        job.complete()
        assert (tmp_path / "a.bin").read_bytes() == content(800)

        # Removed: 401. Then a new remote name (and a replaced prefix) succeeds.
        job = m.create_job("nocreds", bgcopy.JobType.DOWNLOAD)
        job.add_file(origin.url("py-auth", "size=800&auth=basic:u:p"), str(tmp_path / "b.bin"))
        job.set_credentials(T.SERVER, S.BASIC, "u", "wrong")
        job.remove_credentials(T.SERVER, S.BASIC)
        job.resume()
        assert job.wait(60) == bgcopy.JobState.ERROR
        assert job.get_error().get_error()[1] == bgcopy.codes.http(401)
        f = job.enum_files()[0]
        with pytest.raises(bgcopy.InvalidArgError):
            f.set_remote_name("ftp://nowhere/x")
        f.set_remote_name(origin.url("py-old/x", "size=800"))
        base = origin.http_base
        assert job.replace_remote_prefix(f"{base}/f/py-old/", f"{base}/f/py-new/") == 1
        assert f.get_remote_name() == origin.url("py-new/x", "size=800")
        job.resume()
        assert job.wait(60) == bgcopy.JobState.TRANSFERRED
        job.complete()
        assert (tmp_path / "b.bin").read_bytes() == content(800)

        # The maximum download time.
        job = m.create_job("slow", bgcopy.JobType.DOWNLOAD)
        job.add_file(origin.url("py-slow", "size=20000000&rate=1000000"), str(tmp_path / "s.bin"))
        assert job.get_maximum_download_time() == 0
        job.set_maximum_download_time(1)
        assert job.get_maximum_download_time() == 1
        job.resume()
        assert job.wait(60) == bgcopy.JobState.ERROR
        assert job.get_error().get_error()[1] == bgcopy.codes.MAXDOWNLOAD_TIMEOUT
        job.cancel()

        # Bad input: typed errors that never show the secret.
        bad = m.create_job("bad", bgcopy.JobType.DOWNLOAD)
        for args in (
            (T.SERVER, S.BASIC, "a:b", "py-secret"),
            (T.SERVER, S.BEARER, "user", "py-secret"),
            (3, S.BASIC, "u", "py-secret"),
            (T.SERVER, 2, "u", "py-secret"),
        ):
            with pytest.raises(bgcopy.InvalidArgError) as e:
                bad.set_credentials(*args)
            assert "py-secret" not in str(e.value)
        with pytest.raises(bgcopy.InvalidArgError):
            bad.set_maximum_download_time(-1)
        bad.cancel()


def test_proxy_settings_through_real_proxies(origin: Origin, tmp_path: Path) -> None:
    U, T, S = bgcopy.ProxyUsage, bgcopy.AuthTarget, bgcopy.AuthScheme
    purl, pid = origin.proxy("http", "ppu:ppw")
    with bgcopy.CopyManager.open(tmp_path / "state") as m:
        job = m.create_job("proxied", bgcopy.JobType.DOWNLOAD)
        job.add_file(origin.url("py-px", "size=9000"), str(tmp_path / "p.bin"))
        assert job.get_proxy_settings() == (U.PRECONFIG, "", "")
        job.set_proxy_settings(U.OVERRIDE, purl)
        usage, proxy, bypass = job.get_proxy_settings()
        assert usage is U.OVERRIDE and proxy == purl and bypass == ""
        job.resume()
        assert job.wait(60) == bgcopy.JobState.ERROR
        assert job.get_error().get_error() == (
            bgcopy.ErrorContext.GENERAL_TRANSPORT,
            bgcopy.codes.http(407),
        )
        job.set_credentials(T.PROXY, S.BASIC, "ppu", "ppw")
        job.resume()
        assert job.wait(60) == bgcopy.JobState.TRANSFERRED
        job.complete()
        assert (tmp_path / "p.bin").read_bytes() == content(9000)
        assert origin.proxy_log(pid)["established"] == 1

        bad = m.create_job("bad", bgcopy.JobType.DOWNLOAD)
        with pytest.raises(bgcopy.InvalidArgError):
            bad.set_proxy_settings(U.OVERRIDE, "ftp://127.0.0.1:1")
        with pytest.raises(bgcopy.InvalidArgError):
            bad.set_proxy_settings(U.NO_PROXY, purl)
        with pytest.raises(bgcopy.InvalidArgError):
            bad.set_proxy_settings(7)
        with pytest.raises(bgcopy.BgCopyError) as e:
            bad.set_credentials(T.PROXY, S.BEARER, "", "tok")
        assert e.value.code == bgcopy.codes.E_NOTIMPL
        bad.set_proxy_settings(U.NO_PROXY, None, None)
        assert bad.get_proxy_settings() == (U.NO_PROXY, "", "")
        bad.cancel()


def test_client_certificate(origin: Origin, tmp_path: Path) -> None:
    with bgcopy.CopyManager.open(tmp_path / "state", tls_root_certs=[origin.cert]) as m:
        url = f"https://localhost:{origin.mtls}/f/py-mt?size=4000"
        job = m.create_job("mtls", bgcopy.JobType.DOWNLOAD)
        job.add_file(url, str(tmp_path / "m.bin"))
        with pytest.raises(bgcopy.InvalidArgError):
            job.set_client_certificate(origin.client_key, origin.client_key)
        with pytest.raises(bgcopy.InvalidArgError):
            job.set_client_certificate(tmp_path / "missing.pem", origin.client_key)
        job.set_client_certificate(Path(origin.client_cert), origin.client_key)
        job.resume()
        assert job.wait(60) == bgcopy.JobState.TRANSFERRED
        job.complete()
        assert (tmp_path / "m.bin").read_bytes() == content(4000)
        job = m.create_job("nocert", bgcopy.JobType.DOWNLOAD)
        job.add_file(url, str(tmp_path / "n.bin"))
        job.set_client_certificate(origin.client_cert, origin.client_key)
        job.remove_client_certificate()
        job.resume()
        assert job.wait(60) == bgcopy.JobState.ERROR
        assert job.get_error().get_error()[1] == bgcopy.codes.SECURE_FAILURE
        job.cancel()
