"""Run every CPU benchmark in one go; each prints its own table of side-by-side ratios.

``make bench`` runs this; results measured by the developers are kept in benchmarks/results/.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCHMARKS = [
    "benchmarks.sample_difficulty",
    "benchmarks.data_prepare",
    "benchmarks.tiling_dalles",  # first run: generates ~1 GB of real-size dalles (~20 min), cached
    "benchmarks.train_pipeline",
    "benchmarks.mining",
    "benchmarks.embedding",
    "benchmarks.knn_scaling",
    "benchmarks.ann_index",  # 10^5 and 10^6; 10^7 (5 GB, long) with: python -m benchmarks.ann_index --large
    "benchmarks.embed_shards",
]  # benchmarks/gpu_train.py is run on its own, on a GPU machine


def main() -> None:
    for name in BENCHMARKS:
        print(f"\n# {name}")
        importlib.import_module(name).main()


if __name__ == "__main__":
    main()
