"""prepare end to end on local data: the files, their alignment, resume, and bad input."""

import dataclasses
import json
import shutil

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely

from geosiam.errors import SettingsError, SourceError, WorkspaceMismatchError
from geosiam.prepare.pipeline import prepare_workspace, resolve_sources
from geosiam.prepare.settings import resolve_settings
from geosiam.prepare.stac import validate
from geosiam.sources.sample import SAMPLE_GRID
from geosiam.tiling.grid import grid_of
from geosiam.workspace import Workspace
from tests.prepare.test_settings import sample_overrides
from tests.qgis_desktop import stored_style
from tests.synthetic import write_layers, write_raster

X0, Y0 = 930000, 6860000


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Two years of 2 km x 1 km imagery in two dalles each (a border at X0 + 1000) + vectors."""
    root = tmp_path_factory.mktemp("sources")
    for year, seed in ((2000, 1), (2015, 2)):
        for i in range(2):
            x = X0 + 1000 * i
            write_raster(root / f"ortho{year}" / f"{i}.tif", (x, Y0, x + 1000, Y0 + 1000), 2.0, seed=seed)
        write_layers(
            root / f"topo{year}.gpkg",
            {
                "batiment": (
                    [shapely.box(X0 + 100, Y0 + 100, X0 + 300, Y0 + 300)],
                    {"nature": ["Indifférenciée"]},
                ),
                "troncon_de_route": (
                    [shapely.LineString([(X0, Y0 + 500), (X0 + 2000, Y0 + 500)])],
                    {"nature": ["Route à 1 chaussée"], "largeur_de_chaussee": [8.0]},
                ),
            },
        )
    return root


def overrides(sources, **extra):
    return {
        "years": [2000, 2015],
        "sources.ortho": {"2000": str(sources / "ortho2000"), "2015": str(sources / "ortho2015")},
        "sources.topo": {"2000": str(sources / "topo2000.gpkg"), "2015": str(sources / "topo2015.gpkg")},
        "grid.tile_size_m": 250.0,
        "grid.tile_px": 32,
        **extra,
    }


def run(workspace, sources, jobs=1, force=False, **extra):
    settings = resolve_settings(workspace, overrides(sources, **extra)).settings
    return prepare_workspace(workspace, settings, jobs=jobs, force=force)


def test_prepare_writes_aligned_tiles_masks_and_indexes(tmp_path, sources):
    summary = run(tmp_path, sources)
    tiles = gpd.read_file(tmp_path / "tiles.gpkg")
    pairs = gpd.read_file(tmp_path / "pairs.gpkg", layer="pairs")
    assert len(tiles) == 2 * 32 and len(pairs) == 32
    assert summary.pair_count == 32 and summary.tiles == {2000: 32, 2015: 32}
    assert summary.pairs == {s: int((pairs["split"] == s).sum()) for s in ("train", "val", "test")}
    assert summary.workspace == tmp_path and not summary.already_prepared and summary.departements == []
    assert set(pairs["split"]) <= {"train", "val", "test"}
    style = stored_style(tmp_path / "pairs.gpkg", "pairs")
    assert style["attribute"] == "split" and [c[0] for c in style["classes"]] == ["train", "val", "test"]
    # what prepare publishes for other tools: per-year mosaics and a STAC collection that validates
    for year in (2000, 2015):
        with (
            rasterio.open(tmp_path / f"tiles_{year}.vrt") as vrt,
            rasterio.open(tmp_path / f"masks_{year}.vrt") as m,
        ):
            assert vrt.count == 3 and vrt.shape == m.shape == (4 * 32, 8 * 32) and vrt.crs == "EPSG:2154"
            assert m.colormap(1)[7] == (255, 0, 0, 255)  # building, red in the class table
    assert validate(tmp_path / "stac" / "collection.json") == 1 + 2 * 32
    assert (pairs["tile_id_a"] == pairs["tile_id_b"]).all() and (pairs["iou"] == 1).all()
    for row in tiles.itertuples():
        with rasterio.open(tmp_path / row.image) as t, rasterio.open(tmp_path / row.mask) as m:
            assert t.count == 3 and t.dtypes[0] == "uint8" and m.dtypes[0] == "uint8"
            assert t.transform == m.transform and t.shape == m.shape == (32, 32)
            assert t.crs == m.crs == "EPSG:2154"
            assert shapely.box(*t.bounds).equals(row.geometry)
    # the building lies in the first tile; the road crosses the dalle border at y = Y0 + 500
    with rasterio.open(tmp_path / "masks/2000/x3720_y27440.tif") as m:
        assert (m.read(1) == 7).sum() > 0
    assert summary.classes == [0, 5, 7]
    assert pairs["changed_fraction"].isna().all()  # local files carry no ground truth of change


def test_tile_values_come_from_the_right_place_across_dalle_borders(tmp_path, sources):
    run(tmp_path, sources)
    # the source's band 1 is a gradient along x restarting at each dalle: check both sides
    with (
        rasterio.open(tmp_path / "tiles/2000/x3723_y27441.tif") as left,
        rasterio.open(tmp_path / "tiles/2000/x3724_y27441.tif") as right,
        rasterio.open(sources / "ortho2000/0.tif") as src0,
        rasterio.open(sources / "ortho2000/1.tif") as src1,
    ):
        for tile, src in ((left, src0), (right, src1)):
            window = rasterio.windows.from_bounds(*tile.bounds, transform=src.transform)
            assert abs(tile.read(1).mean() - src.read(1, window=window).mean()) < 2


def test_second_run_does_nothing_and_says_so_without_printing(tmp_path, sources, capsys):
    first = run(tmp_path, sources)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    again = run(tmp_path, sources)
    assert again.already_prepared and dataclasses.replace(again, already_prepared=False) == first
    assert capsys.readouterr().out == ""  # the library returns what it did; the command prints it
    assert stamps == {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}


def test_a_workspace_prepared_before_mosaics_and_stac_gets_them_without_preparing_again(tmp_path, sources):
    run(tmp_path, sources)
    shutil.rmtree(tmp_path / "stac")
    (tmp_path / "masks_2000.vrt").unlink()
    assert run(tmp_path, sources).already_prepared
    assert validate(tmp_path / "stac" / "collection.json") == 1 + 2 * 32
    assert (tmp_path / "masks_2000.vrt").exists()


def test_interrupted_prepare_resumes_to_the_same_files(tmp_path, sources, monkeypatch):
    reference = tmp_path / "reference"
    run(reference, sources)
    from geosiam.tiling import cut

    calls = {"n": 0}
    original = cut.write_tile

    def dying_write(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(cut, "write_tile", dying_write)
    target = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run(target, sources)
    assert not (target / "pairs.gpkg").exists()
    assert not list(target.rglob("*.tmp*"))  # no half-written file left behind
    monkeypatch.setattr(cut, "write_tile", original)
    run(target, sources)
    for tif in reference.rglob("*.tif"):
        twin = target / tif.relative_to(reference)
        with rasterio.open(tif) as a, rasterio.open(twin) as b:
            assert np.array_equal(a.read(), b.read())
    assert len(gpd.read_file(target / "pairs.gpkg", layer="pairs")) == len(
        gpd.read_file(reference / "pairs.gpkg", layer="pairs")
    )


def test_parallel_and_serial_runs_agree(tmp_path, sources):
    run(tmp_path / "one", sources, jobs=1)
    run(tmp_path / "two", sources, jobs=2)
    for tif in (tmp_path / "one").rglob("*.tif"):
        with (
            rasterio.open(tif) as a,
            rasterio.open(tmp_path / "two" / tif.relative_to(tmp_path / "one")) as b,
        ):
            assert np.array_equal(a.read(), b.read())


def test_other_settings_are_refused_unless_forced(tmp_path, sources):
    run(tmp_path, sources)
    with pytest.raises(WorkspaceMismatchError, match="--force"):
        run(tmp_path, sources, **{"grid.tile_px": 16})
    assert (tmp_path / "pairs.gpkg").exists()
    run(tmp_path, sources, force=True, **{"grid.tile_px": 16})
    with rasterio.open(next((tmp_path / "tiles" / "2000").glob("*.tif"))) as t:
        assert t.shape == (16, 16)


def test_nodata_tiles_are_dropped(tmp_path):
    src = tmp_path / "src"
    for year in (2000, 2015):
        path = write_raster(src / f"{year}.tif", (X0, Y0, X0 + 1000, Y0 + 1000), 2.0)
        with rasterio.open(path, "r+") as dst:
            dst.nodata = 0
            data = dst.read()
            data[:, :, :200] = 0  # the western 400 m is nodata
            dst.write(data)
    ws = tmp_path / "ws"
    settings = resolve_settings(
        ws,
        {
            "years": [2000, 2015],
            "sources.ortho": {"2000": str(src / "2000.tif"), "2015": str(src / "2015.tif")},
            "grid.tile_size_m": 250.0,
            "grid.tile_px": 32,
        },
    ).settings
    prepare_workspace(ws, settings, jobs=1, force=False)
    tiles = gpd.read_file(ws / "tiles.gpkg")
    assert len(tiles) == 2 * 8  # the 250 m column is all nodata, the 250-500 one 60 % nodata
    assert (tiles["valid_fraction"] >= 0.9).all()


def test_unreadable_raster_is_reported_and_the_rest_prepared(tmp_path, sources):
    broken = tmp_path / "ortho2015"
    broken.mkdir()
    for tif in (sources / "ortho2015").glob("*.tif"):
        (broken / tif.name).write_bytes(tif.read_bytes())
    (broken / "corrupt.tif").write_bytes(b"II*\x00 this is not a tiff")
    ws = tmp_path / "ws"
    with pytest.raises(SourceError, match="corrupt.tif.*replace or remove"):
        run(ws, sources, **{"sources.ortho": {"2000": str(sources / "ortho2000"), "2015": str(broken)}})
    assert len(gpd.read_file(ws / "pairs.gpkg", layer="pairs")) == 32


def test_a_truncated_raster_is_named_the_rest_prepared_and_its_chunk_made_once_replaced(tmp_path, sources):
    """A raster that opens but fails to decode, read in the worker pool: no traceback out of it."""
    ortho = tmp_path / "ortho2015"
    shutil.copytree(sources / "ortho2015", ortho)
    whole = (ortho / "1.tif").read_bytes()
    (ortho / "1.tif").write_bytes(whole[: len(whole) // 2])
    with rasterio.open(ortho / "1.tif") as src:
        assert src.shape == (500, 500)  # it opens
    ws, years = tmp_path / "ws", {"sources.ortho": {"2000": str(sources / "ortho2000"), "2015": str(ortho)}}
    named = r"1 raster\(s\) could not be read.*ortho2015/1\.tif: .*TIFFReadEncodedTile.*everything else"
    with pytest.raises(SourceError, match=named):
        run(ws, sources, jobs=2, **years)
    assert 0 < len(gpd.read_file(ws / "pairs.gpkg", layer="pairs")) < 32
    (ortho / "1.tif").write_bytes(whole)
    run(ws, sources, jobs=2, **years)
    assert len(gpd.read_file(ws / "pairs.gpkg", layer="pairs")) == 32


def test_vectors_elsewhere_are_an_error(tmp_path, sources):
    far = write_layers(
        tmp_path / "far.gpkg",
        {"batiment": ([shapely.box(100000, 100000, 100100, 100100)], {"nature": ["Indifférenciée"]})},
    )
    with pytest.raises(SourceError, match="do not overlap the rasters"):
        run(tmp_path / "ws", sources, **{"sources.topo": {"2000": str(far), "2015": str(far)}})
    run(tmp_path / "ws", sources)  # the corrected command: the failed one bound nothing
    assert len(gpd.read_file(tmp_path / "ws" / "pairs.gpkg", layer="pairs")) == 32


def test_a_year_without_data_is_told_before_the_workspace_is_refused(tmp_path, sources):
    run(tmp_path, sources)
    with pytest.raises(SourceError, match=r"no imagery for year\(s\) \[1990\]"):
        run(tmp_path, sources, years=[1990, 2015])
    with pytest.raises(WorkspaceMismatchError, match=r"other settings \(grid\)"):
        run(tmp_path, sources, **{"grid.tile_px": 16})
    assert Workspace(tmp_path).load_settings().grid.tile_px == 32  # bound to what was prepared


def test_years_that_do_not_overlap_and_empty_area(tmp_path, sources):
    other = write_raster(tmp_path / "o.tif", (100000, 100000, 101000, 101000), 2.0)
    with pytest.raises(SourceError, match="does not overlap"):
        run(
            tmp_path / "a",
            sources,
            **{"sources.ortho": {"2000": str(sources / "ortho2000"), "2015": str(other)}, "sources.topo": {}},
        )
    with pytest.raises(SourceError, match="area is empty"):
        run(tmp_path / "b", sources, **{"area.bbox": [0.0, 0.0, 10.0, 10.0]})


def test_bad_option_combinations(tmp_path, sources):
    with pytest.raises(SettingsError, match="--sample cannot"):
        resolve_settings(tmp_path, overrides(sources, **{"area.sample": True}))
    with pytest.raises(SourceError, match="--ortho 2015"):
        run(tmp_path, sources, **{"sources.ortho": {"2000": str(sources / "ortho2000")}})


def test_sixteen_bit_jp2_in_utm_with_osm_polygons_and_custom_classes(tmp_path):
    """A third-party-like raster and vectors; masks agree with an independent rasterisation."""
    from rasterio.features import rasterize

    utm = "EPSG:32631"
    x0, y0 = 500000, 5400000
    src = tmp_path / "src"
    for year in (2000, 2015):
        write_raster(
            src / f"{year}.jp2",
            (x0, y0, x0 + 1000, y0 + 1000),
            1.0,
            crs=utm,
            dtype="uint16",
            driver="JP2OpenJPEG",
            seed=year,
        )
    polygons = [
        shapely.box(x0 + 100, y0 + 100, x0 + 400, y0 + 350),
        shapely.Point(x0 + 700, y0 + 600).buffer(120),
    ]
    frame = gpd.GeoDataFrame(
        {"building": ["yes", None], "landuse": [None, "forest"]}, geometry=polygons, crs=utm
    )
    osm = src / "osm.geojson"
    frame.to_crs("EPSG:4326").to_file(osm)
    classes = tmp_path / "osm.toml"
    classes.write_text(
        '[[classes]]\nid = 1\nname = "forest"\ncolour = "#00AA00"\npriority = 1\n'
        '[[classes.rules]]\nlayer = "*"\nwhere = { landuse = ["forest"] }\n\n'
        '[[classes]]\nid = 2\nname = "building"\ncolour = "#FF0000"\npriority = 2\n'
        '[[classes.rules]]\nlayer = "*"\nwhere = { building = ["yes"] }\n'
    )
    ws = tmp_path / "ws"
    settings = resolve_settings(
        ws,
        {
            "years": [2000, 2015],
            "sources.ortho": {"2000": str(src / "2000.jp2"), "2015": str(src / "2015.jp2")},
            "sources.topo": {"2000": str(osm), "2015": str(osm)},
            "prepare.classes": str(classes),
            "grid.tile_size_m": 250.0,
            "grid.tile_px": 64,
        },
    ).settings
    assert settings.grid.crs == utm  # the grid CRS defaults to the rasters'
    prepare_workspace(ws, settings, jobs=1, force=False)
    tiles = gpd.read_file(ws / "tiles.gpkg")
    assert len(tiles) == 32
    # one file for both years: the older year does not share it (identical masks), the newer has it
    older = tiles[tiles["year"] == 2000]
    assert (older["mask"].fillna("") == "").all() and not (ws / "masks" / "2000").exists()
    assert set(tiles.loc[tiles["year"] == 2015, "label_source"]) == {str(osm)}
    reference_shapes = gpd.read_file(osm).to_crs(utm)
    agree = total = 0
    for row in tiles[tiles["year"] == 2015].itertuples():
        with rasterio.open(ws / row.image) as t, rasterio.open(ws / row.mask) as m:
            assert t.dtypes[0] == "uint8" and t.read().std() > 10  # 16-bit rescaled, not saturated
            ours = m.read(1)
            values = [
                (g, 1 if lu == "forest" else 2)
                for g, lu in zip(reference_shapes.geometry, reference_shapes["landuse"])
            ]
            theirs = rasterize(values, out_shape=ours.shape, transform=m.transform, dtype="uint8")
            agree += (ours == theirs).sum()
            total += ours.size
    assert agree / total > 0.995


def test_chunks_run_on_a_dask_cluster(tmp_path, sources):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        settings = resolve_settings(tmp_path / "dask", overrides(sources)).settings
        prepare_workspace(
            tmp_path / "dask", settings, jobs=1, force=False, dask_scheduler=cluster.scheduler_address
        )
    run(tmp_path / "local", sources)
    for tif in (tmp_path / "local").rglob("*.tif"):
        with (
            rasterio.open(tif) as a,
            rasterio.open(tmp_path / "dask" / tif.relative_to(tmp_path / "local")) as b,
        ):
            assert np.array_equal(a.read(), b.read())


def test_band_order_and_single_band_rasters(tmp_path):
    src = tmp_path / "src"
    for year in (2000, 2015):
        write_raster(src / f"{year}.tif", (X0, Y0, X0 + 500, Y0 + 500), 2.0, seed=year)
    grey = src / "grey.tif"
    with rasterio.open(src / "2000.tif") as rgb:
        profile = rgb.profile | {"count": 1}
        with rasterio.open(grey, "w", **profile) as dst:
            dst.write(rgb.read(1), 1)
    base = {"years": [2000, 2015], "grid.tile_size_m": 250.0, "grid.tile_px": 32}
    swapped = resolve_settings(
        tmp_path / "a",
        base
        | {
            "sources.ortho": {"2000": str(src / "2000.tif"), "2015": str(src / "2015.tif")},
            "prepare.bands": [2, 1, 3],
        },
    ).settings
    prepare_workspace(tmp_path / "a", swapped, jobs=1, force=False)
    mono = resolve_settings(
        tmp_path / "b", base | {"sources.ortho": {"2000": str(grey), "2015": str(grey)}}
    ).settings
    prepare_workspace(tmp_path / "b", mono, jobs=1, force=False)
    with (
        rasterio.open(tmp_path / "a/tiles/2000/x3720_y27440.tif") as a,
        rasterio.open(tmp_path / "b/tiles/2000/x3720_y27440.tif") as b,
    ):
        swapped_rgb, grey_rgb = a.read(), b.read()
    assert np.array_equal(grey_rgb[0], grey_rgb[1]) and np.array_equal(grey_rgb[0], grey_rgb[2])
    assert np.array_equal(swapped_rgb[1], grey_rgb[0])  # band 1 read as green
    too_many = resolve_settings(
        tmp_path / "c",
        base
        | {
            "sources.ortho": {"2000": str(src / "2000.tif"), "2015": str(src / "2015.tif")},
            "prepare.bands": [4, 3, 2],
        },
    ).settings
    with pytest.raises(SourceError, match="has 3 bands.*--bands"):
        prepare_workspace(tmp_path / "c", too_many, jobs=1, force=False)


def test_a_workspace_of_an_earlier_sample_is_refused_unless_forced(tmp_path):
    from geosiam.config import save_settings
    from geosiam.rasterize.classes import load_classes
    from geosiam.workspace import bind, check_claim

    settings = resolve_settings(tmp_path, {"years": [2000, 2015], "area.sample": True}).settings
    table = load_classes(settings.prepare.classes)
    earlier = dataclasses.replace(settings.grid, origin_y=SAMPLE_GRID["origin_y"] + 2000.0)  # 6 x 6 km
    save_settings(dataclasses.replace(settings, grid=earlier), tmp_path / "geosiam.toml")
    (tmp_path / "classes.toml").write_text(table.text, encoding="utf-8")

    again = resolve_settings(tmp_path, {"years": [2000, 2015]}).settings
    assert (again.grid.origin_x, again.grid.origin_y) == (SAMPLE_GRID["origin_x"], SAMPLE_GRID["origin_y"])
    with pytest.raises(WorkspaceMismatchError, match=r"other settings \(grid\).*--force"):
        check_claim(Workspace(tmp_path), again, table.text, force=False)
    check_claim(Workspace(tmp_path), again, table.text, force=True)
    bind(Workspace(tmp_path), again, table.text)
    assert Workspace(tmp_path).load_settings().grid.origin_y == SAMPLE_GRID["origin_y"]


def test_local_labels_each_file_its_years_and_a_bd_topo_2_folder_read_with_its_table(tmp_path, sources):
    from geosiam.config import load_settings
    from tests.synthetic import write_bdtopo2

    topo2 = tmp_path / "BDT_2-2_SHP_LAMB93_D054-ED151"
    write_bdtopo2(
        topo2,
        {
            "bati_indifferencie": ([shapely.box(X0 + 100, Y0 + 100, X0 + 300, Y0 + 300)], {"hauteur": [6]}),
            "route": (
                [shapely.LineString([(X0, Y0 + 500), (X0 + 2000, Y0 + 500)])],
                {"nature": ["Route à 1 chaussée"], "largeur": [8.0]},
            ),
        },
    )
    topo = {"2000": str(topo2), "2015": str(sources / "topo2015.gpkg")}
    summary = run(tmp_path / "ws", sources, **{"sources.topo": topo})
    said = [labels.describe() for labels in summary.labels]
    assert said[0] == f"2000: labels from BD TOPO 2.x edition {topo2}, +0.0 years from the image"
    assert said[1].startswith("2015: labels from BD TOPO 3.x edition") and summary.label_mode == "both"
    for year in (2000, 2015):  # the same class ids from either data model
        with rasterio.open(tmp_path / f"ws/masks/{year}/x3720_y27440.tif") as m:
            assert (m.read(1) == 7).sum() > 0
    labels = load_settings(tmp_path / "ws" / "geosiam.toml").labels
    assert labels.resolved == "both" and labels.years["2000"]["version"] == "2"
    assert labels.years["2015"]["version"] == "3" and labels.years["2015"]["gap_years"] == 0.0
    # a year without --topo has no labels, and its masks of an earlier run go
    summary = run(tmp_path / "ws", sources, **{"sources.topo": {"2015": topo["2015"]}}, force=True)
    assert summary.labels[0].describe() == "2000: no labels (no vectors for this year)"
    assert not (tmp_path / "ws" / "masks" / "2000").exists()


def test_changing_the_label_mode_remakes_only_what_it_changes(tmp_path, sources):
    run(tmp_path, sources)
    assert (tmp_path / "masks" / "2000").exists()
    summary = run(tmp_path, sources, **{"labels.mode": "newer"})
    assert (
        summary.labels[0].describe() == "2000: no labels (--labels newer keeps the newer year's labels only)"
    )
    assert (summary.label_mode, summary.asked_label_mode) == ("newer", "newer")
    assert not (tmp_path / "masks" / "2000").exists() and (tmp_path / "masks" / "2015").exists()
    tiles = gpd.read_file(tmp_path / "tiles.gpkg")
    assert (tiles.loc[tiles["year"] == 2000, "mask"].fillna("") == "").all()
    # the unlabelled year keeps its image mosaic, loses its mask mosaic, and its STAC items their mask
    assert (tmp_path / "tiles_2000.vrt").exists() and not (tmp_path / "masks_2000.vrt").exists()
    item = json.loads(next((tmp_path / "stac").glob("*-2000/*.json")).read_text())
    assert "mask" not in item["assets"] and "label:type" not in item["properties"]
    assert validate(tmp_path / "stac" / "collection.json") == 1 + 2 * 32
    summary = run(tmp_path, sources, **{"labels.mode": "none"})
    assert not (tmp_path / "masks").exists() or not any((tmp_path / "masks").iterdir())
    assert summary.classes == [] and summary.pair_count == 32
    with pytest.raises(SettingsError, match="unknown --labels 'sometimes'"):
        run(tmp_path, sources, **{"labels.mode": "sometimes"})


def test_the_split_seed_does_not_redraw_the_sample_world(tmp_path, monkeypatch):
    from geosiam.sources import sample

    drawn = []
    monkeypatch.setattr(sample, "generate", lambda root, years, settings: drawn.append(settings) or [])
    for split_seed in (0, 7):
        settings = resolve_settings(
            tmp_path, sample_overrides(**{"split.seed": split_seed, "sample.km": 2})
        ).settings
        with pytest.raises(SourceError):  # nothing generated: no sources
            resolve_sources(settings, Workspace(tmp_path), grid_of(settings))
    assert [(s.seed, s.km) for s in drawn] == [(0, 2), (0, 2)]


def test_a_small_sample_prepares_with_ground_truth_grey_old_year_and_2x_edition(tmp_path):
    settings = resolve_settings(tmp_path, sample_overrides(**{"sample.km": 2})).settings
    summary = prepare_workspace(tmp_path, settings, jobs=1, force=False)
    assert min(summary.pairs.values()) > 0  # a 2 km sample still has every split
    pairs = gpd.read_file(tmp_path / "pairs.gpkg", layer="pairs")
    assert len(pairs) == 49  # 7 x 7 whole tiles of 250 m
    fraction = pairs["changed_fraction"]
    assert fraction.notna().all() and fraction.between(0, 1).all() and (fraction > 0).any()
    assert (tmp_path / "cache" / "sample" / "changes.gpkg").is_file()
    stored = Workspace(tmp_path).load_settings()
    assert stored.sample.km == 2
    assert (stored.labels.years["1995"]["version"], stored.labels.years["2020"]["version"]) == ("2", "3")
    for year in ("1995", "2020"):  # each edition burnt with its data model's table: buildings, roads
        seen = set()
        for path in (tmp_path / "masks" / year).glob("*.tif"):
            with rasterio.open(path) as mask:
                seen |= set(np.unique(mask.read(1)))
        assert {5, 7} <= seen, year
    assert list((tmp_path / "cache" / "sample").glob("BDTOPO_2-2_*_SHP_*/**/ROUTE.shp"))  # 1995: BD TOPO 2.x
    with (
        rasterio.open(tmp_path / pairs["image_a"][0]) as old,
        rasterio.open(tmp_path / pairs["image_b"][0]) as new,
    ):
        grey, colour = old.read(), new.read()
    assert np.array_equal(grey[0], grey[1]) and np.array_equal(grey[0], grey[2])  # one band read as grey
    assert not np.array_equal(colour[0], colour[1])
