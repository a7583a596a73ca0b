"""The STAC collection of a workspace: its items, and validation against the schemas offline."""

import json
import math
from datetime import UTC, datetime

import geopandas as gpd
import pytest
import shapely
from pyproj import Transformer

from geosiam.config import Settings
from geosiam.prepare.stac import build_collection, campaign, validate, write_collection

NAMES = {0: "background", 1: "vegetation", 7: "building"}


def tiles_frame():
    rows = []
    for year, mask in ((2000, ""), (2015, "masks/2015/x1_y2.tif")):
        rows.append(
            {
                "tile_id": "x1_y2",
                "year": year,
                "col": 1,
                "row": 2,
                "image": f"tiles/{year}/x1_y2.tif",
                "mask": mask,
                "valid_fraction": 0.9,
                "origin": "ign:BDORTHO",
                "zone": "54",
                "acquisition": "2015-06-12" if year == 2015 else "1999-2001",
                "year_end_mosaic": year == 2000,
            }
        )
    return gpd.GeoDataFrame(
        rows, geometry=[shapely.box(901000, 6852000, 902000, 6853000)] * 2, crs="EPSG:2154"
    )


def settings():
    s = Settings(years=[2000, 2015])
    s.grid.crs, s.grid.origin_x, s.grid.origin_y, s.grid.tile_size_m, s.grid.tile_px = (
        "EPSG:2154",
        0.0,
        0.0,
        1000.0,
        256,
    )
    s.labels.years = {
        "2000": {"source": "", "gap_years": math.nan, "version": "", "reason": "no edition within 3 years"},
        "2015": {"source": "2019-03-15", "gap_years": 3.8, "version": "3"},
    }
    return s


@pytest.fixture
def written(tmp_path):
    collection = build_collection(tiles_frame(), {"x1_y2": "test"}, settings(), NAMES, tmp_path)
    return write_collection(collection, tmp_path / "stac")


def items(collection_path):
    links = json.loads(collection_path.read_text())["links"]
    found = [
        json.loads((collection_path.parent / link["href"]).read_text())
        for link in links
        if link["rel"] == "item"
    ]
    return {item["id"]: item for item in found}


def test_campaign_dates():
    day = datetime(2015, 6, 12, tzinfo=UTC)
    assert campaign("2015-06-12", 2015)[:2] == (day, day)
    assert campaign("1999-2001", 2000)[0] is None
    assert campaign("1999-2001", 2000)[1:] == (
        datetime(1999, 1, 1, tzinfo=UTC),
        datetime(2001, 12, 31, 23, 59, 59, tzinfo=UTC),
    )
    assert campaign("", 2000)[1].year == 2000


def test_one_item_per_place_and_year_with_grid_assets_split_and_labels(written):
    found = items(written)
    assert set(found) == {"x1_y2-2000", "x1_y2-2015"}
    newer, older = found["x1_y2-2015"], found["x1_y2-2000"]
    props = newer["properties"]
    assert props["datetime"] == "2015-06-12T00:00:00Z" and older["properties"]["datetime"] is None
    assert older["properties"]["start_datetime"] == "1999-01-01T00:00:00Z"
    assert props["proj:code"] == "EPSG:2154" and props["proj:bbox"] == [901000, 6852000, 902000, 6853000]
    assert props["proj:shape"] == [256, 256] and props["proj:transform"] == [
        1000 / 256,
        0,
        901000,
        0,
        -1000 / 256,
        6853000,
    ]
    corners = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True).transform(
        [901000, 902000], [6852000, 6853000]
    )
    assert newer["bbox"] == pytest.approx(
        [corners[0][0], corners[1][0], corners[0][1], corners[1][1]], abs=2e-3
    )
    assert shapely.geometry.shape(newer["geometry"]).contains(
        shapely.Point(5.7407, 48.7411)
    )  # the tile centre, near Vittel
    assert props["geosiam:split"] == "test" and props["geosiam:label_source"] == "2019-03-15"
    assert props["geosiam:label_gap_years"] == 3.8 and older["properties"]["geosiam:label_gap_years"] is None
    assert newer["assets"]["mask"]["roles"] == ["labels", "labels-raster"]
    assert newer["assets"]["mask"]["href"] == "../../masks/2015/x1_y2.tif"
    assert newer["assets"]["image"]["roles"] == ["data"]
    assert props["label:type"] == "raster" and props["label:classes"] == [
        {"name": None, "classes": [0, 1, 7]}
    ]
    assert "7 building" in props["label:description"]
    # a year without labels has no mask and no label extension
    assert "mask" not in older["assets"] and not any("label" in e for e in older["stac_extensions"])


def test_the_collection_validates_offline(written):
    assert validate(written) == 3


def test_an_invalid_item_is_named(written):
    path = written.parent / "x1_y2-2015" / "x1_y2-2015.json"
    item = json.loads(path.read_text())
    item["properties"]["proj:shape"] = [256]
    path.write_text(json.dumps(item))
    with pytest.raises(
        ValueError, match=r"x1_y2-2015.json: invalid against .*projection.* at properties/proj:shape"
    ):
        validate(written)


def test_a_schema_not_vendored_is_an_error_not_a_download(written):
    path = written.parent / "x1_y2-2000" / "x1_y2-2000.json"
    item = json.loads(path.read_text())
    item["stac_extensions"].append("https://stac-extensions.github.io/eo/v1.1.0/schema.json")
    path.write_text(json.dumps(item))
    with pytest.raises(ValueError, match="eo/v1.1.0/schema.json is not available offline"):
        validate(written)


def test_rewriting_replaces_the_whole_collection(written, tmp_path):
    tiles = tiles_frame().iloc[:1]
    write_collection(build_collection(tiles, {}, settings(), NAMES, tmp_path), tmp_path / "stac")
    assert set(items(written)) == {"x1_y2-2000"} and not (written.parent / "x1_y2-2015").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["stac"]
