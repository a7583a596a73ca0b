"""Progress bars for every loop over files, tiles, bytes or epochs.

Quiet when stderr is not a terminal or when the CLI was given ``--quiet``; one switch for the
whole process so that library functions never take a ``quiet`` argument.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

_quiet = False


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) every progress bar of this process."""
    global _quiet
    _quiet = quiet


def bars_disabled() -> bool:
    """True when progress bars should not be drawn."""
    return _quiet or not sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, **kwargs) -> Iterator[T] | tqdm:
    """A tqdm bar over ``iterable`` (or a manual bar when None), disabled when quiet."""
    kwargs.setdefault("disable", bars_disabled())
    kwargs.setdefault("leave", False)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
