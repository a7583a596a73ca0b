"""The built-in sample area: IGN layout and formats, determinism, idempotence, resume, change."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from geosiam.config import SampleSettings
from geosiam.errors import SettingsError
from geosiam.sources.sample import SampleLayout, generate
from geosiam.sources.sample.delivery import SAMPLE_DEPT, ortho_folders, topo_version

TINY = SampleLayout(dalles=2, dalle_km=1)  # 2 x 2 dalles of 1 km: the same code, a few seconds
YEARS = [1995, 2020]  # a grey campaign with a BD TOPO 2.x edition, a colour one with a v3 edition
DALLE = re.compile(r"^54-(\d{4})-(\d{4})-(\d{4})-LA93-(\dM\d\d)-E080\.jp2$")
LAYERS = {
    "batiment": {"cleabs", "nature", "usage_1", "hauteur"},
    "troncon_de_route": {"cleabs", "nature", "largeur_de_chaussee", "importance", "fictif"},
    "troncon_de_voie_ferree": {"cleabs", "nature"},
    "surface_hydrographique": {"cleabs", "nature"},
    "troncon_hydrographique": {"cleabs", "nature", "largeur"},
    "zone_de_vegetation": {"cleabs", "nature"},
    "terrain_de_sport": {"cleabs", "nature"},
    "cimetiere": {"cleabs", "nature"},
}
BDTOPO_NATURES = {  # BD TOPO v3 values, as in IGN's BD TOPO data dictionary
    "batiment": {
        "Indifférenciée",
        "Industriel, agricole ou commercial",
        "Religieux",
        "Sportif",
        "Château",
        "Serre",
        "Silo",
        "Eglise",
        "Chapelle",
        "Tour, donjon",
    },
    "troncon_de_route": {
        "Type autoroutier",
        "Bretelle",
        "Route à 2 chaussées",
        "Route à 1 chaussée",
        "Rond-point",
        "Route empierrée",
        "Chemin",
        "Sentier",
        "Escalier",
        "Piste cyclable",
    },
    "zone_de_vegetation": {
        "Bois",
        "Forêt fermée de feuillus",
        "Forêt fermée de conifères",
        "Forêt fermée mixte",
        "Forêt ouverte",
        "Haie",
        "Lande ligneuse",
        "Peupleraie",
        "Verger",
        "Vigne",
    },
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("sample")
    return root, generate(root, YEARS, SampleSettings(seed=3), layout=TINY)


def read_rgb(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        return src.read()


def read_layers(gpkg: Path) -> dict:
    import geopandas as gpd
    import pyogrio

    return {name: gpd.read_file(gpkg, layer=name) for name, _ in pyogrio.list_layers(gpkg)}


def test_records_name_the_year_files_provenance_and_editions(tiny):
    root, records = tiny
    assert [r.year for r in records] == YEARS
    for record in records:
        assert record.origin == "sample" and record.zone == SAMPLE_DEPT == "54"
        assert record.acquisition.startswith(f"{record.year}-")
        assert len(record.rasters) == 4
        assert all(p.is_file() and p.is_relative_to(root) for p in record.rasters + record.vectors)
        # the edition is published after the photo, within the default label gap
        gap = (dt.date.fromisoformat(record.label_date) - dt.date.fromisoformat(record.acquisition)).days
        assert 0 < gap < 3 * 365
    old, new = records
    assert (old.label_version, new.label_version) == ("2", "3")  # BD TOPO v3 from 2019, 2.x before
    assert len(new.vectors) == 1 and new.vectors[0].suffix == ".gpkg"
    assert {p.suffix for p in old.vectors} == {".shp"}


def test_ground_truth_records_every_change_with_its_kind_and_year(tiny):
    import geopandas as gpd

    from geosiam.sources.ground_truth import read_changes

    root, records = tiny
    assert {r.ground_truth for r in records} == {root / "changes.gpkg"}
    changes = gpd.read_file(root / "changes.gpkg", layer="changes")
    assert changes.crs.to_epsg() == 2154 and len(changes) > 50
    assert {"house_built", "clear_cut", "regrowth", "fields_merged"} <= set(changes["kind"])
    assert changes["year"].between(1951, 2100).all()
    assert changes.geometry.geom_type.eq("MultiPolygon").all()
    left, bottom, right, top = changes.total_bounds
    xmin, ymin, xmax, ymax = TINY.bounds
    assert left >= xmin and bottom >= ymin and right <= xmax and top <= ymax
    between = changes[changes["year"].between(2001, 2015)]
    assert 0 < between.union_all().area < 0.5 * 4e6  # some of the place changed, not all of it
    assert len(read_changes(records, "EPSG:2154")) == len(changes)


def test_ign_archive_layout_and_dalle_names(tiny):
    root, (old, new) = tiny
    for record, product, token in ((old, "PAN", "5M00"), (new, "RVB", "2M00")):
        year = record.year
        names = sorted(p.name for p in record.rasters)
        assert names == sorted(
            f"54-{year}-{x:04d}-{y:04d}-LA93-{token}-E080.jp2" for x in (916, 917) for y in (6829, 6830)
        )
        folder = record.rasters[0].parent
        assert folder.name == f"BDO_{product}_{token}_JP2-E080_LAMB93_D54-{year}"
        assert folder.parent.name.startswith("1_DONNEES_LIVRAISON_")
        assert folder.parent.parent.name == "BDORTHO"
        delivery = f"BDORTHO_2-0_{product}-{token}_JP2-E080_LAMB93_D054_{year}-01-01"
        assert folder.parent.parent.parent == root / delivery
    gpkg, date = new.vectors[0], new.label_date
    version = topo_version(date)
    assert gpkg.name == f"BDT_{version}_GPKG_LAMB93_D054-ED{date}.gpkg"
    assert gpkg.parent.name == gpkg.stem and gpkg.parent.parent.name.startswith("1_DONNEES_LIVRAISON_")
    assert gpkg.parents[2].name == "BDTOPO"
    assert gpkg.parents[3] == root / f"BDTOPO_{version}_TOUSTHEMES_GPKG_LAMB93_D054_{date}"
    shp = {p.relative_to(p.parents[1]).as_posix() for p in old.vectors}
    assert {
        "E_BATI/BATI_INDIFFERENCIE.shp",
        "A_RESEAU_ROUTIER/ROUTE.shp",
        "F_VEGETATION/ZONE_VEGETATION.shp",
    } <= shp
    product = old.vectors[0].parents[1]
    assert product.name == f"BDT_2-2_SHP_LAMB93_D054-ED{old.label_date[2:4]}{old.label_date[5:7]}"
    assert product.parents[2].name == f"BDTOPO_2-2_TOUSTHEMES_SHP_LAMB93_D054_{old.label_date}"


def test_dalle_index_lists_every_dalle(tiny):
    import geopandas as gpd

    _, records = tiny
    _, supplements = ortho_folders(tiny[0], 2020, TINY)
    index = gpd.read_file(supplements / "dalles.shp")
    assert sorted(index["NOM"]) == sorted(p.name for p in records[1].rasters)
    assert index.crs.to_epsg() == 2154


def test_dalles_are_jpeg2000_in_lambert93_where_their_name_says_old_ones_grey_and_coarser(tiny):
    import rasterio

    _, records = tiny
    for record, bands, resolution in zip(records, (1, 3), (5.0, 2.0)):
        for path in record.rasters:
            year, left_km, top_km, _ = DALLE.match(path.name).groups()
            year, left_km, top_km = int(year), int(left_km), int(top_km)
            assert year == record.year
            with rasterio.open(path) as src:
                assert src.driver == "JP2OpenJPEG"
                assert src.crs.to_epsg() == 2154
                assert (src.count, src.dtypes[0]) == (bands, "uint8")
                assert src.res == (resolution, resolution)
                # X is the left edge and Y the TOP edge, in km
                assert src.bounds == (
                    left_km * 1000,
                    top_km * 1000 - 1000,
                    left_km * 1000 + 1000,
                    top_km * 1000,
                )
                assert src.overviews(1), "resolution levels let reduced reads skip full decoding"
                pixels = src.read()
            # the scene reaches every edge: no empty border, no nodata
            for edge in (pixels[:, 0], pixels[:, -1], pixels[:, :, 0], pixels[:, :, -1]):
                assert edge.std() > 2 and (edge.sum(axis=0) > 0).all()


def test_geopackage_has_bd_topo_layers_attributes_natures_and_3d(tiny):
    _, records = tiny
    xmin, ymin, xmax, ymax = TINY.bounds
    for record in records[1:]:  # the v3 edition
        layers = read_layers(record.vectors[0])
        assert set(LAYERS) <= set(layers)
        for name, columns in LAYERS.items():
            assert columns <= set(layers[name].columns), name
        for name, natures in BDTOPO_NATURES.items():
            assert set(layers[name]["nature"]) <= natures, name
        assert {"Eglise", "Indifférenciée"} <= set(layers["batiment"]["nature"])
        roads = layers["troncon_de_route"]
        assert roads["largeur_de_chaussee"].isna().any() and roads["largeur_de_chaussee"].notna().any()
        assert not roads["fictif"].any()
        for name, frame in layers.items():
            if len(frame):
                assert frame.geometry.has_z.all(), name
                assert frame.crs.to_epsg() == 2154
                assert frame["cleabs"].is_unique, name
        import pyogrio

        declared = {
            name: pyogrio.read_info(record.vectors[0], layer=name)["geometry_type"] for name in LAYERS
        }
        lines = {"troncon_de_route", "troncon_de_voie_ferree", "troncon_hydrographique"}
        assert declared == {n: "LineString Z" if n in lines else "MultiPolygon Z" for n in LAYERS}
        # the vectors cover the imagery's area, and no more
        import pandas as pd

        everything = pd.concat([f.geometry for f in layers.values() if len(f)])
        left, bottom, right, top = everything.total_bounds
        assert left >= xmin - 1e-6 and bottom >= ymin - 1e-6 and right <= xmax + 1e-6 and top <= ymax + 1e-6
        assert left - xmin < 50 and bottom - ymin < 50 and xmax - right < 50 and ymax - top < 50


def test_editions_before_2019_are_bd_topo_2x_shapefiles(tiny):
    import tomllib

    from geosiam.rasterize.classes import builtin_text

    _, (old, _) = tiny
    layers = {p.stem: read_layers(p)[p.stem] for p in old.vectors}
    table = tomllib.loads(builtin_text("2"))
    named = set()
    for cls in table["classes"]:
        for rule in cls["rules"]:
            named |= {rule["layer"]} if isinstance(rule["layer"], str) else set(rule["layer"])
    assert {name.lower() for name in layers} <= named  # every layer is one the 2.x table reads
    for name, frame in layers.items():
        assert name.isupper() and all(c.isupper() for c in frame.columns if c != "geometry"), name
        assert frame["ID"].is_unique and frame.geometry.has_z.all() and frame.crs.to_epsg() == 2154
    assert {"NATURE", "LARGEUR", "POS_SOL"} <= set(layers["ROUTE"].columns)
    assert "Eglise" in set(layers["BATI_REMARQUABLE"]["NATURE"])
    assert set(layers["ZONE_VEGETATION"]["NATURE"]) <= BDTOPO_NATURES["zone_de_vegetation"]


def test_vectors_burn_with_the_built_in_class_table_of_their_edition(tiny):
    from rasterio.transform import from_origin

    from geosiam.rasterize.classes import load_classes
    from geosiam.rasterize.masks import burn
    from geosiam.rasterize.vectors import load_burnables

    _, records = tiny
    xmin, _, _, ymax = TINY.bounds
    for record in records:
        table = load_classes(None, record.label_version)
        shapes = load_burnables(record.vectors, table, "EPSG:2154", TINY.bounds)
        classes = burn(shapes, from_origin(xmin, ymax, 4.0, 4.0), (500, 500))
        seen = set(np.unique(classes))
        assert {0, 1, 2, 5, 7, 8} <= seen, (
            record.year
        )  # background, vegetation, water, road, building, church


def test_same_seed_same_files_other_seed_other_area(tiny, tmp_path):
    root, records = tiny
    again = generate(tmp_path / "again", YEARS, SampleSettings(seed=3), layout=TINY)
    other = generate(tmp_path / "other", [2015], SampleSettings(seed=4), layout=TINY)
    for mine, theirs in zip(records, again):
        assert [p.name for p in mine.rasters] == [p.name for p in theirs.rasters]
        for a, b in zip(mine.rasters, theirs.rasters):
            assert np.array_equal(read_rgb(a), read_rgb(b))
        for a, b in zip(mine.vectors, theirs.vectors, strict=True):
            first, second = read_layers(a), read_layers(b)
            for name in first:
                assert first[name].equals(second[name]), name
        assert (mine.acquisition, mine.label_date) == (theirs.acquisition, theirs.label_date)
    assert not np.array_equal(read_rgb(records[1].rasters[0]), read_rgb(other[0].rasters[0]))


def test_second_call_does_no_work(tiny, monkeypatch):
    root, records = tiny
    files = [p for p in root.rglob("*") if p.is_file()]
    stamps = {p: p.stat().st_mtime_ns for p in files}

    def no_drawing(*args, **kwargs):
        raise AssertionError("a complete sample must not be drawn again")

    monkeypatch.setattr("geosiam.sources.sample.generator.build_world", no_drawing)
    assert generate(root, YEARS, SampleSettings(seed=3), layout=TINY) == records
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    assert sorted(p for p in root.rglob("*") if p.is_file()) == sorted(files)


def test_interrupted_year_is_finished_by_the_next_call(tiny, tmp_path):
    root, records = tiny
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    # as if the 2020 run had died: no marker, a dalle missing, a half-written temporary file left
    (copy / "sample-2020.complete.json").unlink()
    lost = copy / records[1].rasters[2].relative_to(root)
    lost.unlink()
    (lost.parent / f".{lost.name}.dead.tmp.jp2").write_bytes(b"half")
    kept = copy / records[0].rasters[0].relative_to(root)
    kept_stamp = kept.stat().st_mtime_ns
    resumed = generate(copy, YEARS, SampleSettings(seed=3), layout=TINY)
    assert (copy / "sample-2020.complete.json").is_file()
    assert np.array_equal(read_rgb(lost), read_rgb(records[1].rasters[2]))
    assert kept.stat().st_mtime_ns == kept_stamp  # the complete year was left alone
    assert [r.rasters for r in resumed] == [
        tuple(copy / p.relative_to(root) for p in r.rasters) for r in records
    ]


def test_a_marker_for_another_seed_is_not_reused(tiny, tmp_path):
    root, _ = tiny
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    before = read_rgb(sorted((copy).rglob("54-2020-*.jp2"))[0])
    redrawn = generate(copy, [2020], SampleSettings(seed=5), layout=TINY)
    assert not np.array_equal(read_rgb(redrawn[0].rasters[0]), before)


def test_the_two_years_differ_in_imagery_and_vectors(tiny):
    _, (old, new) = tiny
    import rasterio

    with rasterio.open(old.rasters[0]) as src:
        grey = src.read(1, out_shape=(500, 500)).astype(int)  # 5 m to 2 m
    difference = np.abs(grey - read_rgb(new.rasters[0]).mean(axis=0))
    assert difference.mean() > 10  # another campaign: season, crops, light
    old_layers = {p.stem: read_layers(p)[p.stem] for p in old.vectors}
    new_layers = read_layers(new.vectors[0])
    old_ids = {i for name, layer in old_layers.items() if name.startswith("BATI_") for i in layer["ID"]}
    new_ids = set(new_layers["batiment"]["cleabs"])
    assert new_ids - old_ids, "buildings appear between the editions"
    assert len(old_ids & new_ids) > 0.5 * len(old_ids), "most buildings persist (and keep their identifier)"
    assert (
        not old_layers["ZONE_VEGETATION"]
        .geometry.union_all()
        .equals(new_layers["zone_de_vegetation"].geometry.union_all())
    )


def test_any_year_from_1950_to_2100_and_the_grey_year_is_a_setting(tmp_path):
    one = SampleLayout(dalles=1, dalle_km=1)
    oldest, newest = generate(tmp_path / "a", [1950, 2100], SampleSettings(seed=1), layout=one)
    assert read_rgb(oldest.rasters[0]).shape[0] == 1 and read_rgb(newest.rasters[0]).shape[0] == 3
    assert oldest.rasters[0].name == "54-1950-0916-6830-LA93-5M00-E080.jp2"
    colour = read_rgb(newest.rasters[0]).astype(int)
    assert np.abs(colour[0] - colour[1]).mean() > 4
    (all_colour,) = generate(
        tmp_path / "b", [1950], SampleSettings(seed=1, panchromatic_before=1950), layout=one
    )
    assert read_rgb(all_colour.rasters[0]).shape[0] == 3
    (all_grey,) = generate(
        tmp_path / "c", [2050], SampleSettings(seed=1, panchromatic_before=2100), layout=one
    )
    assert read_rgb(all_grey.rasters[0]).shape[0] == 1


@pytest.mark.parametrize("years", [[], [1949], [2101], [2000, 2000], ["2000"], [2000.0], [True]])
def test_bad_years_are_rejected_with_a_fix(tmp_path, years):
    with pytest.raises(SettingsError, match="give"):
        generate(tmp_path, years, layout=TINY)
    assert not any(tmp_path.iterdir())


def shift_between(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """(rows, cols) that ``b`` is shifted from ``a`` by correlation of edges, partly whitened
    (phase correlation made robust to two campaigns' different crops and light), and the peak's
    height over the correlation's spread (confidence)."""
    from scipy import ndimage

    def edges(image):
        gy, gx = np.gradient(ndimage.gaussian_filter(image, 1.0))
        edge = np.hypot(gx, gy)
        return (edge - edge.mean()) * np.outer(np.hanning(len(edge)), np.hanning(edge.shape[1]))

    cross = np.conj(np.fft.fft2(edges(a))) * np.fft.fft2(edges(b))
    corr = np.real(np.fft.ifft2(cross / (np.sqrt(np.abs(cross)) + 1e-9)))
    r, c = np.unravel_index(np.argmax(corr), corr.shape)
    wrap = lambda v, n: int(v - n if v > n / 2 else v)  # noqa: E731
    return wrap(r, corr.shape[0]), wrap(c, corr.shape[1]), float(corr.max() / corr.std())


def test_misregistration_between_campaigns_varies_across_the_area(tiny):
    """Tile by tile, two campaigns a year apart are shifted by different amounts: not one global
    shift, and no more than the two fields' 3 + 3 px of the sample's 3.9 m tiles."""
    import rasterio.merge

    root, _ = tiny
    before, after = generate(root, [2019, 2020], SampleSettings(seed=3), layout=TINY)
    images = []
    for record in (before, after):
        sources = [rasterio.open(p) for p in record.rasters]
        images.append(rasterio.merge.merge(sources)[0].astype(np.float32).mean(axis=0))
        for src in sources:
            src.close()
    size = 200  # 400 m at 2 m/px
    shifts = [
        shift_between(images[0][i : i + size, j : j + size], images[1][i : i + size, j : j + size])
        for i in range(0, 1000, size)
        for j in range(0, 1000, size)
    ]
    sure = np.array([(r, c) for r, c, confidence in shifts if confidence > 12])
    assert len(sure) >= 6, shifts
    most = 2 * 3 * 250 / 64 / 2.0 + 1  # px of 2 m
    assert (np.hypot(*sure.T) <= most).mean() > 0.8, shifts
    # one global shift per campaign leaves these within a pixel or two of their median (measured:
    # 0.5 px); the fields, 4 px
    spread = np.median(np.hypot(*(sure - np.median(sure, axis=0)).T))
    assert spread >= 2, shifts
