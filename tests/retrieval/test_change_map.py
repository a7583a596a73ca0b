"""The change map of a run on a tiny workspace with ground truth, and eval's change detection."""

import contextlib
import dataclasses
import io
import json
import shutil

import geopandas as gpd
import numpy as np
import pytest
import rasterio

from geosiam.config import load_settings, save_settings
from geosiam.errors import SettingsError, WorkspaceError
from geosiam.model.embedder import load_embedder
from geosiam.model.labels import unlabelled_years
from geosiam.retrieval import change_map
from geosiam.retrieval.change_map import (
    add_change_detection,
    check_output,
    default_output,
    map_changes,
    write_change_map,
)
from geosiam.retrieval.changes import NODATA, cosine_distances
from geosiam.retrieval.evaluate import evaluate_run
from geosiam.retrieval.search import workspace_descriptors
from geosiam.runfolder import RunFolder
from geosiam.tiling.grid import Grid, parse_tile_id
from geosiam.tiling.read import read_many
from geosiam.tiling.tables import read_geopackage, split_pairs, write_geopackage
from tests.qgis_desktop import qgis_open, stored_style
from tests.retrieval.factory import make_workspace, shared
from tests.retrieval.ground_truth import FRACTIONS, PLACES, TRAIN, changing_world, indexed_copy


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return changing_world(tmp_path_factory)


@pytest.fixture(scope="module")
def mapped(world):
    output = default_output(world.run, "test")
    return map_changes(world.workspace, world.run, "test", output), output


def _eval_distances(world, split):
    """The distances as eval embeds the places: the split's arrays through the run's model."""
    pairs = split_pairs(world.workspace, split)
    embedder = load_embedder(world.run)
    vectors = []
    for image, mask in (("image_a", "mask_a"), ("image_b", "mask_b")):
        paths = [[world.workspace.absolute(p) for p in pairs[c]] for c in (image, mask)]
        vectors.append(embedder.embed(*read_many(*paths, embedder.input_px)))
    return cosine_distances(*vectors)


def test_the_layer_holds_every_place_of_the_split_with_eval_s_distances(world, mapped):
    table, output = mapped
    layer = gpd.read_file(output, layer="changes")
    assert len(layer) == PLACES - len(TRAIN) and set(layer["split"]) == {"test"}
    assert layer.crs == table.crs and layer.geometry.geom_equals(table.geometry).all()
    assert np.allclose(layer["distance"], _eval_distances(world, "test"), atol=1e-5)
    assert (layer["rank"] >= 1).all() and (layer["rank"] <= len(layer)).all()
    known = FRACTIONS[[i for i in range(PLACES) if i not in TRAIN]]
    assert np.allclose(layer["changed_fraction"], known, equal_nan=True)
    assert (world.run / "vectors" / "2000.npy").exists()  # descriptors kept for the next call


@pytest.mark.parametrize(("kind", "split"), [("hnsw", "test"), ("flat", None)])
def test_through_the_run_s_index_the_map_is_the_exact_one(world, mapped, tmp_path, monkeypatch, kind, split):
    exact = mapped[0] if split else map_changes(world.workspace, world.run, None, tmp_path / "all.gpkg")
    run = indexed_copy(world, f"indexed-{kind}", kind)

    def no_exact_ranks(*args):
        raise AssertionError("the ranks did not go through the index")

    monkeypatch.setattr(change_map, "true_match_ranks", no_exact_ranks)
    indexed = map_changes(world.workspace, run, split, tmp_path / "indexed.gpkg")
    assert indexed["tile_id"].tolist() == exact["tile_id"].tolist()
    assert indexed["rank"].tolist() == exact["rank"].tolist() and indexed["rank"].max() > 1
    assert np.allclose(indexed["distance"], exact["distance"])


def test_the_layer_opens_in_qgis_coloured_by_distance(mapped):
    table, output = mapped
    assert stored_style(output, "changes")["renderer"] == "graduatedSymbol"
    (shown,) = qgis_open(f"{output}|layername=changes")
    assert shown["valid"] and shown["renderer"] == "graduatedSymbol" and shown["attribute"] == "distance"
    limits = [limit for (limit, _, _) in shown["classes"]]
    assert len(limits) == 5 and limits[0][0] == pytest.approx(table["distance"].min())
    assert limits[-1][1] == pytest.approx(table["distance"].max())
    assert shown["classes"][0][2] == "#fcfdbf" and shown["classes"][-1][2] == "#3b0f70"


def test_the_geotiff_has_each_place_s_distance_on_its_tile_and_nodata_elsewhere(world, mapped):
    table, output = mapped
    with rasterio.open(output.with_suffix(".tif")) as src:
        band = src.read(1)
        assert src.count == 1 and src.dtypes[0] == "float32" and src.nodata == NODATA
        assert src.crs == table.crs and src.res == (250.0, 250.0)
        for tile_id, distance in zip(table["tile_id"], table["distance"]):
            col, row = parse_tile_id(tile_id)
            centre = ((col + 0.5) * 250.0, (row + 0.5) * 250.0)  # the factory's grid: origin 0, 0
            assert band[src.index(*centre)] == pytest.approx(distance, abs=1e-6)
        valid = band != NODATA
        assert valid.sum() == len(table)
        for place in TRAIN:  # places of another split: nodata on their tile
            assert not valid[src.index((3720 + place + 0.5) * 250.0, (27440 + 0.5) * 250.0)]


def _evaluated(world):
    if not (world.run / "eval" / "metrics.json").exists():
        with contextlib.redirect_stdout(io.StringIO()):
            evaluate_run(world.workspace, world.run)
    return json.loads((world.run / "eval" / "metrics.json").read_text())


def test_eval_scores_change_detection_for_the_model_and_both_baselines(world):
    detection = _evaluated(world)["change_detection"]
    assert {"model", "pixels_rgb", "pixels_mask", "untrained"} <= set(detection)
    for name, scores in detection.items():
        assert scores["n_places"] == 11 and scores["n_changed"] == 3  # test split, place 3 unknown
        assert 0 <= scores["auroc"] <= 1 and 0 <= scores["precision_at_k"] <= 1
        low, high = scores["auroc_ci"]
        assert low <= scores["auroc"] <= high
        assert ("model_minus_this_ci" in scores) == ("model_vs_this" in scores) == (name != "model")
    for baseline in ("pixels_rgb", "pixels_mask"):  # the rebuilt places are plain to see
        assert detection[baseline]["auroc"] == 1.0 and detection[baseline]["precision_at_k"] == 1.0


def test_the_report_shows_the_detection_table_and_the_change_map(world):
    _evaluated(world)
    out = world.run / "eval"
    report = (out / "report.md").read_text()
    assert "**change detection**" in report and "| pixels: mask | 1.000 |" in report
    assert "](change_map.png)" in report
    assert (out / "change_map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_ground_truth_eval_is_unchanged(world, tmp_path):
    pairs = split_pairs(world.workspace, "test").drop(columns="changed_fraction")
    vectors = {"model": (np.eye(len(pairs), dtype=np.float32),) * 2}
    table, figures = add_change_detection({}, "TABLE", pairs, vectors, {}, "model", tmp_path)
    assert (table, figures) == ("TABLE", {}) and not list(tmp_path.iterdir())
    pairs["changed_fraction"] = np.nan
    assert add_change_detection({}, "TABLE", pairs, vectors, {}, "model", tmp_path) == ("TABLE", {})


def test_the_output_must_be_a_geopackage():
    with pytest.raises(SettingsError, match="use -o changes.gpkg"):
        check_output("changes.shp")


def test_a_year_without_tiles_has_no_descriptors_and_says_so(tmp_path, world):
    ws = make_workspace(tmp_path, places=4)
    tiles = read_geopackage(ws.tiles_index, "tiles")
    write_geopackage(tiles[tiles["year"] == 2000], ws.tiles_index, "tiles")
    with pytest.raises(WorkspaceError, match="has no tile of 2015, so the places have no descriptor of 2015"):
        map_changes(ws, world.run, "test", tmp_path / "changes.gpkg")
    assert not (tmp_path / "changes.gpkg").exists()


def test_places_missing_from_the_tiles_index_are_named(tmp_path, world):
    ws = make_workspace(tmp_path, places=4)
    tiles = read_geopackage(ws.tiles_index, "tiles")
    write_geopackage(tiles.drop(index=tiles.index[-1]), ws.tiles_index, "tiles")
    with pytest.raises(
        WorkspaceError, match=r"1 of 4 places have no descriptor of 2015 \(first: x3723_y27440"
    ):
        map_changes(ws, world.run, None, tmp_path / "changes.gpkg")


def _without_older_labels(root, mask_years=(2000,)):
    """A workspace as 'prepare --labels newer' leaves it: no masks of 2000, empty mask columns
    (with 2015 too: as '--labels none')."""
    ws = make_workspace(root, places=6)
    tiles = read_geopackage(ws.tiles_index, "tiles")
    pairs = read_geopackage(ws.pairs_index, "pairs")
    for year in mask_years:
        shutil.rmtree(ws.masks_dir / str(year))
        tiles.loc[tiles["year"] == year, "mask"] = ""
        pairs["mask_a" if year == 2000 else "mask_b"] = ""
    write_geopackage(tiles, ws.tiles_index, "tiles")
    write_geopackage(pairs, ws.pairs_index, "pairs")
    return ws


def _run_copy(ws, source, name, **train):
    run = ws.run_dir(name)
    shutil.copytree(source, run, ignore=shutil.ignore_patterns("eval*", "vectors", "changes*"))
    settings = load_settings(run / "geosiam.toml")
    settings.train = dataclasses.replace(settings.train, **train)
    save_settings(settings, run / "geosiam.toml")
    return run


def test_newer_labels_map_changes_from_the_older_images_alone(tmp_path, world):
    ws = _without_older_labels(tmp_path / "ws")
    run = _run_copy(ws, world.run, "newer", labels="newer")
    table = map_changes(ws, run, "test", tmp_path / "changes.gpkg")
    embedder = load_embedder(run)
    pairs = split_pairs(ws, "test")
    older_images = read_many([ws.absolute(p) for p in pairs["image_a"]], None, 32)[0]
    newer = embedder.embed(
        *read_many(*[[ws.absolute(p) for p in pairs[c]] for c in ("image_b", "mask_b")], 32)
    )
    alone = cosine_distances(embedder.embed(older_images, None), newer)
    assert np.allclose(table["distance"], alone, atol=1e-5)
    background = embedder.embed(older_images, np.zeros(older_images.shape[:3], np.uint8))
    assert not np.allclose(alone, cosine_distances(background, newer), atol=1e-3)  # no mask is not a mask
    searched = 2000 not in unlabelled_years(RunFolder(run).load_settings())  # as search embeds it
    cached = workspace_descriptors(ws, run, embedder, 2000, searched)
    assert (cached.table["mask"] == "").all()  # the same descriptors, masks never read
    assert np.allclose(cached.vectors[: len(older_images)], embedder.embed(older_images, None), atol=1e-5)


def test_a_run_that_needs_the_missing_masks_says_which_year(tmp_path, world):
    ws = _without_older_labels(tmp_path / "ws")
    run = _run_copy(ws, world.run, "both", labels="both")
    with pytest.raises(
        WorkspaceError, match="embeds 2000 with its masks, but this workspace has no labels for 2000"
    ):
        map_changes(ws, run, "test", tmp_path / "changes.gpkg")


def test_an_image_only_run_maps_changes_without_any_mask(tmp_path, tmp_path_factory):
    ws = _without_older_labels(tmp_path / "ws", mask_years=(2000, 2015))
    run = _run_copy(ws, shared(tmp_path_factory).image_only_run, "image-only")
    table = map_changes(ws, run, None, tmp_path / "changes.gpkg")
    assert len(table) == 6 and (table["distance"] >= 0).all()


def test_a_layer_that_cannot_be_written_leaves_no_raster_without_it(tmp_path, mapped):
    table, _ = mapped
    blocked = tmp_path / "changes.gpkg"
    blocked.mkdir()  # a folder where the layer should go
    with pytest.raises(OSError):
        write_change_map(blocked, table, Grid("EPSG:2154", 0.0, 0.0, 250.0, 32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["changes.gpkg"]
