"""A patient HTTP client for IGN's services: paced requests, retries, resumable verified downloads.

What IGN's download service needs (README, "Real IGN data"): it answers 429 well below its documented
10 requests/s, so requests are paced (``HttpSettings.request_interval_s``, 1 s by default); 429, 5xx,
timeouts and dropped connections are retried with exponential backoff, honouring ``Retry-After``;
multi-GB parts often drop mid-transfer, so a file is streamed to ``<file>.part`` and resumed with an
HTTP ``Range`` request. A finished file is checked against its MD5 (or its announced length when IGN
publishes no checksum) and only then renamed into place, with a ``<file>.ok`` marker beside it: a
later run trusts a file only through its marker, and never downloads a verified file again.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import requests

from geosiam import __version__, atomic
from geosiam.config import HttpSettings
from geosiam.errors import DownloadError
from geosiam.progress import progress

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CHUNK_BYTES = 1 << 20  # read size when hashing
STREAM_BYTES = 1 << 16  # read size when downloading: a dropped connection loses less than this
DISK_MARGIN_BYTES = 256 << 20  # keep this much free beyond what a download needs
_RETRYABLE_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
_MD5_LINE = re.compile(r"^\s*([0-9a-fA-F]{32})\s+\*?(.+?)\s*$")


class HttpStatusError(DownloadError):
    """The server refused a request for good (a 4xx other than 408/429, or retries ran out)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Retryable(Exception):
    """One attempt failed in a way worth retrying; ``retry_after`` is the server's wish, if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RemoteFile:
    """A file to download: where from, where to, and what it must be."""

    url: str
    dest: Path
    length: int | None = None  # bytes, as announced by the feed
    md5: str | None = None  # hex digest, from IGN's .md5 file


class HttpClient:
    """One session to IGN's services; every request paced and retried per ``HttpSettings``.

    ``sleep`` and ``clock`` are injectable so that tests can check the waits without waiting.
    """

    def __init__(
        self,
        http: HttpSettings,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.sleep = sleep
        self.clock = clock
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"geosiam/{__version__}"
        self._last_request = -float("inf")

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plain requests -------------------------------------------------------------------------

    def get(self, url: str, params: dict | None = None, headers: dict | None = None) -> requests.Response:
        """GET with retries; the whole body is read. 4xx other than 408/429 raise at once."""
        failures = 0
        while True:
            try:
                return self._send(url, params, headers, stream=False)
            except _Retryable as exc:
                failures += 1
                self._back_off(failures, exc, url)

    def text(self, url: str, params: dict | None = None, headers: dict | None = None) -> str:
        response = self.get(url, params, headers)
        response.encoding = response.encoding or "utf-8"
        return response.text

    # -- files ----------------------------------------------------------------------------------

    def download(self, remote: RemoteFile, overall=None) -> Path:
        """Download ``remote`` to ``remote.dest`` unless already verified; return ``dest``.

        Resumes a ``.part`` left by an interrupted run. A file that fails its check is downloaded
        once more from scratch; a second failure is a :class:`DownloadError`.
        """
        dest = remote.dest
        if is_verified(dest, remote.md5):
            if overall is not None:
                overall.update(dest.stat().st_size)
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = partial_path(dest)
        for attempt in ("resumed", "from scratch"):
            if attempt == "from scratch":
                part.unlink(missing_ok=True)
            self._stream(remote.url, part, remote.length)
            problem = check_file(part, remote.length, remote.md5)
            if problem is None:
                os.replace(part, dest)
                mark_verified(dest, remote.md5)
                if overall is not None:
                    overall.update(dest.stat().st_size)
                return dest
            log.warning("%s %s (%s download); downloading it again", dest.name, problem, attempt)
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{dest.name} {problem} twice: the server's file or its checksum is wrong; "
            "run the command again later, or report it to IGN if it persists"
        )

    def _stream(self, url: str, part: Path, length: int | None) -> None:
        """Append the missing bytes of ``url`` to ``part``, resuming with Range after a drop."""
        failures = 0
        bar = progress(
            total=length,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=part.name.removesuffix(".part"),
            initial=file_size(part),
        )
        try:
            while True:
                have = file_size(part)
                if length is not None and have >= length:
                    if have > length:  # longer than announced: it cannot be right
                        part.unlink()
                        continue
                    return
                try:
                    self._append(url, part, have, bar)
                    return
                except _Retryable as exc:
                    if file_size(part) > have:
                        failures = 0  # the attempt made progress: a drop, not a refusal
                    failures += 1
                    self._back_off(failures, exc, url)
        finally:
            bar.close()

    def _append(self, url: str, part: Path, have: int, bar) -> None:
        headers = {"Accept-Encoding": "identity"}  # byte counts and ranges of the file itself
        if have:
            headers["Range"] = f"bytes={have}-"
        response = self._send(url, None, headers, stream=True)
        with response:
            if have and response.status_code == 416:
                total = _content_range_total(response.headers.get("Content-Range", ""))
                if total == have:  # already complete
                    return
                part.unlink()
                bar.reset(total=bar.total)
                raise _Retryable("the partial file no longer matches the server's; restarting")
            start = have if response.status_code == 206 else 0
            if (
                response.status_code == 206
                and _content_range_start(response.headers.get("Content-Range", "")) != have
            ):
                part.unlink()
                raise _Retryable("the server answered another range; restarting")
            expected = _content_length(response)
            if start == 0 and have:
                bar.reset(total=bar.total)
            received = 0
            with open(part, "ab" if start else "wb") as out:
                try:
                    for chunk in response.iter_content(STREAM_BYTES):
                        out.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                except _RETRYABLE_ERRORS as exc:
                    raise _Retryable(f"connection dropped after {start + received} bytes ({exc})") from None
            if expected is not None and received < expected:
                raise _Retryable(f"connection closed after {start + received} of {start + expected} bytes")

    # -- the one place that talks to the network -----------------------------------------------

    def _send(self, url: str, params: dict | None, headers: dict | None, stream: bool) -> requests.Response:
        wait = self._last_request + self.http.request_interval_s - self.clock()
        if wait > 0:
            self.sleep(wait)
        self._last_request = self.clock()
        timeout = self.http.timeout_s
        try:
            response = self.session.get(
                url, params=params, headers=headers, stream=stream, timeout=(timeout, timeout)
            )
        except _RETRYABLE_ERRORS as exc:
            raise _Retryable(f"no answer ({type(exc).__name__})") from None
        if response.status_code in RETRY_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            response.close()
            raise _Retryable(f"HTTP {response.status_code}", retry_after)
        if response.status_code >= 400 and not (
            response.status_code == 416 and headers and "Range" in headers
        ):
            response.close()
            raise HttpStatusError(
                f"HTTP {response.status_code} from {response.url}: check --ign-url "
                f"(now {_root(url)}) and that the product still exists",
                response.status_code,
            )
        return response

    def _back_off(self, failures: int, exc: _Retryable, url: str) -> None:
        if failures > self.http.retries:
            raise DownloadError(
                f"{url} failed {failures} times (last: {exc}): the service is unavailable or "
                "the connection unreliable; run the same command again later to resume"
            )
        delay = min(self.http.backoff_s * 2 ** (failures - 1), self.http.backoff_max_s)
        if exc.retry_after is not None:
            delay = exc.retry_after
        log.info("%s: %s; retry %d/%d in %.1f s", url, exc, failures, self.http.retries, delay)
        if delay > 0:
            self.sleep(delay)


# -- pure helpers ---------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def parse_md5_file(text: str) -> dict[str, str]:
    """``{file name: md5}`` from IGN's ``.md5`` file (``<md5> <dir>/<part>`` or ``<md5>  <part>``)."""
    sums = {}
    for line in text.splitlines():
        match = _MD5_LINE.match(line)
        if match:
            name = match[2].replace("\\", "/").rsplit("/", 1)[-1]
            sums[name] = match[1].lower()
    return sums


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(path: Path, length: int | None, md5: str | None) -> str | None:
    """None when ``path`` has the announced length and checksum, else what is wrong."""
    size = file_size(path)
    if length is not None and size != length:
        return f"has {size} bytes instead of {length}"
    if md5 is not None and md5_of(path) != md5.lower():
        return "failed its MD5 check"
    return None


def partial_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def marker_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".ok")


def mark_verified(dest: Path, md5: str | None) -> None:
    """Record that ``dest`` passed its check (its size, and the checksum it matched)."""
    atomic.write_text(marker_path(dest), json.dumps({"size": dest.stat().st_size, "md5": md5}))


def is_verified(dest: Path, md5: str | None = None) -> bool:
    """True when ``dest`` carries a marker for its current size (and for ``md5`` when given)."""
    marker = marker_path(dest)
    if not (dest.is_file() and marker.is_file()):
        return False
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if record.get("size") != dest.stat().st_size:
        return False
    return md5 is None or record.get("md5") == md5.lower()


def ensure_free_space(folder: Path, needed: int, what: str) -> None:
    """A :class:`DownloadError` when ``folder``'s disk cannot hold ``needed`` more bytes."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if needed + DISK_MARGIN_BYTES > free:
        raise DownloadError(
            f"not enough free disk for {what}: {format_bytes(needed)} needed, "
            f"{format_bytes(free)} free in {existing}; free some space or use another --workspace"
        )


def format_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(count) < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def file_size(path: Path) -> int:
    """Bytes in ``path``, 0 when it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _content_range_start(value: str) -> int | None:
    match = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", value)
    return int(match[1]) if match else None


def _content_range_total(value: str) -> int | None:
    match = re.match(r"bytes\s+(?:\d+-\d+|\*)/(\d+)", value)
    return int(match[1]) if match else None


def _content_length(response: requests.Response) -> int | None:
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _root(url: str) -> str:
    match = re.match(r"^[a-z]+://[^/]+", url)
    return match[0] if match else url
