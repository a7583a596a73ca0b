"""Descriptor files: round trip, and every way an array and its table can disagree."""

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geosiam.errors import ModelError, SettingsError, WorkspaceError
from geosiam.ranking import l2_normalise
from geosiam.retrieval.descriptors import (
    read_descriptors,
    require_identity,
    table_path,
    write_descriptors,
)


def table(n):
    return gpd.GeoDataFrame(
        {
            "image": [f"t/{i}.tif" for i in range(n)],
            "mask": [""] * n,
            "tile_id": [f"x{i}_y0" for i in range(n)],
            "year": [2015] * n,
            "model": ["m1"] * n,
        },
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(n)],
        crs="EPSG:2154",
    )


def vectors(n, dim=8, seed=0):
    return l2_normalise(np.random.default_rng(seed).normal(size=(n, dim)))


def test_round_trip_keeps_rows_identity_and_footprints(tmp_path):
    path = tmp_path / "vectors.npy"
    write_descriptors(path, vectors(4), table(4), "m1")
    found = read_descriptors(path)
    assert table_path(path).exists() and found.identity == "m1"
    assert np.array_equal(found.vectors, vectors(4))
    assert list(found.table["tile_id"]) == [f"x{i}_y0" for i in range(4)]
    assert found.table.crs == "EPSG:2154" and found.table.geometry[2].bounds == (2, 0, 3, 1)
    assert not list(tmp_path.glob("*.tmp*"))


def test_an_array_from_another_embedding_is_detected(tmp_path):
    path = tmp_path / "vectors.npy"
    write_descriptors(path, vectors(4), table(4), "m1")
    np.save(path, vectors(4, seed=1))  # same shape, other content
    with pytest.raises(WorkspaceError, match="do not belong together"):
        read_descriptors(path)


def test_missing_files_and_foreign_arrays_are_one_line_errors(tmp_path):
    path = tmp_path / "vectors.npy"
    with pytest.raises(WorkspaceError, match="run 'geosiam embed"):
        read_descriptors(path)
    np.save(path, vectors(2))
    with pytest.raises(WorkspaceError, match="has no table vectors.gpkg"):
        read_descriptors(path)
    write_descriptors(path, vectors(2) * 3, table(2), "m1")
    with pytest.raises(WorkspaceError, match="not L2-normalised"):
        read_descriptors(path)
    path.write_bytes(b"not numpy")
    with pytest.raises(WorkspaceError, match="cannot read descriptors"):
        read_descriptors(path)


def test_output_must_be_npy_and_match_the_table(tmp_path):
    with pytest.raises(SettingsError, match="use -o vectors.npy"):
        write_descriptors(tmp_path / "vectors.csv", vectors(2), table(2), "m1")
    with pytest.raises(ValueError):
        write_descriptors(tmp_path / "vectors.npy", vectors(3), table(2), "m1")
    assert not (tmp_path / "vectors.npy").exists()


def test_descriptors_of_another_model_are_refused(tmp_path):
    found = write_descriptors(tmp_path / "v.npy", vectors(2), table(2), "m1")
    require_identity(found, "m1", tmp_path / "v.npy")
    with pytest.raises(ModelError, match="made by model m1, not by the run's model m2"):
        require_identity(found, "m2", tmp_path / "v.npy")
