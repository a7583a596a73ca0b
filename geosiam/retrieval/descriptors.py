"""Descriptor files: ``vectors.npy`` and, beside it, the table that says what each row is.

``vectors.npy`` holds an (N, D) float32 array of L2-normalised descriptors. The table has the
same stem (``vectors.gpkg``, layer ``descriptors``): row i describes row i of the array with the
tile's image and mask paths, tile id, year (0 when unknown), the identity of the model that
made it, and the tile's footprint, so that it opens in QGIS. The layer metadata records the
model identity, the array's shape and a digest of its bytes: a table and an array that do not
belong together (an interrupted copy, a hand edit) are detected on reading.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio

from geosiam import atomic
from geosiam.errors import ModelError, SettingsError, WorkspaceError

LAYER = "descriptors"
COLUMNS = ["image", "mask", "tile_id", "year", "model"]
NORM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Descriptors:
    """Descriptors and their table; ``vectors[i]`` belongs to ``table.iloc[i]``."""

    vectors: np.ndarray
    table: object  # geopandas.GeoDataFrame (imported lazily)
    identity: str  # the model that made them


def table_path(vectors_path: Path) -> Path:
    """The table beside a descriptor array: same folder, same stem, ``.gpkg``."""
    return Path(vectors_path).with_suffix(".gpkg")


def check_vectors_path(path: Path) -> Path:
    """``path`` if it names a ``.npy`` file, else a one-line error."""
    path = Path(path)
    if path.suffix != ".npy":
        raise SettingsError(f"descriptors are written as .npy, not '{path.name}': use -o vectors.npy")
    return path


def digest(vectors: np.ndarray) -> str:
    """A short hash of an array's bytes, tying a table to its array."""
    return hashlib.sha256(np.ascontiguousarray(vectors).tobytes()).hexdigest()[:16]


def write_descriptors(path: Path, vectors: np.ndarray, table, identity: str) -> Descriptors:
    """Write the array and its table atomically; ``table`` is a GeoDataFrame with COLUMNS."""
    path = check_vectors_path(path)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) != len(table):
        raise ValueError(f"{len(vectors)} descriptors for {len(table)} table rows")
    table = table[COLUMNS + ["geometry"]].reset_index(drop=True)
    metadata = {
        "model": identity,
        "rows": str(len(vectors)),
        "dim": str(vectors.shape[1]),
        "digest": digest(vectors),
    }
    with (
        atomic.atomic_path(path) as vectors_tmp,
        atomic.atomic_path(table_path(path), suffix=".gpkg") as table_tmp,
    ):
        with open(vectors_tmp, "wb") as handle:
            np.save(handle, vectors)
        table.to_file(table_tmp, layer=LAYER, driver="GPKG", layer_metadata=metadata)
    return Descriptors(vectors, table, identity)


def read_descriptors(path: Path) -> Descriptors:
    """Read and check a descriptor array and its table (same rows, same model, unit vectors)."""

    path = Path(path)
    table_file = table_path(path)
    if not path.exists():
        raise WorkspaceError(f"no descriptors at {path}: run 'geosiam embed TILES -o {path.name}' first")
    if not table_file.exists():
        raise WorkspaceError(
            f"{path} has no table {table_file.name} beside it: keep the two files together "
            "or re-run 'geosiam embed'"
        )
    try:
        vectors = np.load(path, mmap_mode="r")
        metadata = pyogrio.read_info(table_file, layer=LAYER).get("layer_metadata") or {}
        table = gpd.read_file(table_file, layer=LAYER)
    except (ValueError, OSError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise WorkspaceError(f"cannot read descriptors {path}: {exc}; re-run 'geosiam embed'") from None
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(table) or metadata.get("digest") != digest(vectors):
        raise WorkspaceError(
            f"{path} and {table_file.name} do not belong together (rows or content differ): "
            "re-run 'geosiam embed' to write both again"
        )
    norms = np.linalg.norm(vectors, axis=1)
    if len(norms) and np.abs(norms - 1).max() > NORM_TOLERANCE:
        raise WorkspaceError(f"{path} holds vectors that are not L2-normalised: re-run 'geosiam embed'")
    return Descriptors(vectors, table, metadata.get("model", ""))


def require_identity(descriptors: Descriptors, identity: str, where: Path) -> None:
    """A one-line error when ``descriptors`` were made by another model than ``identity``."""
    if descriptors.identity != identity:
        raise ModelError(
            f"the descriptors in {where} were made by model {descriptors.identity or '(unknown)'}, "
            f"not by the run's model {identity}: pass the --run that wrote them, or re-run "
            "'geosiam embed' with this run"
        )
