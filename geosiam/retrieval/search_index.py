"""A run's FAISS indexes, one per year: built from the run's descriptors, kept in the run folder.

``runs/<run>/index/<year>.faiss`` indexes the rows of ``runs/<run>/vectors/<year>.npy`` (the
descriptors ``search`` and ``changes`` embed once per run and year); ``<year>.json`` beside it
records the model identity and the digest of the descriptors it was built from, its kind and its
tuning. An index is used only with the descriptors and the model it was built from: another
model's index is a one-line error naming the fix (build it again), never a silent mix.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss

from geosiam import atomic
from geosiam.errors import ModelError, WorkspaceError
from geosiam.mining import ann
from geosiam.retrieval.descriptors import Descriptors, digest, read_descriptors
from geosiam.runfolder import RunFolder


@dataclass(frozen=True)
class IndexInfo:
    """What an index file holds and how it was made."""

    year: int
    kind: str
    rows: int
    model: str  # identity of the model that made the indexed descriptors
    digest: str  # of the indexed descriptors
    parameter: str  # nprobe, efSearch, or "" (exact)
    value: int
    recall: float  # recall@5 of the tuning queries against exact search
    build_s: float


def index_path(run_dir: Path, year: int) -> Path:
    return RunFolder(Path(run_dir)).index_path(year)


def info_path(run_dir: Path, year: int) -> Path:
    return index_path(run_dir, year).with_suffix(".json")


def run_vectors_path(run_dir: Path, year: int) -> Path:
    """The run's descriptors of the workspace's tiles of ``year``."""
    return RunFolder(Path(run_dir)).vectors_path(year)


def run_descriptors(run_dir: Path, year: int, tiles_index: Path) -> Descriptors:
    """The run's descriptors of ``year``, or a one-line error naming the command that makes them."""
    path = run_vectors_path(run_dir, year)
    if not path.exists():
        raise WorkspaceError(
            f"run {Path(run_dir).name} has no descriptors of the workspace's {year} tiles: make them "
            f"with 'geosiam embed {tiles_index} --year {year} --run {Path(run_dir).name} -o {path}' "
            "(add --shards N to use N processes), then build the index"
        )
    return read_descriptors(path)


def build_year_index(run_dir: Path, year: int, descriptors: Descriptors, kind: str) -> IndexInfo:
    """Build, tune and save the index of a year's descriptors (written atomically)."""

    started = time.perf_counter()
    index = ann.build_index(descriptors.vectors, kind)
    tuning = ann.self_tune(index, descriptors.vectors)
    info = IndexInfo(
        year=year,
        kind=ann.kind_of(index),
        rows=index.ntotal,
        model=descriptors.identity,
        digest=digest(descriptors.vectors),
        parameter=tuning.parameter,
        value=tuning.value,
        recall=round(tuning.recall, 4),
        build_s=round(time.perf_counter() - started, 2),
    )
    with atomic.atomic_path(index_path(run_dir, year), suffix=".faiss") as tmp:
        faiss.write_index(index, str(tmp))
    atomic.write_text(info_path(run_dir, year), json.dumps(asdict(info), indent=2))
    return info


def load_year_index(run_dir: Path, year: int, descriptors: Descriptors, identity: str):
    """The run's index of ``year`` when there is one (else None), checked against the model
    ``identity`` and the ``descriptors`` it must index; a mismatch is a one-line error."""

    path, meta = index_path(run_dir, year), info_path(run_dir, year)
    if not path.exists():
        return None
    rebuild = f"rebuild it with 'geosiam index build --run {Path(run_dir).name}'"
    try:
        info = IndexInfo(**json.loads(meta.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        raise WorkspaceError(f"the index {path} has no readable {meta.name} beside it: {rebuild}") from None
    if info.model != identity:
        raise ModelError(
            f"the index {path} was built from descriptors of model {info.model or '(unknown)'}, not "
            f"of this run's model {identity}: {rebuild}"
        )
    if info.rows != len(descriptors.vectors) or info.digest != digest(descriptors.vectors):
        raise WorkspaceError(f"the index {path} is older than the run's {year} descriptors: {rebuild}")
    index = faiss.read_index(str(path))
    ann.set_tuning(index, info.value)
    return index
