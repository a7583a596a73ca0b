"""Search: nearest places of a year, which year to search, the query, the cache, the output."""

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from rasterio.transform import from_origin

from geosiam.errors import SettingsError, SourceError, WorkspaceError
from geosiam.model.embedder import load_embedder
from geosiam.ranking import l2_normalise
from geosiam.retrieval import search
from geosiam.retrieval.descriptors import Descriptors
from tests.retrieval.factory import shared, write_geotiff


def descriptors():
    vectors = l2_normalise(np.array([[1, 0], [0.9, 0.1], [0, 1], [1, 0.05]], np.float32))
    table = gpd.GeoDataFrame(
        {
            "image": [f"{i}.tif" for i in range(4)],
            "mask": [""] * 4,
            "tile_id": ["a", "b", "c", "d"],
            "year": [2000, 2000, 2000, 2015],
            "model": ["m"] * 4,
        },
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(4)],
        crs="EPSG:2154",
    )
    return Descriptors(vectors, table, "m")


def test_best_matches_rank_the_year_by_score():
    matches = search.best_matches(np.array([1, 0], np.float32), descriptors(), k=2, year=2000)
    assert list(matches["tile_id"]) == ["a", "b"] and list(matches["rank"]) == [1, 2]
    assert matches["score"].iloc[0] == pytest.approx(1) and matches["score"].is_monotonic_decreasing
    assert matches.crs == "EPSG:2154" and matches.geometry.iloc[1].bounds == (1, 0, 2, 1)
    everything = search.best_matches(np.array([1, 0], np.float32), descriptors(), k=10)
    assert list(everything["tile_id"]) == ["a", "d", "b", "c"]
    with pytest.raises(WorkspaceError, match=r"no tile of 1990 \(years: \[2000, 2015\]\)"):
        search.best_matches(np.array([1, 0], np.float32), descriptors(), k=2, year=1990)


def test_target_year_is_the_other_year_or_asked_for():
    assert search.target_year(2015, None, [2000, 2015], "ws") == 2000
    assert search.target_year(0, 2015, [2000, 2015], "ws") == 2015
    assert search.target_year(0, None, [2000], "v.npy") is None
    with pytest.raises(SettingsError, match="pass --year .* or --in-year"):
        search.target_year(0, None, [2000, 2015], "ws")
    with pytest.raises(SettingsError, match="query year 1990"):
        search.target_year(1990, None, [2000, 2010, 2015], "ws")


def test_query_needs_a_mask_unless_image_only(tmp_path):
    image = write_geotiff(tmp_path / "q.tif", np.zeros((32, 32, 3), np.uint8), from_origin(0, 320, 10, 10))
    with pytest.raises(SettingsError, match="has no mask: give --mask FILE"):
        search.query_tiles(image, 32, need_mask=True, mask=None, year=None)
    query = search.query_tiles(image, 32, need_mask=False, mask=None, year=2021)
    assert query.masks is None and query.years == [2021] and query.footprints[0].bounds == (0, 0, 320, 320)
    mask = write_geotiff(tmp_path / "m.tif", np.zeros((32, 32), np.uint8), from_origin(0, 320, 10, 10))
    assert search.query_tiles(image, 32, need_mask=True, mask=mask, year=None).masks == [mask]
    alone = search.query_tiles(image, 32, need_mask=True, mask=None, year=None, optional_mask=True)
    assert alone.masks == [None]  # a fused model embeds it from its image alone
    (tmp_path / "masks" / "2000").mkdir(parents=True)
    in_workspace = write_geotiff(
        tmp_path / "tiles" / "2000" / "q.tif", np.zeros((32, 32, 3), np.uint8), from_origin(0, 320, 10, 10)
    )
    write_geotiff(
        tmp_path / "masks" / "2000" / "q.tif", np.zeros((32, 32), np.uint8), from_origin(0, 320, 10, 10)
    )
    assert search.query_tiles(in_workspace, 32, True, None, None).masks == [
        tmp_path / "masks" / "2000" / "q.tif"
    ]
    unlabelled = search.query_tiles(in_workspace, 32, True, None, None, True, unlabelled_years={2000})
    assert unlabelled.masks == [None] and unlabelled.years == [2000]  # its year's masks are not read
    with pytest.raises(SettingsError, match="does not exist"):
        search.query_tiles(tmp_path / "none.tif", 32, need_mask=False, mask=None, year=None)
    with pytest.raises(SourceError, match="smaller than the model's input of 64 px"):
        search.query_tiles(image, 64, need_mask=False, mask=None, year=None)


def test_a_workspace_tile_finds_its_place_and_the_year_is_embedded_once(tmp_path_factory):
    ws = shared(tmp_path_factory)
    embedder = load_embedder(ws.run)
    first = search.workspace_descriptors(ws.workspace, ws.run, embedder, 2000)
    cache = ws.run / "vectors" / "2000.npy"
    stamp = cache.stat().st_mtime_ns
    again = search.workspace_descriptors(ws.workspace, ws.run, embedder, 2000)
    assert cache.stat().st_mtime_ns == stamp and np.array_equal(first.vectors, again.vectors)
    assert set(first.table["year"]) == {2000} and len(first.table) == 12
    query = search.query_tiles(
        ws.workspace.tile_path(2015, "x3723_y27440"), embedder.input_px, need_mask=True, mask=None, year=None
    )
    assert query.years == [2015]
    matches = search.best_matches(search.embed_query(embedder, query), first, k=3, year=2000)
    assert matches["tile_id"].iloc[0] == "x3723_y27440"


def test_matches_are_written_with_the_query_layer(tmp_path):
    image = write_geotiff(tmp_path / "q.tif", np.zeros((32, 32, 3), np.uint8), from_origin(0, 320, 10, 10))
    query = search.query_tiles(image, 32, need_mask=False, mask=None, year=2015)
    matches = search.best_matches(np.array([1, 0], np.float32), descriptors(), k=2, year=2000)
    search.write_matches(tmp_path / "m.gpkg", matches, query)
    layers = sorted(name for name, _ in pyogrio.list_layers(tmp_path / "m.gpkg"))
    assert layers == ["matches", "query"]
    written = gpd.read_file(tmp_path / "m.gpkg", layer="matches")
    assert list(written.columns) == ["rank", "score", "tile_id", "year", "image", "geometry"]
    assert written.crs == "EPSG:2154" and list(written["rank"]) == [1, 2]
    text = search.format_matches(matches)
    assert text.splitlines()[1].split()[:4] == ["1", "1.000", "a", "2000"]
