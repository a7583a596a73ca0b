"""Shared helpers for benchmarks: timing and a plain table printer."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """The fastest of ``repeat`` wall-clock runs of ``fn``, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def print_table(title: str, rows: list[tuple], headers: tuple) -> None:
    """A fixed-width table, numbers to three significant figures."""

    def cell(value) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    text = [tuple(cell(v) for v in row) for row in [headers, *rows]]
    widths = [max(len(r[i]) for r in text) for i in range(len(headers))]
    print(f"\n## {title}")
    for index, row in enumerate(text):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
        if index == 0:
            print("  ".join("-" * w for w in widths))
