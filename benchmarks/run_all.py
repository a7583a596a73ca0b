"""Run every benchmark in one go; each prints its own table of side-by-side ratios."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCHMARKS = [
    "benchmarks.data_prepare",
    "benchmarks.embedding",
    "benchmarks.knn_scaling",
]


def main() -> None:
    for name in BENCHMARKS:
        print(f"\n# {name}")
        importlib.import_module(name).main()


if __name__ == "__main__":
    main()
