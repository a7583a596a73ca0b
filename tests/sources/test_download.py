"""The HTTP client: verified downloads, Range resume, retries and backoff, pacing, disk checks."""

import hashlib
import os
from datetime import datetime, timezone

import pytest

from geosiam.config import HttpSettings
from geosiam.errors import DownloadError
from geosiam.sources.download import (
    HttpClient,
    HttpStatusError,
    RemoteFile,
    ensure_free_space,
    is_verified,
    marker_path,
    parse_md5_file,
    parse_retry_after,
    partial_path,
)
from tests.fake_geoplateforme import FakeDelivery, Fault

DATA = os.urandom(300_000)
MD5 = hashlib.md5(DATA).hexdigest()
PATH = "/telechargement/download/BDORTHO/D/D.7z"


@pytest.fixture
def server(geoplateforme):
    geoplateforme.add(FakeDelivery("BDORTHO", "D", "D054", "2015-01-01", {"D.7z": DATA}))
    return geoplateforme


def client(sleeps=None, **http):
    settings = HttpSettings(
        **{"request_interval_s": 0, "backoff_s": 0.5, "retries": 3, "timeout_s": 5, **http}
    )
    return HttpClient(settings, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def remote(server, tmp_path, md5=MD5, length=len(DATA)):
    return RemoteFile(server.url + PATH, tmp_path / "D.7z", length, md5)


def test_download_verifies_marks_and_never_downloads_again(server, tmp_path):
    with client() as http:
        path = http.download(remote(server, tmp_path))
        assert path.read_bytes() == DATA and is_verified(path, MD5)
        assert not partial_path(path).exists()
        http.download(remote(server, tmp_path))
    assert len(server.hits(PATH)) == 1


def test_dropped_connection_resumes_with_range(server, tmp_path):
    server.fail(PATH, Fault("drop", after=150_000), Fault("drop", after=100_000))
    sleeps = []
    with client(sleeps) as http:
        path = http.download(remote(server, tmp_path))
    assert path.read_bytes() == DATA
    ranges = [headers.get("Range") for _, _, headers in server.hits(PATH)]
    assert ranges[0] is None and len(ranges) == 3
    offsets = [int(r.removeprefix("bytes=").rstrip("-")) for r in ranges[1:]]
    assert 0 < offsets[0] <= 150_000 < offsets[1] <= 250_000  # each attempt keeps what it received
    assert sleeps == [0.5, 0.5]  # a drop after progress does not escalate the backoff


def test_part_left_by_an_interrupted_run_is_resumed(server, tmp_path):
    partial_path(tmp_path / "D.7z").write_bytes(DATA[:123_456])
    with client() as http:
        path = http.download(remote(server, tmp_path))
    assert path.read_bytes() == DATA
    assert [h.get("Range") for _, _, h in server.hits(PATH)] == ["bytes=123456-"]


def test_server_ignoring_range_restarts_the_file(server, tmp_path):
    partial_path(tmp_path / "D.7z").write_bytes(DATA[:1000])
    server.fail(PATH, Fault("ignore-range"))
    with client() as http:
        assert http.download(remote(server, tmp_path)).read_bytes() == DATA


def test_429_honours_retry_after_and_5xx_backs_off_exponentially(server, tmp_path):
    server.fail(PATH, Fault("status", 429, {"Retry-After": "7"}), Fault("status", 503), Fault("status", 502))
    sleeps = []
    with client(sleeps) as http:
        assert http.download(remote(server, tmp_path)).read_bytes() == DATA
    assert sleeps == [7.0, 1.0, 2.0]  # Retry-After, then 0.5 * 2**1, 0.5 * 2**2


def test_backoff_is_capped(server, tmp_path):
    server.fail(PATH, *[Fault("status", 503)] * 3)
    sleeps = []
    with client(sleeps, backoff_s=10, backoff_max_s=15) as http:
        http.download(remote(server, tmp_path))
    assert sleeps == [10, 15, 15]


def test_retries_run_out_with_a_clear_error(server, tmp_path):
    server.fail(PATH, *[Fault("status", 503)] * 10)
    with client() as http, pytest.raises(DownloadError, match="failed 4 times.*run the same command again"):
        http.download(remote(server, tmp_path))
    assert not (tmp_path / "D.7z").exists()


def test_client_errors_are_not_retried(server, tmp_path):
    with client() as http, pytest.raises(HttpStatusError, match="HTTP 404.*--ign-url") as error:
        http.get(server.url + "/telechargement/download/BDORTHO/D/missing.7z")
    assert error.value.status == 404
    assert len(server.hits("missing.7z")) == 1


def test_corrupt_part_is_downloaded_again_once(server, tmp_path):
    server.fail(PATH, Fault("corrupt"))
    with client() as http:
        assert http.download(remote(server, tmp_path)).read_bytes() == DATA
    assert [h.get("Range") for _, _, h in server.hits(PATH)] == [None, None]  # from scratch


def test_part_failing_twice_is_an_error_and_nothing_is_kept(server, tmp_path):
    server.fail(PATH, Fault("corrupt"), Fault("corrupt"))
    with client() as http, pytest.raises(DownloadError, match="failed its MD5 check twice"):
        http.download(remote(server, tmp_path))
    assert not (tmp_path / "D.7z").exists() and not partial_path(tmp_path / "D.7z").exists()


def test_without_md5_the_announced_length_is_checked(server, tmp_path):
    with client() as http, pytest.raises(DownloadError, match="instead of 400000"):
        http.download(remote(server, tmp_path, md5=None, length=400_000))


def test_a_verified_file_that_changed_is_not_trusted(server, tmp_path):
    with client() as http:
        path = http.download(remote(server, tmp_path))
    path.write_bytes(DATA[:10])
    assert not is_verified(path)
    marker_path(path).unlink()
    path.write_bytes(DATA)
    assert not is_verified(path)  # no marker: no trust


def test_requests_are_paced(server):
    sleeps, now = [], [100.0]
    http = HttpClient(HttpSettings(request_interval_s=1.0), sleep=sleeps.append, clock=lambda: now[0])
    http.get(server.url + PATH)
    now[0] += 0.25
    http.get(server.url + PATH)
    assert sleeps == [0.75]


def test_md5_file_formats():
    text = (
        "d41d8cd98f00b204e9800998ecf8427e BDORTHO_X/BDORTHO_X.7z.001\n"
        "0CC175B9C0F1B6A831C399E269772661  BDORTHO_X.7z.002\n"
        "900150983cd24fb0d6963f7d28e17f72 *dir\\sub\\BDORTHO_X.7z.003\n\n"
    )
    assert parse_md5_file(text) == {
        "BDORTHO_X.7z.001": "d41d8cd98f00b204e9800998ecf8427e",
        "BDORTHO_X.7z.002": "0cc175b9c0f1b6a831c399e269772661",
        "BDORTHO_X.7z.003": "900150983cd24fb0d6963f7d28e17f72",
    }


def test_retry_after_seconds_and_dates():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30
    assert parse_retry_after("soon", now) is None and parse_retry_after(None) is None


def test_free_disk_check(tmp_path):
    ensure_free_space(tmp_path / "not" / "yet", 1, "a test file")
    with pytest.raises(DownloadError, match="not enough free disk.*another --workspace"):
        ensure_free_space(tmp_path, 1 << 60, "a huge delivery")
