"""A disk budget for the download cache (``prepare --max-disk GB``).

Before a download or an extraction starts, :meth:`DiskBudget.reserve` adds the bytes it will
write (the feed's announced lengths, the archive's listed member sizes) to what the cache already
holds, and refuses in one line naming the figures when the sum would pass the budget (a usage
error: the fix is another ``--max-disk``). (With
``--no-keep-downloads`` a finished département's files are deleted as soon as it is finished,
so they never stand in the way.) The figures are decimal GB, as ``--max-disk`` is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from geosiam.errors import SettingsError

GB = 1e9


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
    """At most ``limit`` bytes under ``folder``."""

    folder: Path
    limit: int
    advice: str = ""  # another way out, appended to the error

    @classmethod
    def of_gb(cls, folder: Path, max_gb: float, advice: str = "") -> DiskBudget | None:
        """The budget of ``--max-disk max_gb`` (None for 0: no budget)."""
        return cls(folder, int(max_gb * GB), advice) if max_gb else None

    def used(self) -> int:
        return folder_bytes(self.folder)

    def reserve(self, needed: int, what: str) -> None:
        """Room for ``needed`` more bytes of ``what``, else a one-line error."""
        if needed <= 0:
            return
        used = self.used()
        if used + needed > self.limit:
            raise SettingsError(  # the fix is on the command line: exit 2
                f"{what} needs {gigabytes(needed)} but the cache ({self.folder}) holds "
                f"{gigabytes(used)} of the --max-disk {gigabytes(self.limit)}: raise --max-disk to at "
                f"least {gigabytes(used + needed)}{self.advice}"
            )
