"""A disk budget for the download cache (``prepare --max-disk GB``).

Before a download or an extraction starts, :meth:`DiskBudget.reserve` adds the bytes it will
write (the feed's announced lengths, the archive's listed member sizes) to what the cache already
holds. When the sum would pass the budget, it waits, polling the cache's size, for another
process (or the user) to free room, up to ``[disk] wait_s``; then it refuses in one line naming
the figures (a usage error: the fix is another ``--max-disk``). What cannot fit even in an empty
cache is refused at once. (With ``--no-keep-downloads`` a finished département's files are
deleted as soon as it is finished, so they never stand in the way.) The figures are decimal GB,
as ``--max-disk`` is.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from geosiam.errors import SettingsError

GB = 1e9
POLL_S = 2.0  # how often a waiting reservation measures the cache again

log = logging.getLogger(__name__)


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 when it does not exist); links are not followed."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:  # removed while walking
                continue
    return total


def gigabytes(count: float) -> str:
    """``count`` bytes as GB with enough digits to tell small figures apart."""
    value = count / GB
    return f"{value:.3g} GB" if value < 1 else f"{value:.1f} GB"


@dataclass
class DiskBudget:
    """At most ``limit`` bytes under ``folder``; a reservation that would pass it waits up to
    ``wait_s`` seconds for room."""

    folder: Path
    limit: int
    advice: str = ""  # another way out, appended to the error
    wait_s: float = 0.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def of_gb(cls, folder: Path, max_gb: float, advice: str = "", wait_s: float = 0.0) -> DiskBudget | None:
        """The budget of ``--max-disk max_gb`` (None for 0: no budget)."""
        return cls(folder, int(max_gb * GB), advice, wait_s) if max_gb else None

    def used(self) -> int:
        return folder_bytes(self.folder)

    def reserve(self, needed: int, what: str) -> None:
        """Room for ``needed`` more bytes of ``what``, waited for, else a one-line error."""
        if needed <= 0:
            return
        hopeless = needed > self.limit  # no room freed would make it fit
        used = self.used() if hopeless else self._wait_for_room(needed, what)
        if used + needed > self.limit:
            waited = f" after waiting {self.wait_s:g} s for room" if self.wait_s and not hopeless else ""
            raise SettingsError(  # the fix is on the command line: exit 2
                f"{what} needs {gigabytes(needed)} but the cache ({self.folder}) holds "
                f"{gigabytes(used)} of the --max-disk {gigabytes(self.limit)}{waited}: raise --max-disk "
                f"to at least {gigabytes(used + needed)}{self.advice}"
            )

    def _wait_for_room(self, needed: int, what: str) -> int:
        """The cache's bytes once ``needed`` more fit, or when ``wait_s`` is over."""
        used = self.used()
        if used + needed <= self.limit or not self.wait_s:
            return used
        log.warning(
            "%s needs %s but the cache holds %s of the --max-disk %s: waiting up to %g s for room",
            what, gigabytes(needed), gigabytes(used), gigabytes(self.limit), self.wait_s,
        )  # fmt: skip
        deadline = self.clock() + self.wait_s
        while used + needed > self.limit and (left := deadline - self.clock()) > 0:
            self.sleep(min(POLL_S, left))
            used = self.used()
        return used
