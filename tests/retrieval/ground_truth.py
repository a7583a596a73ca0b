"""A tiny workspace whose places have ground truth of change (``changed_fraction`` in pairs.gpkg),
with a fused run: built once per test session from :mod:`tests.retrieval.factory`.

Places 0..15 lie in a row; the last four were rebuilt (their newer tiles and masks are those of
places 0..3), so they changed; the others did not. Places 1, 5, 9, 13 are in the train split,
the rest in test; place 3 has no ground truth (NaN), as where nobody surveyed it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geosiam.tiling.tables import read_pairs, write_geopackage
from geosiam.workspace import Workspace
from tests.retrieval.factory import make_workspace, shared

PLACES = 16
CHANGED = 4
TRAIN = (1, 5, 9, 13)
UNKNOWN = 3
SPLITS = ["train" if i in TRAIN else "test" for i in range(PLACES)]
FRACTIONS = np.array(
    [
        np.nan if i == UNKNOWN else 0.6 + 0.1 * (i % 4) if i >= PLACES - CHANGED else 0.02 * (i % 3)
        for i in range(PLACES)
    ]
)


def add_changed_fraction(workspace: Workspace, fractions: np.ndarray) -> None:
    """Write ``changed_fraction`` (one value per pair, in pair order) into pairs.gpkg."""
    pairs = read_pairs(workspace.pairs_index)
    pairs["changed_fraction"] = fractions
    write_geopackage(pairs, workspace.pairs_index, "pairs")


@dataclass(frozen=True)
class ChangingWorld:
    workspace: Workspace
    run: Path


_WORLDS: dict[Path, ChangingWorld] = {}


def changing_world(tmp_path_factory) -> ChangingWorld:
    """The session's workspace with ground truth, and a copy of the shared fused run in it."""
    root = tmp_path_factory.getbasetemp() / "changing-world"
    if root not in _WORLDS:
        workspace = make_workspace(root, places=PLACES, splits=SPLITS, changed=CHANGED)
        add_changed_fraction(workspace, FRACTIONS)
        run = workspace.run_dir("fused")
        shutil.copytree(shared(tmp_path_factory).run, run, ignore=shutil.ignore_patterns("eval*", "vectors"))
        _WORLDS[root] = ChangingWorld(workspace, run)
    return _WORLDS[root]


def indexed_copy(world: ChangingWorld, name: str, kind: str) -> Path:
    """A copy of the world's run (same model, same descriptors) with its FAISS index of 2000, the
    older year, built by ``geosiam index build``'s function."""
    from geosiam.model.embedder import load_embedder
    from geosiam.retrieval.search import workspace_descriptors
    from geosiam.retrieval.search_index import build_year_index

    run = world.workspace.run_dir(name)
    if not run.exists():
        descriptors = workspace_descriptors(world.workspace, world.run, load_embedder(world.run), 2000)
        shutil.copytree(world.run, run, ignore=shutil.ignore_patterns("changes*", "eval*"))
        build_year_index(run, 2000, descriptors, kind)
    return run
