"""Shared helpers for benchmarks: timing and a plain table printer."""

from __future__ import annotations

import os
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


def format_table(title: str, rows: list[tuple], headers: tuple) -> str:
    """A fixed-width markdown-ish table under a ``##`` title, numbers to three significant figures."""

    def cell(value) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    text = [tuple(cell(v) for v in row) for row in [headers, *rows]]
    widths = [max(len(r[i]) for r in text) for i in range(len(headers))]
    lines = [f"\n## {title}"]
    for index, row in enumerate(text):
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_table(title: str, rows: list[tuple], headers: tuple) -> None:
    """Print :func:`format_table`."""
    print(format_table(title, rows, headers))


def machine_state() -> str:
    """Cores and load average, to say what the machine was doing during a measurement."""
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load} (1, 5, 15 min)"
