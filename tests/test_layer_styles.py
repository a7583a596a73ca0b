import sqlite3
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from geosiam.layer_styles import (
    Categorized,
    Category,
    Graduated,
    Single,
    Symbol,
    class_breaks,
    ramp_colour,
    style_qml,
    write_style,
)
from tests.qgis_desktop import qgis_open

SPLITS = Categorized(
    "split",
    (Category("train", "#1f78b4"), Category("val", "#ff7f00"), Category("test", "#e31a1c", "test split")),
    opacity=0.6,
)
RAMP = ("#ffffcc", "#fd8d3c", "#800026")


@pytest.fixture
def gpkg(tmp_path):
    path = tmp_path / "layers.gpkg"
    frame = gpd.GeoDataFrame(
        {"split": ["train", "val", "test", "train"], "change": [0.0, 0.25, 1.0, np.nan]},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(4)],
        crs="EPSG:2154",
    )
    frame.to_file(path, layer="pairs", driver="GPKG")
    frame.set_geometry(frame.centroid).to_file(path, layer="points", driver="GPKG")
    return path


def rows(path):
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        found = [dict(r) for r in db.execute("SELECT * FROM layer_styles ORDER BY id")]
    return found


def test_the_table_has_qgis_schema_and_is_registered_as_attributes(gpkg):
    write_style(gpkg, "pairs", SPLITS)
    with sqlite3.connect(gpkg) as db:
        columns = [r[1] for r in db.execute("PRAGMA table_info(layer_styles)")]
        contents = db.execute(
            "SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'"
        ).fetchall()
    assert columns == [
        "id", "f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName",
        "styleQML", "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time",
    ]  # fmt: skip
    assert contents == [("attributes",)]
    # GDAL reads it as an attributes layer, and the styled layer is unchanged
    table = pyogrio.read_dataframe(gpkg, layer="layer_styles")
    assert table[["f_table_name", "f_geometry_column", "styleName"]].values.tolist() == [
        ["pairs", "geom", "geosiam"]
    ]
    assert bool(table["useAsDefault"][0]) and table["f_table_schema"][0] == ""
    assert len(pyogrio.read_dataframe(gpkg, layer="pairs")) == 4


def test_categorized_qml_names_every_value_with_its_colour(gpkg):
    write_style(gpkg, "pairs", SPLITS)
    root = ET.fromstring(rows(gpkg)[0]["styleQML"].split("\n", 1)[1])
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "split"
    categories = [(c.get("value"), c.get("label"), c.get("symbol")) for c in renderer.iter("category")]
    assert categories == [("train", "train", "0"), ("val", "val", "1"), ("test", "test split", "2")]
    colours = {
        s.get("name"): s.find("layer/Option/Option[@name='color']").get("value")
        for s in renderer.iter("symbol")
    }
    assert colours == {"0": "31,120,180,255", "1": "255,127,0,255", "2": "227,26,28,255"}
    assert {s.get("type") for s in renderer.iter("symbol")} == {"fill"}


def test_rewriting_a_style_replaces_it_and_one_default_remains(gpkg):
    write_style(gpkg, "pairs", SPLITS)
    write_style(gpkg, "pairs", Single(Symbol("#00ff00")))
    write_style(gpkg, "pairs", Single(Symbol("#0000ff")), name="blue")
    found = rows(gpkg)
    assert [(r["styleName"], r["useAsDefault"]) for r in found] == [("geosiam", 0), ("blue", 1)]
    assert "singleSymbol" in found[0]["styleQML"]


def test_graduated_breaks_come_from_the_layer_values_skipping_missing(gpkg):
    write_style(gpkg, "pairs", Graduated("change", RAMP, classes=4))
    renderer = ET.fromstring(rows(gpkg)[0]["styleQML"].split("\n", 1)[1]).find("renderer-v2")
    limits = [(float(r.get("lower")), float(r.get("upper"))) for r in renderer.iter("range")]
    assert limits == [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)]
    first, last = (s.find("layer/prop[@k='color']").get("v") for s in list(renderer.iter("symbol"))[::3])
    assert (first, last) == ("255,255,204,255", "128,0,38,255")
    assert renderer.find("colorramp/prop[@k='stops']").get("v") == "0.5;253,141,60,255"


def test_class_breaks_and_ramp():
    assert class_breaks([0, 1, 2, 3, 10], 2, "quantile") == (0, 2, 10)
    assert class_breaks([0, 10], 5) == (0, 2, 4, 6, 8, 10)
    assert class_breaks([3, 3], 5) == (3, 3)
    assert class_breaks([], 5) == (0.0, 0.0)
    assert ramp_colour(("#000000", "#ffffff"), 0.5) == "#808080"
    assert ramp_colour(RAMP, 1.0) == "#800026"
    with pytest.raises(ValueError, match="mode"):
        class_breaks([1.0], 3, "jenks")


def test_symbols_follow_the_geometry_type(gpkg):
    write_style(gpkg, "points", SPLITS)
    assert 'type="marker"' in rows(gpkg)[0]["styleQML"] and "SimpleMarker" in rows(gpkg)[0]["styleQML"]
    assert "SimpleLine" in style_qml(Single(Symbol("#123456")), "line")


def test_a_missing_layer_is_refused_and_nothing_written(gpkg):
    with pytest.raises(ValueError, match="no feature layer 'nope'"):
        write_style(gpkg, "nope", SPLITS)
    with sqlite3.connect(gpkg) as db:
        assert not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'layer_styles'").fetchall()


def test_qgis_applies_the_styles_on_open(gpkg):
    write_style(gpkg, "pairs", SPLITS)
    write_style(gpkg, "points", Graduated("change", RAMP, classes=2))
    pairs, points = qgis_open(f"{gpkg}|layername=pairs", f"{gpkg}|layername=points")
    assert pairs["renderer"] == "categorizedSymbol" and pairs["attribute"] == "split"
    assert pairs["classes"] == [
        ["train", "train", "#1f78b4"],
        ["val", "val", "#ff7f00"],
        ["test", "test split", "#e31a1c"],
    ]
    assert points["renderer"] == "graduatedSymbol"
    assert points["classes"] == [[[0.0, 0.5], "0 - 0.5", "#ffffcc"], [[0.5, 1.0], "0.5 - 1", "#800026"]]
